//! A public layer described as a catalogue record: what the ISO 19139 (RNDT) record, the
//! CSW's Dublin Core and the OGC API - Records answers say of it, gathered once from the
//! layer, its organisation and the publication log, and searched the same way by all of
//! them (free text, bbox, dates, type, identifiers).

use std::collections::HashMap;
use std::sync::Arc;

use super::download::Format;
use super::vocab::{self, Term};
use crate::model::{Layer, Org};
use crate::store::changes::ChangeKind;
use crate::store::LogEntry;

/// One link of a record.
#[derive(Debug, Clone)]
pub struct Link {
    pub href: String,
    /// The media type of what it leads to.
    pub media_type: &'static str,
    pub title: String,
    /// `download`, `information` or `service` (what ISO calls the link's function).
    pub function: &'static str,
    /// ISO/INSPIRE protocol (`WWW:DOWNLOAD-1.0-http--download`, `OGC API Features`…).
    pub protocol: &'static str,
    /// Its OGC API relation.
    pub rel: &'static str,
}

/// A dataset as the catalogues other than DCAT describe it.
#[derive(Debug, Clone)]
pub struct Record {
    /// `{IPA}:{layer id}`: the file identifier RNDT asks for.
    pub identifier: String,
    pub layer_id: String,
    pub title: String,
    pub title_en: String,
    pub abstract_: String,
    pub keywords: Vec<String>,
    pub themes: Vec<&'static Term>,
    /// Free-text theme the viewer groups by.
    pub group: String,
    pub licence: &'static Term,
    pub attribution: String,
    pub org_name: String,
    pub ipa: String,
    pub email: Option<String>,
    /// Dates (YYYY-MM-DD): first published, first made public, data last changed.
    pub created: String,
    pub published: String,
    pub modified: String,
    pub temporal: (String, String),
    pub frequency: &'static Term,
    /// [west, south, east, north] in EPSG:4326.
    pub bbox: Option<[f64; 4]>,
    pub source_crs: String,
    pub lineage: String,
    pub scale: u32,
    pub geometry: &'static str,
    pub feature_count: i64,
    pub links: Vec<Link>,
    /// Lower-case text searched by `AnyText` / `q`.
    text: String,
}

fn day(ts: &str) -> String {
    ts.get(..10).unwrap_or(ts).to_string()
}

/// Creation and first-public dates per layer, from the publication log.
pub fn dates(log: &[LogEntry]) -> HashMap<String, (String, String)> {
    let mut out: HashMap<String, (String, String)> = HashMap::new();
    for e in log {
        let d = out.entry(e.layer_id.clone()).or_default();
        if d.0.is_empty() && e.kind == ChangeKind::Published {
            d.0 = day(&e.at);
        }
        if d.1.is_empty()
            && e.kind != ChangeKind::Deleted
            && e.visibility.as_deref() == Some("public")
        {
            d.1 = day(&e.at);
        }
    }
    out
}

impl Record {
    pub fn new(
        base: &str,
        l: &Layer,
        org: Option<&Org>,
        dates: &HashMap<String, (String, String)>,
    ) -> Record {
        let ipa = org.map_or_else(|| l.org.clone(), Org::ipa);
        let modified = day(&l.data_updated_at);
        let (created, published) = dates.get(&l.id).cloned().unwrap_or_default();
        let or_modified = |d: String| if d.is_empty() { modified.clone() } else { d };
        let mut links: Vec<Link> = Format::ALL
            .iter()
            .map(|f| Link {
                href: format!("{base}/collections/{}/items?f={}", l.id, f.code()),
                media_type: f.media_type(),
                title: format!("{} ({})", l.title, f.title()),
                function: "download",
                protocol: "WWW:DOWNLOAD-1.0-http--download",
                rel: "enclosure",
            })
            .collect();
        links.push(Link {
            href: format!("{base}/datasets/{}", l.id),
            media_type: "text/html",
            title: format!("Scheda: {}", l.title),
            function: "information",
            protocol: "WWW:LINK-1.0-http--link",
            rel: "describedby",
        });
        links.push(Link {
            href: format!("{base}/collections/{}", l.id),
            media_type: "application/json",
            title: "OGC API - Features".into(),
            function: "information",
            protocol: "OGC API - Features",
            rel: "item",
        });
        links.push(Link {
            href: format!("{base}/tiles/{}.json", l.id),
            media_type: "application/json",
            title: "Tile vettoriali (TileJSON)".into(),
            function: "information",
            protocol: "OGC API - Tiles",
            rel: "item",
        });
        let themes: Vec<&'static Term> = l
            .meta
            .eu_themes
            .iter()
            .filter_map(|c| vocab::theme_term(c))
            .collect();
        let org_name = org.map_or_else(|| l.org.clone(), |o| o.name.clone());
        let mut r = Record {
            identifier: format!("{ipa}:{}", l.id),
            layer_id: l.id.clone(),
            title: l.title.clone(),
            title_en: l.meta.title_en.clone(),
            abstract_: if l.description.trim().is_empty() {
                l.title.clone()
            } else {
                l.description.clone()
            },
            keywords: l.meta.keywords.clone(),
            themes,
            group: l.theme.clone(),
            licence: vocab::licence(&l.licence).unwrap_or(&vocab::UNKNOWN_LICENCE),
            attribution: l.attribution.clone(),
            org_name,
            ipa,
            email: super::contact_email(l, org),
            created: or_modified(created),
            published: or_modified(published),
            modified: modified.clone(),
            temporal: (l.meta.temporal_start.clone(), l.meta.temporal_end.clone()),
            frequency: vocab::frequency(&l.meta.frequency)
                .or_else(|| vocab::frequency(vocab::DEFAULT_FREQUENCY))
                .unwrap_or(&vocab::FREQUENCIES[0]),
            bbox: l.extent,
            source_crs: l.source.crs.clone(),
            lineage: l.meta.lineage.clone(),
            scale: l.meta.scale,
            geometry: l.geom_type.sql_name(),
            feature_count: l.feature_count,
            links,
            text: String::new(),
        };
        r.text = [
            r.identifier.as_str(),
            &r.title,
            &r.title_en,
            &r.abstract_,
            &l.meta.description_en,
            &r.keywords.join(" "),
            &r.themes.iter().map(|t| t.it).collect::<Vec<_>>().join(" "),
            &r.themes.iter().map(|t| t.en).collect::<Vec<_>>().join(" "),
            &r.group,
            &r.org_name,
            &r.lineage,
        ]
        .join(" ")
        .to_lowercase();
        r
    }

    /// Its searchable text, lower case: identifier, titles, abstracts, keywords, themes,
    /// group, owner, lineage.
    pub fn any_text(&self) -> &str {
        &self.text
    }

    /// Does its text contain `needle` (any case)?
    pub fn has_text(&self, needle: &str) -> bool {
        self.text.contains(&needle.to_lowercase())
    }

    /// Does its extent meet `b` ([west, south, east, north])?
    pub fn meets(&self, b: &[f64; 4]) -> bool {
        self.bbox
            .is_some_and(|e| e[0] <= b[2] && e[2] >= b[0] && e[1] <= b[3] && e[3] >= b[1])
    }
}

/// Records of the public layers `layers` (the caller's job to pass only those), sorted by
/// identifier.
pub fn records(base: &str, layers: &[Arc<Layer>], orgs: &[Org], log: &[LogEntry]) -> Vec<Record> {
    let dates = dates(log);
    let by_id: HashMap<&str, &Org> = orgs.iter().map(|o| (o.id.as_str(), o)).collect();
    let mut out: Vec<Record> = layers
        .iter()
        .map(|l| Record::new(base, l, by_id.get(l.org.as_str()).copied(), &dates))
        .collect();
    out.sort_by(|a, b| a.identifier.cmp(&b.identifier));
    out
}
