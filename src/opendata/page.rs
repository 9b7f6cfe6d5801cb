//! The dataset page of a public layer (`/datasets/{id}`, the IRI the DCAT catalogue gives
//! it): its description, licence, downloads, API links and versions as HTML, with a
//! schema.org `Dataset` in JSON-LD for search engines; and the sitemap of those pages.
//! Everything from the layer is escaped.

use serde_json::json;

use super::download::Format;
use super::vocab;
use crate::html::escape_html as esc;
use crate::model::{Layer, Org};
use crate::store::changes::ChangeKind;
use crate::store::LogEntry;

/// What a page shows beside the layer.
pub struct PageInputs<'a> {
    pub base: &'a str,
    pub org: Option<&'a Org>,
    /// Sizes of the whole-layer files already made.
    pub sizes: &'a dyn Fn(Format) -> Option<u64>,
    /// Versions kept, newest first.
    pub versions: &'a [i64],
    /// Its publication log, oldest first.
    pub history: &'a [LogEntry],
}

/// A layer's history as list items, newest first; a run of feature edits is one item.
fn history_items(history: &[LogEntry]) -> String {
    let mut items: Vec<String> = Vec::new();
    let mut i = 0;
    while i < history.len() {
        let e = &history[i];
        let day = e.at.get(..10).unwrap_or_default();
        let what = match e.kind {
            ChangeKind::Edited => {
                let run = history[i..]
                    .iter()
                    .take_while(|x| x.kind == ChangeKind::Edited)
                    .count();
                let features: usize = history[i..i + run].iter().map(|x| x.features).sum();
                let last = history[i + run - 1].at.get(..10).unwrap_or_default();
                i += run;
                let span = if last == day {
                    day.to_string()
                } else {
                    format!("{day} – {last}")
                };
                items.push(format!(
                    "<li>{} · {features} oggetti modificati in {run} modifiche</li>",
                    esc(&span)
                ));
                continue;
            }
            ChangeKind::Published => format!(
                "versione {} pubblicata ({} oggetti)",
                e.version,
                e.feature_count.unwrap_or(0)
            ),
            ChangeKind::RolledBack => format!("riportato alla versione {}", e.version),
            ChangeKind::Deleted => "eliminato".to_string(),
            ChangeKind::Meta if e.changed.iter().any(|c| c == "visibility") => {
                if e.visibility.as_deref() == Some("public") {
                    "reso pubblico".to_string()
                } else {
                    "reso privato".to_string()
                }
            }
            ChangeKind::Meta => format!("scheda modificata: {}", e.changed.join(", ")),
        };
        items.push(format!("<li>{} · {}</li>", esc(day), esc(&what)));
        i += 1;
    }
    items.reverse();
    items.concat()
}

pub fn dataset_page(l: &Layer, p: &PageInputs) -> String {
    let base = p.base;
    let licence = vocab::licence(&l.licence).unwrap_or(&vocab::UNKNOWN_LICENCE);
    let org_name = p.org.map_or(l.org.as_str(), |o| o.name.as_str());
    let ipa = p.org.map_or_else(|| l.org.clone(), Org::ipa);
    let items = |f: Format| format!("{base}/collections/{}/items?f={}", l.id, f.code());
    let mut downloads = String::new();
    for f in Format::ALL {
        let size = (p.sizes)(f).map_or(String::new(), |n| format!(" ({:.1} MB)", n as f64 / 1e6));
        downloads.push_str(&format!(
            "<li><a href=\"{}\" download>{}</a>{size}</li>",
            esc(&items(f)),
            esc(f.title())
        ));
    }
    let themes: Vec<&str> = l
        .meta
        .eu_themes
        .iter()
        .filter_map(|c| vocab::theme_term(c))
        .map(|t| t.it)
        .collect();
    let frequency = vocab::frequency(&l.meta.frequency).map_or("—", |t| t.it);
    let row = |k: &str, v: &str| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    let mut rows = String::new();
    rows.push_str(&row("Titolare", &format!("{org_name} (IPA {ipa})")));
    rows.push_str(&row("Identificativo", &format!("{ipa}:{}", l.id)));
    rows.push_str(&row("Temi", &themes.join(", ")));
    rows.push_str(&row("Parole chiave", &l.meta.keywords.join(", ")));
    rows.push_str(&row("Aggiornamento", frequency));
    let when = l.data_updated_at.replace('T', " ");
    rows.push_str(&row(
        "Ultima modifica dei dati",
        &format!("{} UTC", when.get(..16).unwrap_or(&when)),
    ));
    if !l.meta.temporal_start.is_empty() || !l.meta.temporal_end.is_empty() {
        rows.push_str(&row(
            "Copertura temporale",
            &format!("{} – {}", l.meta.temporal_start, l.meta.temporal_end),
        ));
    }
    rows.push_str(&row("Oggetti", &l.feature_count.to_string()));
    if let Some(b) = l.extent {
        rows.push_str(&row(
            "Estensione (WGS 84)",
            &format!("{:.5}, {:.5} – {:.5}, {:.5}", b[0], b[1], b[2], b[3]),
        ));
    }
    rows.push_str(&row("Sistema di riferimento d'origine", &l.source.crs));
    if l.meta.scale > 0 {
        rows.push_str(&row("Scala", &format!("1:{}", l.meta.scale)));
    }
    if !l.meta.lineage.is_empty() {
        rows.push_str(&row("Genealogia", &l.meta.lineage));
    }
    if !l.attribution.is_empty() {
        rows.push_str(&row("Attribuzione", &l.attribution));
    }
    let versions: Vec<String> = p.versions.iter().map(|v| v.to_string()).collect();
    rows.push_str(&row(
        "Versioni conservate",
        &format!("{} (corrente: {})", versions.join(", "), l.version),
    ));
    let contact = super::contact_email(l, p.org);
    if let Some(e) = contact {
        rows.push_str(&format!(
            "<tr><th>Contatto</th><td><a href=\"mailto:{}\">{}</a></td></tr>",
            esc(&e),
            esc(&e)
        ));
    }
    let ld = json!({
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": format!("{base}/datasets/{}", l.id),
        "url": format!("{base}/datasets/{}", l.id),
        "identifier": format!("{ipa}:{}", l.id),
        "name": l.title,
        "description": if l.description.trim().is_empty() { &l.title } else { &l.description },
        "keywords": l.meta.keywords,
        "license": vocab::uri_of(licence),
        "isAccessibleForFree": true,
        "creator": {"@type": "GovernmentOrganization", "name": org_name, "identifier": ipa},
        "publisher": {"@type": "GovernmentOrganization", "name": "Città Metropolitana di Milano", "identifier": "cmmi"},
        "dateModified": l.data_updated_at,
        "spatialCoverage": l.extent.map(|b| json!({"@type": "Place", "geo": {"@type": "GeoShape", "box": format!("{} {} {} {}", b[1], b[0], b[3], b[2])}})),
        "distribution": Format::ALL.iter().map(|f| json!({
            "@type": "DataDownload", "encodingFormat": f.media_type(), "contentUrl": items(*f), "name": f.title(),
        })).collect::<Vec<_>>(),
    });
    // Inside <script>: no `<` may end it early.
    let ld = ld.to_string().replace('<', "\\u003c");
    let title = esc(&l.title);
    let description = esc(&l.description);
    let id = esc(&l.id);
    let licence_uri = esc(&vocab::uri_of(licence));
    let licence_name = esc(licence.it);
    let history = history_items(p.history);
    let bounds = l.extent.map_or(String::new(), |b| {
        format!("[{},{},{},{}]", b[0], b[1], b[2], b[3])
    });
    format!(
        "<!doctype html><html lang=\"it\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} – Atlante</title>\
         <link rel=\"stylesheet\" href=\"/static/viewer/viewer.css\">\
         <link rel=\"stylesheet\" href=\"/static/vendor/maplibre-gl/maplibre-gl.css\">\
         <link rel=\"alternate\" type=\"text/turtle\" href=\"{base}/catalog/dcat.ttl\">\
         <script type=\"application/ld+json\">{ld}</script></head>\
         <body style=\"display:block;padding:16px;max-width:60em\">\
         <nav><a href=\"/\">Atlante</a> › <a href=\"/catalog/dcat.ttl\">Catalogo</a></nav>\
         <main><h1>{title}</h1><p>{description}</p>\
         <p>Licenza: <a rel=\"license\" href=\"{licence_uri}\">{licence_name}</a></p>\
         <div id=\"dataset-map\" role=\"img\" aria-label=\"Mappa di {title}\" \
         style=\"height:320px;width:100%;max-width:44em\" data-style=\"/styles/{id}.json\" \
         data-bounds=\"{bounds}\"></div>\
         <h2>Scarica</h2><ul>{downloads}</ul>\
         <h2>Scheda</h2><table>{rows}</table>\
         <h2>Servizi</h2><ul>\
         <li><a href=\"/\">Sulla mappa (visualizzatore)</a></li>\
         <li><a href=\"/collections/{id}\">OGC API - Features</a> · \
         <a href=\"/collections/{id}/items?f=html\">oggetti</a></li>\
         <li><a href=\"/tiles/{id}.json\">Tile vettoriali (TileJSON)</a> · \
         <a href=\"/collections/{id}/tiles\">OGC API - Tiles</a></li></ul>\
         <h2>Storia</h2><ol reversed>{history}</ol></main>\
         <script src=\"/static/vendor/maplibre-gl/maplibre-gl.js\"></script>\
         <script src=\"/static/viewer/dataset.js\"></script></body></html>"
    )
}

/// The sitemap of the dataset pages of `layers` (public ones: the caller's job).
pub fn sitemap(base: &str, layers: &[std::sync::Arc<Layer>]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for l in layers {
        let day = l.data_updated_at.get(..10).unwrap_or_default();
        out.push_str(&format!(
            "  <url><loc>{}</loc><lastmod>{}</lastmod></url>\n",
            esc(&format!("{base}/datasets/{}", l.id)),
            esc(day)
        ));
    }
    out.push_str("</urlset>\n");
    out
}
