//! The layer catalog (layers, their metadata and kept versions), written once for both
//! backends. Versions themselves (publish, rollback, delete) are in each backend.

use async_trait::async_trait;

use super::changes::{self, ChangeKind};
use super::sql::{Exec, RowExt, Stmt};
use super::{from_json, ChangeStore, LayerMetaUpdate, LayerStore, Result, StoreError};
use crate::model::{GeomType, Layer, SourceInfo};

fn select(e: &impl Exec) -> String {
    let d = e.dialect();
    format!(
        "SELECT l.id, l.org_id, l.slug, l.title, l.description, l.theme, l.licence, \
         l.attribution, l.attribution_url, l.visibility, l.current_version, l.change_seq, \
         l.data_seq, l.base_seq, {} AS updated_at, v.geom_type, v.feature_count, {} AS extent, \
         {} AS fields, {} AS source \
         FROM atlante_layers l JOIN atlante_layer_versions v \
         ON v.layer_id = l.id AND v.version = l.current_version",
        d.ts("l.updated_at"),
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
        let mut stmts = vec![Stmt::new(d.sql(
            "UPDATE atlante_layers SET title = coalesce($1, title), \
             description = coalesce($2, description), theme = coalesce($3, theme), \
             licence = coalesce($4, licence), attribution = coalesce($5, attribution), \
             attribution_url = coalesce($6, attribution_url), \
             visibility = coalesce($7, visibility) WHERE id = $8",
        ))
        .arg(u.title.clone())
        .arg(u.description.clone())
        .arg(u.theme.clone())
        .arg(u.licence.clone())
        .arg(u.attribution.clone())
        .arg(u.attribution_url.clone())
        .arg(u.visibility.clone())
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

/// Checks a metadata update: visibility, lengths, no control characters, links.
pub(crate) fn validate_meta(update: &LayerMetaUpdate) -> Result<()> {
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
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(StoreError::Invalid(format!(
                "{name} must be at most {max} characters"
            )));
        }
        if value
            .as_ref()
            .is_some_and(|v| v.chars().any(char::is_control) && name != "description")
        {
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
