//! The publishing dashboard (`/stats`): datasets published per comune, per zona omogenea
//! and per year, the share of comuni publishing, how complete the descriptions are, and
//! downloads per dataset. The years come from the publication log (a dataset counts in
//! the year it was first made public, and as withdrawn in the year it last stopped being
//! public), so they outlive pruned versions and deleted layers; the rest from the
//! catalogue as it stands.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::html::escape_html as esc;
use crate::model::{Layer, Org};
use crate::store::changes::ChangeKind;
use crate::store::LogEntry;

/// How many parts a complete description has (see [`super::missing`]).
const PARTS: usize = 8;

#[derive(Debug, Serialize)]
pub struct Stats {
    /// Public datasets now.
    pub datasets: usize,
    pub comuni: usize,
    pub comuni_publishing: usize,
    /// Mean share of a complete description over the public datasets, 0–1.
    pub completeness: f64,
    pub downloads: i64,
    pub by_year: Vec<YearRow>,
    pub by_zona: Vec<ZonaRow>,
    pub by_org: Vec<OrgRow>,
    pub by_dataset: Vec<DatasetRow>,
}

#[derive(Debug, Serialize)]
pub struct YearRow {
    pub year: i32,
    /// Datasets first made public that year.
    pub published: usize,
    /// Datasets that stopped being public that year and are not public now.
    pub withdrawn: usize,
    /// Per zona omogenea (and "Città Metropolitana"), of those published.
    pub published_by_zona: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct ZonaRow {
    pub zona: String,
    pub comuni: usize,
    pub comuni_publishing: usize,
    pub datasets: usize,
}

#[derive(Debug, Serialize)]
pub struct OrgRow {
    pub org: String,
    pub name: String,
    pub zona: String,
    pub datasets: usize,
    /// Mean completeness of its public datasets' descriptions, 0–1.
    pub completeness: f64,
    pub first_year: Option<i32>,
}

#[derive(Debug, Serialize)]
pub struct DatasetRow {
    pub id: String,
    pub title: String,
    pub org: String,
    pub org_name: String,
    pub completeness: f64,
    pub missing: Vec<&'static str>,
    pub downloads: i64,
    pub downloads_by_format: BTreeMap<String, i64>,
}

fn zona_of(org: Option<&Org>) -> String {
    org.and_then(|o| o.zona_omogenea.clone())
        .unwrap_or_else(|| "Città Metropolitana".into())
}

fn year(at: &str) -> Option<i32> {
    at.get(..4)?.parse().ok()
}

fn completeness(l: &Layer) -> f64 {
    (PARTS - super::missing(l).len().min(PARTS)) as f64 / PARTS as f64
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (n, sum) = v.fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The figures, from the public layers now, the organisations, the publication log and
/// the download counts `(layer, format, n)`.
pub fn compute(
    public: &[Arc<Layer>],
    orgs: &[Org],
    log: &[LogEntry],
    downloads: &[(String, String, i64)],
) -> Stats {
    let org_of: HashMap<&str, &Org> = orgs.iter().map(|o| (o.id.as_str(), o)).collect();
    let public_now: HashMap<&str, &Layer> = public.iter().map(|l| (l.id.as_str(), &**l)).collect();

    // Per layer: when it was first public, when it last stopped being public, its owner.
    struct Life<'a> {
        org: &'a str,
        first: Option<i32>,
        stopped: Option<i32>,
        public: bool,
    }
    let mut lives: BTreeMap<&str, Life> = BTreeMap::new();
    for e in log {
        let life = lives.entry(&e.layer_id).or_insert(Life {
            org: "",
            first: None,
            stopped: None,
            public: false,
        });
        if let Some(o) = &e.org {
            life.org = o;
        }
        let public = e.kind != ChangeKind::Deleted && e.visibility.as_deref() == Some("public");
        if public && life.first.is_none() {
            life.first = year(&e.at);
        }
        if life.public && !public {
            life.stopped = year(&e.at);
        }
        life.public = public;
    }
    let mut by_year: BTreeMap<i32, YearRow> = BTreeMap::new();
    fn row(by_year: &mut BTreeMap<i32, YearRow>, y: i32) -> &mut YearRow {
        by_year.entry(y).or_insert_with(|| YearRow {
            year: y,
            published: 0,
            withdrawn: 0,
            published_by_zona: BTreeMap::new(),
        })
    }
    for (id, life) in &lives {
        if let Some(y) = life.first {
            let r = row(&mut by_year, y);
            r.published += 1;
            *r.published_by_zona
                .entry(zona_of(org_of.get(life.org).copied()))
                .or_default() += 1;
        }
        if let (Some(y), false) = (life.stopped, public_now.contains_key(id)) {
            row(&mut by_year, y).withdrawn += 1;
        }
    }

    let mut per_layer: HashMap<&str, (i64, BTreeMap<String, i64>)> = HashMap::new();
    for (layer, format, n) in downloads {
        let e = per_layer.entry(layer.as_str()).or_default();
        e.0 += n;
        *e.1.entry(format.clone()).or_default() += n;
    }
    let mut by_dataset: Vec<DatasetRow> = public
        .iter()
        .map(|l| {
            let (downloads, by_format) = per_layer.remove(l.id.as_str()).unwrap_or_default();
            DatasetRow {
                id: l.id.clone(),
                title: l.title.clone(),
                org: l.org.clone(),
                org_name: org_of
                    .get(l.org.as_str())
                    .map_or_else(|| l.org.clone(), |o| o.name.clone()),
                completeness: completeness(l),
                missing: super::missing(l),
                downloads,
                downloads_by_format: by_format,
            }
        })
        .collect();
    by_dataset.sort_by(|a, b| b.downloads.cmp(&a.downloads).then(a.id.cmp(&b.id)));

    let by_org: Vec<OrgRow> = orgs
        .iter()
        .map(|o| {
            let mine: Vec<&Layer> = public
                .iter()
                .filter(|l| l.org == o.id)
                .map(|l| &**l)
                .collect();
            OrgRow {
                org: o.id.clone(),
                name: o.name.clone(),
                zona: zona_of(Some(o)),
                datasets: mine.len(),
                completeness: mean(mine.iter().map(|l| completeness(l))),
                first_year: lives
                    .values()
                    .filter(|life| life.org == o.id)
                    .filter_map(|life| life.first)
                    .min(),
            }
        })
        .collect();
    let mut zonas: BTreeMap<String, ZonaRow> = BTreeMap::new();
    for o in &by_org {
        let z = zonas.entry(o.zona.clone()).or_insert_with(|| ZonaRow {
            zona: o.zona.clone(),
            comuni: 0,
            comuni_publishing: 0,
            datasets: 0,
        });
        let comune = org_of
            .get(o.org.as_str())
            .is_some_and(|x| x.kind == "comune");
        z.comuni += usize::from(comune);
        z.comuni_publishing += usize::from(comune && o.datasets > 0);
        z.datasets += o.datasets;
    }
    Stats {
        datasets: public.len(),
        comuni: zonas.values().map(|z| z.comuni).sum(),
        comuni_publishing: zonas.values().map(|z| z.comuni_publishing).sum(),
        completeness: mean(public.iter().map(|l| completeness(l))),
        downloads: by_dataset.iter().map(|d| d.downloads).sum(),
        by_year: by_year.into_values().collect(),
        by_zona: zonas.into_values().collect(),
        by_org: by_org.into_iter().filter(|o| o.datasets > 0).collect(),
        by_dataset,
    }
}

/// A horizontal bar chart as inline SVG: one bar per (label, value), scaled to the largest.
fn bars(title: &str, rows: &[(String, f64, String)]) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1e-9);
    let h = 22;
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" width=\"820\" height=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\" aria-label=\"{}\">",
        rows.len() * h + 4,
        esc(title)
    );
    for (i, (label, value, shown)) in rows.iter().enumerate() {
        let y = i * h + 2;
        let w = (value / max * 360.0).round();
        svg.push_str(&format!(
            "<text x=\"210\" y=\"{}\" text-anchor=\"end\" font-size=\"13\">{}</text>\
             <rect x=\"218\" y=\"{}\" width=\"{w}\" height=\"16\" fill=\"#1f78b4\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"13\">{}</text>",
            y + 13,
            esc(label),
            y,
            218.0 + w + 6.0,
            y + 13,
            esc(shown)
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn pct(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

/// The dashboard as HTML (charts as inline SVG: no script).
pub fn html(s: &Stats) -> String {
    let years: Vec<(String, f64, String)> = s
        .by_year
        .iter()
        .map(|y| {
            (
                y.year.to_string(),
                y.published as f64,
                format!("{} pubblicati, {} ritirati", y.published, y.withdrawn),
            )
        })
        .collect();
    let zonas: Vec<(String, f64, String)> = s
        .by_zona
        .iter()
        .map(|z| {
            (
                z.zona.clone(),
                z.datasets as f64,
                format!(
                    "{} dataset · {}/{} comuni",
                    z.datasets, z.comuni_publishing, z.comuni
                ),
            )
        })
        .collect();
    let orgs: Vec<(String, f64, String)> = s
        .by_org
        .iter()
        .map(|o| {
            (
                o.name.clone(),
                o.datasets as f64,
                format!("{} · scheda {}", o.datasets, pct(o.completeness)),
            )
        })
        .collect();
    let mut table = String::new();
    for d in &s.by_dataset {
        let formats: Vec<String> = d
            .downloads_by_format
            .iter()
            .map(|(f, n)| format!("{f} {n}"))
            .collect();
        table.push_str(&format!(
            "<tr><td><a href=\"/datasets/{}\">{}</a></td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.id),
            esc(&d.title),
            esc(&d.org_name),
            pct(d.completeness),
            esc(&d.missing.join(", ")),
            d.downloads,
            esc(&formats.join(", "))
        ));
    }
    format!(
        "<!doctype html><html lang=\"it\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Dati aperti: cruscotto – Atlante</title>\
         <link rel=\"stylesheet\" href=\"/static/viewer/viewer.css\">\
         <link rel=\"alternate\" type=\"application/json\" href=\"/stats?f=json\"></head>\
         <body style=\"display:block;padding:16px;max-width:64em\">\
         <nav><a href=\"/\">Atlante</a> › <a href=\"/catalog/dcat.ttl\">Catalogo</a> › \
         Cruscotto (<a href=\"/stats?f=json\">JSON</a>)</nav>\
         <main><h1>Dati aperti della Città Metropolitana di Milano</h1>\
         <p><strong>{}</strong> dataset pubblici · <strong>{}</strong> di {} comuni \
         pubblicano ({}) · schede complete al <strong>{}</strong> · <strong>{}</strong> \
         download</p>\
         <h2>Dataset pubblicati per anno</h2>{}\
         <h2>Per zona omogenea</h2>{}\
         <h2>Per ente</h2>{}\
         <h2>Dataset</h2><table><thead><tr><th>Dataset</th><th>Ente</th>\
         <th>Scheda</th><th>Manca</th><th>Download</th><th>Per formato</th></tr></thead>\
         <tbody>{table}</tbody></table></main></body></html>",
        s.datasets,
        s.comuni_publishing,
        s.comuni,
        pct(if s.comuni == 0 {
            0.0
        } else {
            s.comuni_publishing as f64 / s.comuni as f64
        }),
        pct(s.completeness),
        s.downloads,
        bars("Dataset pubblicati per anno", &years),
        bars("Dataset per zona omogenea", &zonas),
        bars("Dataset per ente", &orgs),
    )
}
