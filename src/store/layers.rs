//! The layer catalog (layers, their metadata and kept versions), written once for both
//! backends. Versions themselves (publish, rollback, delete) are in each backend.

use async_trait::async_trait;

use super::changes::{self, ChangeKind};
use super::sql::{Exec, RowExt, Stmt};
use super::{from_json, ChangeStore, LayerMetaUpdate, LayerStore, Result, StoreError};
use crate::model::{GeomType, Layer, OpenMeta, SourceInfo};
use crate::opendata::vocab;

fn select(e: &impl Exec) -> String {
    let d = e.dialect();
    format!(
        "SELECT l.id, l.org_id, l.slug, l.title, l.description, l.theme, l.licence, \
         l.attribution, l.attribution_url, l.visibility, l.current_version, l.change_seq, \
         l.data_seq, l.base_seq, {} AS updated_at, {} AS data_updated_at, {} AS metadata, \
         v.geom_type, v.feature_count, {} AS extent, {} AS fields, {} AS source \
         FROM atlante_layers l JOIN atlante_layer_versions v \
         ON v.layer_id = l.id AND v.version = l.current_version",
        d.ts("l.updated_at"),
        d.ts("coalesce(l.data_updated_at, l.updated_at)"),
        d.json_col("l.metadata"),
        d.json_col("v.extent"),
        d.json_col("v.fields"),
        d.json_col("v.source")
    )
}

fn from_row(r: &impl RowExt) -> Result<Layer> {
    let geom = r.text("geom_type")?;
    Ok(Layer {
        id: r.text("id")?,
        org: r.text("org_id")?,
        slug: r.text("slug")?,
        title: r.text("title")?,
        description: r.text("description")?,
        theme: r.text("theme")?,
        licence: r.text("licence")?,
        attribution: r.text("attribution")?,
        attribution_url: r.text("attribution_url")?,
        visibility: r.text("visibility")?,
        version: r.int("current_version")?,
        change_seq: r.int("change_seq")?,
        data_seq: r.int("data_seq")?,
        base_seq: r.int("base_seq")?,
        geom_type: GeomType::parse(&geom).ok_or_else(|| StoreError::Corrupt(geom.clone()))?,
        feature_count: r.int("feature_count")?,
        extent: r
            .opt_text("extent")?
            .map(|e| from_json("extent", &e))
            .transpose()?,
        fields: from_json("fields", &r.text("fields")?)?,
        source: from_json::<SourceInfo>("source", &r.text("source")?)?,
        updated_at: r.text("updated_at")?,
        data_updated_at: r.text("data_updated_at")?,
        meta: from_json("metadata", &r.text("metadata")?)?,
    })
}

#[async_trait]
impl<T: Exec + ChangeStore> LayerStore for T {
    async fn layers(&self) -> Result<Vec<Layer>> {
        let s = Stmt::new(format!(
            "{} WHERE l.deleted_at IS NULL ORDER BY l.id",
            select(self)
        ));
        self.fetch_all(s).await?.iter().map(from_row).collect()
    }

    async fn layer(&self, id: &str) -> Result<Option<Layer>> {
        let s = Stmt::new(self.dialect().sql(&format!(
            "{} WHERE l.id = $1 AND l.deleted_at IS NULL",
            select(self)
        )))
        .arg(id);
        self.fetch_optional(s)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    async fn update_layer_meta(&self, id: &str, u: &LayerMetaUpdate) -> Result<Layer> {
        validate_meta(u)?;
        let layer = self
            .layer(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let d = self.dialect();
        let meta = serde_json::to_string(&merged(&layer.meta, u)).unwrap_or_default();
        let licence = u
            .licence
            .as_deref()
            .map(|l| vocab::licence(l).map_or("", |t| t.code).to_string());
        let mut stmts = vec![Stmt::new(d.sql(&format!(
            "UPDATE atlante_layers SET title = coalesce($1, title), \
             description = coalesce($2, description), theme = coalesce($3, theme), \
             licence = coalesce($4, licence), attribution = coalesce($5, attribution), \
             attribution_url = coalesce($6, attribution_url), \
             visibility = coalesce($7, visibility), metadata = {} WHERE id = $9",
            d.json_arg(8)
        )))
        .arg(u.title.clone())
        .arg(u.description.clone())
        .arg(u.theme.clone())
        .arg(licence)
        .arg(u.attribution.clone())
        .arg(u.attribution_url.clone())
        .arg(u.visibility.clone())
        .arg(meta)
        .arg(id)];
        stmts.extend(changes::log(d, id, ChangeKind::Meta, layer.version, &[]));
        self.exec_all(stmts).await?;
        changes::announce(self, id, ChangeKind::Meta, layer.version, Vec::new()).await;
        self.layer(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    async fn versions(&self, id: &str) -> Result<Vec<i64>> {
        let s = Stmt::new(self.dialect().sql(
            "SELECT version FROM atlante_layer_versions WHERE layer_id = $1 ORDER BY version DESC",
        ))
        .arg(id);
        self.fetch_all(s)
            .await?
            .iter()
            .map(|r| r.int("version"))
            .collect()
    }

    async fn deleted_layers(&self) -> Result<Vec<(Layer, String)>> {
        let d = self.dialect();
        let s = Stmt::new(format!(
            "SELECT x.*, {} AS deleted_at_text FROM ({}) x \
             JOIN atlante_layers l2 ON l2.id = x.id WHERE l2.deleted_at IS NOT NULL ORDER BY x.id",
            d.ts("l2.deleted_at"),
            select(self)
        ));
        self.fetch_all(s)
            .await?
            .iter()
            .map(|r| Ok((from_row(r)?, r.text("deleted_at_text")?)))
            .collect()
    }

    async fn edits_since_publish(&self, id: &str) -> Result<i64> {
        let d = self.dialect();
        let s = Stmt::new(d.sql(&format!(
            "SELECT {} AS detail FROM atlante_changes WHERE layer_id = $1 AND kind = 'edited' \
             AND seq > (SELECT coalesce(max(seq), 0) FROM atlante_changes \
             WHERE layer_id = $1 AND kind IN ('published', 'rolledback'))",
            d.json_col("detail")
        )))
        .arg(id);
        let mut n = 0;
        for r in self.fetch_all(s).await? {
            let v: serde_json::Value = from_json("change detail", &r.text("detail")?)?;
            n += v["features"].as_array().map_or(1, |f| f.len().max(1)) as i64;
        }
        Ok(n)
    }
}

/// The open-data description after an update.
fn merged(meta: &OpenMeta, u: &LayerMetaUpdate) -> OpenMeta {
    let set = |v: &Option<String>, old: &String| v.clone().unwrap_or_else(|| old.clone());
    let codes = |v: &Option<Vec<String>>,
                 old: &Vec<String>,
                 find: fn(&str) -> Option<&'static vocab::Term>| {
        v.as_ref().map_or_else(
            || old.clone(),
            |list| {
                let mut out: Vec<String> = list
                    .iter()
                    .filter_map(|c| find(c.trim()).map(|t| t.code.to_string()))
                    .collect();
                out.dedup();
                out
            },
        )
    };
    OpenMeta {
        title_en: set(&u.title_en, &meta.title_en),
        description_en: set(&u.description_en, &meta.description_en),
        keywords: u.keywords.as_ref().map_or_else(
            || meta.keywords.clone(),
            |k| {
                k.iter()
                    .map(|w| w.trim().to_string())
                    .filter(|w| !w.is_empty())
                    .collect()
            },
        ),
        eu_themes: codes(&u.eu_themes, &meta.eu_themes, vocab::theme_term),
        frequency: u.frequency.as_deref().map_or_else(
            || meta.frequency.clone(),
            |f| vocab::frequency(f).map_or("", |t| t.code).to_string(),
        ),
        contact_email: set(&u.contact_email, &meta.contact_email),
        temporal_start: set(&u.temporal_start, &meta.temporal_start),
        temporal_end: set(&u.temporal_end, &meta.temporal_end),
        lineage: set(&u.lineage, &meta.lineage),
        scale: u.scale.unwrap_or(meta.scale),
    }
}

/// Checks an e-mail address (the shape, not that it is delivered).
pub(crate) fn validate_email(e: &str) -> Result<()> {
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty()
                && host.contains('.')
                && !host.starts_with('.')
                && !host.ends_with('.')
                && e.chars()
                    .all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:\"".contains(c) || c == '@')
                && e.matches('@').count() == 1
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "'{e}' is not an e-mail address"
        )))
    }
}

/// Checks the open-data fields of an update against their vocabularies and forms.
fn validate_open(u: &LayerMetaUpdate) -> Result<()> {
    let bad = |m: String| Err(StoreError::Invalid(m));
    if let Some(l) = u.licence.as_deref().filter(|l| !l.is_empty()) {
        if vocab::licence(l).is_none() {
            return bad(format!(
                "unknown licence '{l}': use one of {}",
                vocab::codes(vocab::LICENCES)
            ));
        }
    }
    for t in u.eu_themes.iter().flatten() {
        if vocab::theme_term(t.trim()).is_none() {
            return bad(format!(
                "unknown EU data theme '{t}': use one of {}",
                vocab::codes(vocab::THEMES)
            ));
        }
    }
    if let Some(f) = u.frequency.as_deref().filter(|f| !f.is_empty()) {
        if vocab::frequency(f).is_none() {
            return bad(format!(
                "unknown frequency '{f}': use one of {}",
                vocab::codes(vocab::FREQUENCIES)
            ));
        }
    }
    if let Some(e) = u.contact_email.as_deref().filter(|e| !e.is_empty()) {
        validate_email(e)?;
    }
    let date = |name: &str, v: &Option<String>| -> Result<Option<chrono::NaiveDate>> {
        match v.as_deref().filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| StoreError::Invalid(format!("{name} must be a date, YYYY-MM-DD"))),
        }
    };
    let start = date("temporal_start", &u.temporal_start)?;
    let end = date("temporal_end", &u.temporal_end)?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return bad("temporal_start must not be after temporal_end".into());
        }
    }
    let keywords = u.keywords.as_deref().unwrap_or_default();
    if keywords.len() > 30
        || keywords
            .iter()
            .any(|k| k.chars().count() > 100 || k.chars().any(char::is_control))
    {
        return bad("keywords: at most 30, each at most 100 characters".into());
    }
    if u.scale.is_some_and(|s| s > 100_000_000) {
        return bad("scale is a denominator (2000 for 1:2000), at most 100000000".into());
    }
    Ok(())
}

/// Checks a metadata update: visibility, lengths, no control characters, links, terms.
pub fn validate_meta(update: &LayerMetaUpdate) -> Result<()> {
    validate_open(update)?;
    if let Some(v) = &update.visibility {
        validate_visibility(v)?;
    }
    if let Some(t) = &update.title {
        if t.trim().is_empty() || t.chars().count() > 200 {
            return Err(StoreError::Invalid(
                "title must be 1 to 200 characters".into(),
            ));
        }
    }
    for (name, value, max) in [
        ("description", &update.description, 4000),
        ("theme", &update.theme, 100),
        ("licence", &update.licence, 200),
        ("attribution", &update.attribution, 300),
        ("attribution_url", &update.attribution_url, 500),
        ("title_en", &update.title_en, 200),
        ("description_en", &update.description_en, 4000),
        ("lineage", &update.lineage, 4000),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(StoreError::Invalid(format!(
                "{name} must be at most {max} characters"
            )));
        }
        if value.as_ref().is_some_and(|v| {
            v.chars().any(char::is_control)
                && !["description", "description_en", "lineage"].contains(&name)
        }) {
            return Err(StoreError::Invalid(format!(
                "{name} must not hold control characters"
            )));
        }
    }
    if let Some(u) = &update.attribution_url {
        if !u.is_empty() && !valid_link(u) {
            return Err(StoreError::Invalid(
                "attribution_url must be an http:// or https:// address".into(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn validate_visibility(v: &str) -> Result<()> {
    if v != "public" && v != "private" {
        return Err(StoreError::Invalid(format!(
            "visibility must be 'public' or 'private', not '{v}'"
        )));
    }
    Ok(())
}

/// An absolute http(s) link with a host and no spaces, quotes or angle brackets.
pub fn valid_link(u: &str) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && r.chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\'))
    })
}
