//! Open data: layers described for the national catalogues. [`vocab`] holds the
//! controlled vocabularies, [`rdf`] a small RDF graph and its serialisations, [`dcat`] the
//! DCAT-AP_IT catalogue of the public layers.

pub mod dcat;
pub mod rdf;
pub mod vocab;
