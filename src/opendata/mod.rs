//! Open data: layers described for the national catalogues. [`vocab`] holds the
//! controlled vocabularies, [`rdf`] a small RDF graph and its serialisations, [`dcat`] the
//! DCAT-AP_IT catalogue of the public layers, [`download`] the files of a layer's features,
//! [`page`] the dataset pages and their sitemap.

pub mod csw;
pub mod dcat;
pub mod download;
pub mod iso;
pub mod ogc_records;
pub mod page;
pub mod rdf;
pub mod record;
pub mod stats;
pub mod vocab;

use crate::model::{Layer, Org};

/// Whom to write about a dataset: the layer's contact e-mail, else its organisation's.
pub fn contact_email(l: &Layer, org: Option<&Org>) -> Option<String> {
    Some(l.meta.contact_email.clone())
        .filter(|e| !e.is_empty())
        .or_else(|| org.and_then(|o| o.email.clone()).filter(|e| !e.is_empty()))
}

/// What a layer's description lacks for a complete catalogue record (the catalogue fills
/// the gaps with the title, "Regions and cities" and an unknown frequency meanwhile).
pub fn missing(l: &Layer) -> Vec<&'static str> {
    let m = &l.meta;
    [
        ("description", l.description.trim().is_empty()),
        ("licence", vocab::licence(&l.licence).is_none()),
        ("eu_themes", m.eu_themes.is_empty()),
        ("frequency", vocab::frequency(&m.frequency).is_none()),
        ("keywords", m.keywords.is_empty()),
        ("contact_email", m.contact_email.is_empty()),
        ("lineage", m.lineage.trim().is_empty()),
        ("attribution", l.attribution.trim().is_empty()),
    ]
    .into_iter()
    .filter(|(_, gap)| *gap)
    .map(|(name, _)| name)
    .collect()
}
