//! Plain catalog types shared by the stores, ingest and HTTP: organisations, layers,
//! layer versions, attribute schemas and the rows ingest hands to a store.

use serde::{Deserialize, Serialize};

/// An organisation: the Città Metropolitana or one of its comuni.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Org {
    /// `cmm` for the Città Metropolitana, the six-digit ISTAT code for a comune.
    pub id: String,
    pub name: String,
    /// `metro` or `comune`.
    pub kind: String,
    pub istat_code: Option<String>,
    pub catasto_code: Option<String>,
    pub zona_omogenea: Option<String>,
    pub zona_code: Option<String>,
    /// [west, south, east, north] in EPSG:4326.
    pub bbox: Option<[f64; 4]>,
    /// GeoJSON geometry of the boundary (generalized ISTAT boundary), EPSG:4326.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boundary: Option<serde_json::Value>,
    /// Its code in the IPA (Indice delle Pubbliche Amministrazioni) when it is not the
    /// usual one (see [`Org::ipa`]).
    #[serde(default)]
    pub ipa_override: Option<String>,
    /// A contact e-mail for its open data.
    #[serde(default)]
    pub email: Option<String>,
}

impl Org {
    /// Its IPA code: the override if set; for a comune `c_` and its Belfiore (cadastral)
    /// code in lower case (Milano: `c_f205`); `cmmi` for the Città Metropolitana di Milano.
    pub fn ipa(&self) -> String {
        if let Some(code) = self.ipa_override.as_deref().filter(|c| !c.is_empty()) {
            return code.to_string();
        }
        match (&*self.kind, &self.catasto_code) {
            ("comune", Some(c)) => format!("c_{}", c.to_lowercase()),
            ("metro", _) => "cmmi".into(),
            _ => self.id.clone(),
        }
    }
}

pub const METRO_ORG: &str = "cmm";

/// Attribute types a layer column can have. Both stores map them to native types.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Integer,
    Real,
    Text,
    Boolean,
    Date,
    Datetime,
}

/// One attribute column: its safe SQL name and the name the source file used.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Field {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
}

/// The geometry family a layer stores. Lines and polygons are always stored as their
/// multi type (as `ogr2ogr -nlt PROMOTE_TO_MULTI` would), so one column type fits all rows.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum GeomType {
    Point,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
}

impl GeomType {
    /// The OGC / GeoPackage name of the type, upper case.
    pub fn sql_name(self) -> &'static str {
        match self {
            GeomType::Point => "POINT",
            GeomType::MultiPoint => "MULTIPOINT",
            GeomType::MultiLineString => "MULTILINESTRING",
            GeomType::MultiPolygon => "MULTIPOLYGON",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "POINT" => GeomType::Point,
            "MULTIPOINT" => GeomType::MultiPoint,
            "MULTILINESTRING" => GeomType::MultiLineString,
            "MULTIPOLYGON" => GeomType::MultiPolygon,
            _ => return None,
        })
    }
}

/// A layer as the catalog lists it, with its published version's facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Layer {
    /// `{org}_{slug}`: the public id, also the name of the published table.
    pub id: String,
    pub org: String,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub theme: String,
    pub licence: String,
    /// Credit shown with the layer on every map: plain text, never HTML.
    pub attribution: String,
    /// An optional `http(s)` link for the attribution (e.g. the licence's page), which
    /// Atlante renders as a link itself.
    pub attribution_url: String,
    /// `public` or `private` (a draft, seen only by its organisation): the one rule is
    /// [`crate::catalog::may_see`].
    pub visibility: String,
    pub version: i64,
    /// Sequence number (change log) of the layer's last change of any kind.
    pub change_seq: i64,
    /// Sequence number of its last *data* change (publish, rollback, feature edit): tile
    /// indexes and caches are keyed by it, so a metadata edit rebuilds nothing.
    pub data_seq: i64,
    /// Sequence number of its last publish, rollback or restore: the data an index is
    /// built from. Feature edits since then are applied to the index in place.
    pub base_seq: i64,
    pub geom_type: GeomType,
    pub feature_count: i64,
    /// [west, south, east, north] in EPSG:4326, None for an empty layer.
    pub extent: Option<[f64; 4]>,
    pub fields: Vec<Field>,
    pub source: SourceInfo,
    pub updated_at: String,
    /// When its data last changed: a publish, rollback or feature edit (RFC 3339).
    #[serde(default)]
    pub data_updated_at: String,
    /// What open-data catalogues need beyond the fields above (see [`OpenMeta`]).
    #[serde(default)]
    pub meta: OpenMeta,
}

/// A layer's description for open-data catalogues (DCAT-AP_IT, RNDT), kept with the
/// layer, not with a version: a rollback leaves it as it is. Codes are those of
/// [`crate::opendata::vocab`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct OpenMeta {
    pub title_en: String,
    pub description_en: String,
    pub keywords: Vec<String>,
    /// EU data themes (`TRAN`, `REGI`, …).
    pub eu_themes: Vec<String>,
    /// EU frequency (`ANNUAL`, `IRREG`, …).
    pub frequency: String,
    pub contact_email: String,
    /// Temporal coverage, ISO dates (`YYYY-MM-DD`), either may be empty.
    pub temporal_start: String,
    pub temporal_end: String,
    /// How the data was made (RNDT/INSPIRE lineage).
    pub lineage: String,
    /// Scale denominator of the source (e.g. 2000 for 1:2000); 0 when unknown.
    pub scale: u32,
}

impl Layer {
    /// A public layer with no data and no metadata: for tests and previews.
    pub fn sketch(id: &str, geom_type: GeomType, fields: Vec<Field>) -> Layer {
        Layer {
            id: id.into(),
            org: String::new(),
            slug: id.into(),
            title: id.into(),
            description: String::new(),
            theme: String::new(),
            licence: String::new(),
            attribution: String::new(),
            attribution_url: String::new(),
            visibility: "public".into(),
            version: 1,
            change_seq: 0,
            data_seq: 0,
            base_seq: 0,
            geom_type,
            feature_count: 0,
            extent: None,
            fields,
            source: SourceInfo::default(),
            updated_at: String::new(),
            data_updated_at: String::new(),
            meta: OpenMeta::default(),
        }
    }

    pub fn is_public(&self) -> bool {
        self.visibility == "public"
    }
}

/// Where a layer version came from and how it was brought to EPSG:4326.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SourceInfo {
    pub file: String,
    pub driver: String,
    pub source_layer: String,
    /// e.g. `EPSG:3003`, or the CRS name when it has no EPSG code.
    pub crs: String,
    /// The coordinate operation PROJ chose, as a PROJ pipeline or a description.
    pub transform: String,
    pub encoding: String,
}

/// What ingest counted, stored with each version and printed by the CLI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct IngestSummary {
    pub read: u64,
    pub written: u64,
    pub repaired: u64,
    pub rejected: u64,
    pub rejected_reasons: Vec<String>,
    pub warnings: Vec<String>,
    pub seconds: f64,
}

impl IngestSummary {
    pub fn features_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.written as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// One attribute value, typed as its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Boolean(bool),
    /// ISO 8601 `YYYY-MM-DD`.
    Date(String),
    /// RFC 3339.
    Datetime(String),
}

/// One feature ready for a store: 2D WKB in EPSG:4326, its bbox, and values in schema order.
#[derive(Debug, Clone)]
pub struct Row {
    pub wkb: Vec<u8>,
    pub bbox: [f64; 4],
    pub values: Vec<Value>,
}

/// Everything a store needs to publish a new version of a layer.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub org: String,
    pub slug: String,
    pub title: String,
    pub geom_type: GeomType,
    pub fields: Vec<Field>,
    pub source: SourceInfo,
    /// `public` or `private` for a new layer (None: private, a draft). An existing layer
    /// keeps its visibility unless this is given.
    pub visibility: Option<String>,
}

/// Validates a layer slug: lower-case ASCII letters, digits and `_`, starting with a letter.
pub fn valid_slug(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 40
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && !s.contains("__")
}

/// Validates an organisation id: `cmm` or a six-digit ISTAT code.
pub fn valid_org_id(s: &str) -> bool {
    s == METRO_ORG || (s.len() == 6 && s.bytes().all(|c| c.is_ascii_digit()))
}

/// The table (and public id) of a layer's published version.
pub fn layer_table(org: &str, slug: &str) -> String {
    format!("{org}_{slug}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(valid_slug("nil_2020"));
        assert!(!valid_slug("Nil"));
        assert!(!valid_slug("1nil"));
        assert!(!valid_slug("a__v1"));
        assert!(!valid_slug("../etc"));
        assert!(!valid_slug(""));
        assert!(valid_org_id("015146"));
        assert!(valid_org_id("cmm"));
        assert!(!valid_org_id("01514"));
        assert!(!valid_org_id("x; drop"));
    }
}
