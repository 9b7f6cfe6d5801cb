//! The DCAT-AP_IT catalogue of the public layers: one `dcatapit:Catalog` published by the
//! Città Metropolitana, one `dcatapit:Dataset` per public layer (rights holder: the owning
//! comune, identified by its IPA code), its distributions and the services that serve it,
//! and every controlled-vocabulary term it uses, typed and labelled (DCAT-AP 3 checks the
//! class of every value). The caller passes only public layers: the catalogue never sees
//! another.

use std::collections::BTreeSet;

use super::download::Format;
use super::rdf::{iri, lang, lit, term, typed, Graph, Node};
use super::vocab::{self, Term};
use crate::model::{Layer, Org, METRO_ORG};

/// Where the catalogue's resources live, under the server's public base URL.
pub struct Urls<'a> {
    pub base: &'a str,
}

impl Urls<'_> {
    pub fn catalog(&self) -> String {
        format!("{}/catalog", self.base)
    }
    pub fn dataset(&self, id: &str) -> String {
        format!("{}/datasets/{id}", self.base)
    }
    pub fn agent(&self, org: &str) -> String {
        format!("{}/api/orgs/{org}", self.base)
    }
    fn features_service(&self) -> String {
        format!("{}/collections", self.base)
    }
    fn tiles_service(&self) -> String {
        format!("{}/tileMatrixSets", self.base)
    }
}

/// The date part of an RFC 3339 timestamp.
fn day(ts: &str) -> String {
    ts.get(..10).unwrap_or(ts).to_string()
}

/// The sizes of whole-layer files already made, for `dcat:byteSize`.
pub type Sizes<'a> = &'a dyn Fn(&Layer, Format) -> Option<u64>;

pub fn catalogue(
    base: &str,
    layers: &[std::sync::Arc<Layer>],
    orgs: &[Org],
    sizes: Sizes,
) -> Graph {
    let urls = Urls { base };
    let mut g = Graph::default();
    let cat = iri(urls.catalog());
    g.add(&cat, "rdf:type", term("dcatapit:Catalog"));
    g.add(&cat, "rdf:type", term("dcat:Catalog"));
    g.add(
        &cat,
        "dct:title",
        lang(
            "Atlante – SIT metropolitano di Milano: dati territoriali aperti",
            "it",
        ),
    );
    g.add(
        &cat,
        "dct:title",
        lang(
            "Atlante – Milan metropolitan GIS: open territorial data",
            "en",
        ),
    );
    g.add(
        &cat,
        "dct:description",
        lang(
            "I livelli territoriali pubblici dei comuni della Città Metropolitana di Milano \
             e della Città Metropolitana stessa: piani, strade, edifici, servizi.",
            "it",
        ),
    );
    g.add(
        &cat,
        "dct:description",
        lang(
            "The public territorial layers of the comuni of the Metropolitan City of Milan \
             and of the Metropolitan City itself: plans, roads, buildings, services.",
            "en",
        ),
    );
    let publisher = iri(urls.agent(METRO_ORG));
    g.add(&cat, "dct:publisher", publisher.clone());
    g.add(&cat, "foaf:homepage", iri(format!("{base}/")));
    g.add(&cat, "dct:language", iri(LANGUAGE_ITA));
    g.add(&cat, "dcat:themeTaxonomy", iri(vocab::THEME_SCHEME));
    let ita = iri(LANGUAGE_ITA);
    g.add(&ita, "rdf:type", term("dct:LinguisticSystem"));
    g.add(&ita, "skos:prefLabel", lang("italiano", "it"));
    let modified = layers
        .iter()
        .map(|l| day(&l.data_updated_at))
        .max()
        .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string());
    g.add(&cat, "dct:modified", typed(modified, "xsd:date"));
    theme_scheme(&mut g);

    let mut agents: BTreeSet<String> = BTreeSet::new();
    agents.insert(METRO_ORG.to_string());
    let mut licences: BTreeSet<&str> = BTreeSet::new();
    let mut frequencies: BTreeSet<&str> = BTreeSet::new();
    let mut themes: BTreeSet<&str> = BTreeSet::new();
    for (k, l) in layers.iter().enumerate() {
        let org = orgs.iter().find(|o| o.id == l.org);
        let ds = iri(urls.dataset(&l.id));
        g.add(&cat, "dcat:dataset", ds.clone());
        dataset(&mut g, &urls, &ds, l, org, k);
        downloads(&mut g, &urls, &ds, l, sizes);
        agents.insert(l.org.clone());
        licences.insert(licence_of(l).code);
        frequencies.insert(frequency_of(l).code);
        themes.extend(themes_of(l).iter().map(|t| t.code));
    }
    services(&mut g, &urls, layers);
    for id in &agents {
        agent(&mut g, &urls, orgs.iter().find(|o| &o.id == id), id);
    }
    for code in licences {
        let t = vocab::licence(code).unwrap_or(&vocab::UNKNOWN_LICENCE);
        let n = iri(vocab::uri_of(t));
        g.add(&n, "rdf:type", term("dcatapit:LicenseDocument"));
        g.add(&n, "rdf:type", term("dct:LicenseDocument"));
        g.add(&n, "foaf:name", lang(t.it, "it"));
        g.add(&n, "foaf:name", lang(t.en, "en"));
    }
    for code in frequencies {
        if let Some(t) = vocab::frequency(code) {
            concept(&mut g, t, "dct:Frequency", vocab::FREQUENCY_SCHEME);
        }
    }
    for code in themes {
        if let Some(t) = vocab::theme_term(code) {
            concept(&mut g, t, "skos:Concept", vocab::THEME_SCHEME);
        }
    }
    for f in Format::ALL {
        let Some(code) = f.eu_file_type() else {
            continue;
        };
        let n = iri(file_type(code));
        g.add(&n, "rdf:type", term("dct:MediaTypeOrExtent"));
        g.add(&n, "rdf:type", term("skos:Concept"));
        g.add(&n, "skos:prefLabel", lit(code));
        g.add(&n, "skos:inScheme", iri(vocab::FILE_TYPE_SCHEME));
        g.add(&iri(media_type(f)), "rdf:type", term("dct:MediaType"));
    }
    g
}

fn file_type(code: &str) -> String {
    format!("{}/{code}", vocab::FILE_TYPE_SCHEME)
}

/// A format's IANA media type as an IRI (without parameters).
fn media_type(f: Format) -> String {
    let m = f.media_type().split(';').next().unwrap_or_default();
    format!("https://www.iana.org/assignments/media-types/{m}")
}

/// A distribution per download format (those the EU file-type vocabulary names).
fn downloads(g: &mut Graph, urls: &Urls, ds: &Node, l: &Layer, sizes: Sizes) {
    for f in Format::ALL
        .into_iter()
        .filter(|f| f.eu_file_type().is_some())
    {
        let file = format!("{}/collections/{}/items?f={}", urls.base, l.id, f.code());
        let node = format!("{}#{}", urls.dataset(&l.id), f.code());
        let dist = distribution(g, ds, &node, &file, f, l);
        g.add(&dist, "dcat:downloadURL", iri(file));
        g.add(
            &dist,
            "dct:title",
            lang(format!("{} – {}", l.title, f.title()), "it"),
        );
        if let Some(n) = sizes(l, f) {
            g.add(
                &dist,
                "dcat:byteSize",
                typed(n.to_string(), "xsd:nonNegativeInteger"),
            );
        }
    }
}

const LANGUAGE_ITA: &str = "http://publications.europa.eu/resource/authority/language/ITA";

fn licence_of(l: &Layer) -> &'static Term {
    vocab::licence(&l.licence).unwrap_or(&vocab::UNKNOWN_LICENCE)
}

fn frequency_of(l: &Layer) -> &'static Term {
    vocab::frequency(&l.meta.frequency)
        .or_else(|| vocab::frequency(vocab::DEFAULT_FREQUENCY))
        .unwrap_or(&vocab::FREQUENCIES[0])
}

/// A layer's EU themes; a layer that names none is "Regions and cities", the theme of
/// territorial data (DCAT-AP_IT requires one).
fn themes_of(l: &Layer) -> Vec<&'static Term> {
    let given: Vec<&Term> = l
        .meta
        .eu_themes
        .iter()
        .filter_map(|c| vocab::theme_term(c))
        .collect();
    if given.is_empty() {
        vocab::theme_term("REGI").into_iter().collect()
    } else {
        given
    }
}

fn concept(g: &mut Graph, t: &Term, class: &str, scheme: &str) {
    let n = iri(vocab::uri_of(t));
    g.add(&n, "rdf:type", term(class));
    g.add(&n, "rdf:type", term("skos:Concept"));
    g.add(&n, "skos:prefLabel", lang(t.it, "it"));
    g.add(&n, "skos:prefLabel", lang(t.en, "en"));
    g.add(&n, "skos:inScheme", iri(scheme));
}

fn theme_scheme(g: &mut Graph) {
    let s = iri(vocab::THEME_SCHEME);
    g.add(&s, "rdf:type", term("skos:ConceptScheme"));
    g.add(&s, "dct:title", lang("Data theme", "en"));
    g.add(&s, "dct:title", lang("Tema dei dati", "it"));
}

fn dataset(g: &mut Graph, urls: &Urls, ds: &Node, l: &Layer, org: Option<&Org>, k: usize) {
    let ipa = org.map_or_else(|| l.org.clone(), Org::ipa);
    g.add(ds, "rdf:type", term("dcatapit:Dataset"));
    g.add(ds, "rdf:type", term("dcat:Dataset"));
    g.add(ds, "dct:identifier", lit(format!("{ipa}:{}", l.id)));
    g.add(ds, "dct:title", lang(&l.title, "it"));
    if !l.meta.title_en.is_empty() {
        g.add(ds, "dct:title", lang(&l.meta.title_en, "en"));
    }
    // DCAT-AP_IT requires a description: the title stands in for a missing one (the
    // console lists it as missing).
    let description = if l.description.trim().is_empty() {
        &l.title
    } else {
        &l.description
    };
    g.add(ds, "dct:description", lang(description, "it"));
    if !l.meta.description_en.is_empty() {
        g.add(ds, "dct:description", lang(&l.meta.description_en, "en"));
    }
    g.add(
        ds,
        "dct:modified",
        typed(day(&l.data_updated_at), "xsd:date"),
    );
    for t in themes_of(l) {
        g.add(ds, "dcat:theme", iri(vocab::uri_of(t)));
    }
    let holder = iri(urls.agent(&l.org));
    g.add(ds, "dct:rightsHolder", holder);
    g.add(ds, "dct:publisher", iri(urls.agent(METRO_ORG)));
    g.add(
        ds,
        "dct:accrualPeriodicity",
        iri(vocab::uri_of(frequency_of(l))),
    );
    g.add(ds, "dct:language", iri(LANGUAGE_ITA));
    let page = iri(urls.dataset(&l.id));
    g.add(ds, "dcat:landingPage", page.clone());
    g.add(&page, "rdf:type", term("foaf:Document"));
    for word in &l.meta.keywords {
        g.add(ds, "dcat:keyword", lang(word, "it"));
    }
    if !l.theme.is_empty() {
        g.add(ds, "dcat:keyword", lang(&l.theme, "it"));
    }
    // Contact point: the layer's e-mail, else its organisation's.
    let email = super::contact_email(l, org);
    let contact = iri(format!("{}#contact", urls.dataset(&l.id)));
    g.add(ds, "dcat:contactPoint", contact.clone());
    g.add(&contact, "rdf:type", term("dcatapit:Organization"));
    g.add(&contact, "rdf:type", term("vcard:Organization"));
    g.add(&contact, "rdf:type", term("vcard:Kind"));
    g.add(
        &contact,
        "vcard:fn",
        lit(org.map_or_else(|| l.org.clone(), |o| o.name.clone())),
    );
    if let Some(e) = email {
        g.add(&contact, "vcard:hasEmail", iri(format!("mailto:{e}")));
    }
    if let Some([w, s, e, n]) = l.extent {
        let loc = Node::Blank(format!("extent{k}"));
        g.add(ds, "dct:spatial", loc.clone());
        g.add(&loc, "rdf:type", term("dct:Location"));
        g.add(
            &loc,
            "dcat:bbox",
            typed(
                format!("POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))"),
                "gsp:wktLiteral",
            ),
        );
    }
    if !l.meta.temporal_start.is_empty() || !l.meta.temporal_end.is_empty() {
        let period = Node::Blank(format!("period{k}"));
        g.add(ds, "dct:temporal", period.clone());
        g.add(&period, "rdf:type", term("dct:PeriodOfTime"));
        if !l.meta.temporal_start.is_empty() {
            g.add(
                &period,
                "dcat:startDate",
                typed(&l.meta.temporal_start, "xsd:date"),
            );
        }
        if !l.meta.temporal_end.is_empty() {
            g.add(
                &period,
                "dcat:endDate",
                typed(&l.meta.temporal_end, "xsd:date"),
            );
        }
    }
    // A distribution of the features as GeoJSON pages through OGC API - Features.
    let dist = distribution(
        g,
        ds,
        &format!("{}#geojson", urls.dataset(&l.id)),
        &format!("{}/collections/{}/items?f=json", urls.base, l.id),
        Format::GeoJson,
        l,
    );
    g.add(&dist, "dcat:accessService", iri(urls.features_service()));
    g.add(
        &dist,
        "dct:title",
        lang(format!("{} – GeoJSON (OGC API - Features)", l.title), "it"),
    );
    g.add(
        &dist,
        "dct:description",
        lang(
            "Gli oggetti del livello in GeoJSON, a pagine, filtrabili per area e attributi \
             (OGC API - Features, CQL2).",
            "it",
        ),
    );
}

/// A distribution of dataset `ds` reached at `access`, in a format (one the EU file-type
/// vocabulary names), under the layer's licence.
fn distribution(g: &mut Graph, ds: &Node, node: &str, access: &str, f: Format, l: &Layer) -> Node {
    let dist = iri(node);
    g.add(ds, "dcat:distribution", dist.clone());
    g.add(&dist, "rdf:type", term("dcatapit:Distribution"));
    g.add(&dist, "rdf:type", term("dcat:Distribution"));
    g.add(&dist, "dcat:accessURL", iri(access));
    if let Some(code) = f.eu_file_type() {
        g.add(&dist, "dct:format", iri(file_type(code)));
    }
    g.add(&dist, "dcat:mediaType", iri(media_type(f)));
    g.add(&dist, "dct:license", iri(vocab::uri_of(licence_of(l))));
    dist
}

/// The OGC API - Features and vector-tile services, each serving every public layer.
fn services(g: &mut Graph, urls: &Urls, layers: &[std::sync::Arc<Layer>]) {
    for (node, title, endpoint, description, conforms) in [
        (
            urls.features_service(),
            "Atlante – OGC API - Features",
            format!("{}/", urls.base),
            format!("{}/api", urls.base),
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        ),
        (
            urls.tiles_service(),
            "Atlante – OGC API - Tiles (Mapbox Vector Tiles)",
            format!("{}/", urls.base),
            format!("{}/api", urls.base),
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
        ),
    ] {
        let s = iri(node);
        g.add(&s, "rdf:type", term("dcat:DataService"));
        g.add(&s, "dct:title", lang(title, "it"));
        g.add(&s, "dcat:endpointURL", iri(endpoint));
        g.add(&s, "dcat:endpointDescription", iri(description));
        g.add(&s, "dct:conformsTo", iri(conforms));
        g.add(&iri(conforms), "rdf:type", term("dct:Standard"));
        for l in layers {
            g.add(&s, "dcat:servesDataset", iri(urls.dataset(&l.id)));
        }
    }
}

fn agent(g: &mut Graph, urls: &Urls, org: Option<&Org>, id: &str) {
    let a = iri(urls.agent(id));
    g.add(&a, "rdf:type", term("dcatapit:Agent"));
    g.add(&a, "rdf:type", term("foaf:Agent"));
    g.add(&a, "rdf:type", term("foaf:Organization"));
    g.add(
        &a,
        "dct:identifier",
        lit(org.map_or_else(|| id.to_string(), Org::ipa)),
    );
    g.add(&a, "foaf:name", lit(org.map_or(id, |o| &o.name)));
    let kind = iri(LOCAL_AUTHORITY);
    g.add(&a, "dct:type", kind.clone());
    g.add(&kind, "rdf:type", term("skos:Concept"));
    g.add(&kind, "skos:prefLabel", lang("Local Authority", "en"));
    g.add(
        &kind,
        "skos:inScheme",
        iri("http://purl.org/adms/publishertype/1.0"),
    );
}

const LOCAL_AUTHORITY: &str = "http://purl.org/adms/publishertype/LocalAuthority";
