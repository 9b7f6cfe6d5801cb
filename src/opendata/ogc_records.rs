//! OGC API - Records (Part 1, 1.0) over the same records as the CSW: a record collection
//! (`/collections/catalog`, `itemType: record`) whose items are GeoJSON records, and the
//! "local resources catalogue" pattern on `/collections` (the same query parameters
//! filter and sort the list of collections). One [`RecordQuery`] serves both: `q` (terms,
//! any of them, any case), `bbox`, `datetime` (against the temporal coverage, else the
//! modification date), `type`, `ids`, `externalIds`, `sortby`; `limit` and `offset` page
//! the record collection.

use serde_json::{json, Value};

use super::record::Record;
use super::vocab;

/// The record collection's id: no layer id has it (theirs are `{org}_{slug}`).
pub const COLLECTION: &str = "catalog";

/// What this server declares for Records; only what holds (no CQL2 on records, no HTML).
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/record-core",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/record-collection",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/record-core-query-parameters",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/record-api",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/sorting",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/local-resources-catalog",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/local-resources-catalog-query-parameters",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/local-resources-catalog-sorting",
];

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq)]
enum SortKey {
    Title,
    Updated,
    Created,
    Id,
}

/// A checked records query.
#[derive(Debug, Default, PartialEq)]
pub struct RecordQuery {
    q: Vec<String>,
    bbox: Option<[f64; 4]>,
    /// Closed interval of dates (`YYYY-MM-DD`); an open end is None.
    datetime: Option<(Option<String>, Option<String>)>,
    types: Vec<String>,
    ids: Vec<String>,
    external_ids: Vec<String>,
    sort: Vec<(SortKey, bool)>,
    pub limit: usize,
    pub offset: usize,
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A date or a date-time, as its day; `..` or empty is open.
fn instant(s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    if s.is_empty() || s == ".." {
        return Ok(None);
    }
    let day = s.get(..10).unwrap_or("");
    if chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_err()
        || (s.len() > 10 && chrono::DateTime::parse_from_rfc3339(s).is_err())
    {
        return Err(format!(
            "datetime: '{s}' is not an RFC 3339 date or date-time"
        ));
    }
    Ok(Some(day.to_string()))
}

impl RecordQuery {
    /// From query parameters; names the first bad one. `f` and unknown ones are the
    /// caller's (the local-resources list also takes `f`).
    pub fn parse(params: &[(String, String)]) -> Result<RecordQuery, String> {
        let mut q = RecordQuery {
            limit: DEFAULT_LIMIT,
            ..Default::default()
        };
        for (k, v) in params {
            match k.as_str() {
                "q" => q.q = list(v).into_iter().map(|t| t.to_lowercase()).collect(),
                "bbox" => {
                    let n: Vec<f64> = v
                        .split(',')
                        .map(|s| s.trim().parse::<f64>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| format!("bbox: '{v}' is not four numbers"))?;
                    match n[..] {
                        [w, s, e, nn]
                            if n.iter().all(|x| x.is_finite())
                                && w <= e
                                && s <= nn
                                && s >= -90.0
                                && nn <= 90.0 =>
                        {
                            q.bbox = Some([w, s, e, nn])
                        }
                        _ => {
                            return Err(format!(
                                "bbox: '{v}' must be west,south,east,north in WGS 84"
                            ))
                        }
                    }
                }
                "datetime" => {
                    let (a, b) = match v.split_once('/') {
                        Some((a, b)) => (instant(a)?, instant(b)?),
                        None => {
                            let d = instant(v)?;
                            (d.clone(), d)
                        }
                    };
                    if let (Some(x), Some(y)) = (&a, &b) {
                        if x > y {
                            return Err(format!("datetime: '{v}' ends before it starts"));
                        }
                    }
                    q.datetime = Some((a, b));
                }
                "type" => q.types = list(v).into_iter().map(|t| t.to_lowercase()).collect(),
                "ids" => q.ids = list(v),
                "externalIds" => q.external_ids = list(v),
                "sortby" => {
                    for key in list(v) {
                        let (asc, name) = match key.strip_prefix('-') {
                            Some(n) => (false, n),
                            None => (true, key.trim_start_matches('+')),
                        };
                        let k = match name {
                            "title" => SortKey::Title,
                            "updated" | "modified" => SortKey::Updated,
                            "created" => SortKey::Created,
                            "id" => SortKey::Id,
                            other => {
                                return Err(format!(
                                "sortby: '{other}' is not sortable (title, updated, created, id)"
                            ))
                            }
                        };
                        q.sort.push((k, asc));
                    }
                }
                "limit" => {
                    q.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| format!("limit: '{v}' must be a whole number from 1"))?
                        .min(MAX_LIMIT)
                }
                "offset" => {
                    q.offset = v
                        .parse()
                        .map_err(|_| format!("offset: '{v}' must be a whole number"))?
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// Does the query ask anything of the list (beyond paging)?
    pub fn searches(&self) -> bool {
        !(self.q.is_empty()
            && self.bbox.is_none()
            && self.datetime.is_none()
            && self.types.is_empty()
            && self.ids.is_empty()
            && self.external_ids.is_empty()
            && self.sort.is_empty())
    }

    pub fn matches(&self, r: &Record) -> bool {
        (self.q.is_empty() || self.q.iter().any(|t| r.any_text().contains(t.as_str())))
            && self.bbox.is_none_or(|b| r.meets(&b))
            && self.datetime.as_ref().is_none_or(|(a, b)| {
                let (start, end) = if r.temporal.0.is_empty() && r.temporal.1.is_empty() {
                    (r.modified.as_str(), r.modified.as_str())
                } else {
                    (r.temporal.0.as_str(), r.temporal.1.as_str())
                };
                // Open ends of the record's own interval reach to the past or future.
                b.as_ref()
                    .is_none_or(|b| start.is_empty() || start <= b.as_str())
                    && a.as_ref()
                        .is_none_or(|a| end.is_empty() || end >= a.as_str())
            })
            && (self.types.is_empty() || self.types.iter().any(|t| t == "dataset"))
            && (self.ids.is_empty()
                || self
                    .ids
                    .iter()
                    .any(|i| *i == r.identifier || *i == r.layer_id))
            && (self.external_ids.is_empty()
                || self
                    .external_ids
                    .iter()
                    .any(|i| *i == r.identifier || *i == format!("IPA:{}", r.identifier)))
    }

    /// The matching records, sorted as asked (else by identifier).
    pub fn select<'a>(&self, all: &'a [Record]) -> Vec<&'a Record> {
        let mut out: Vec<&Record> = all.iter().filter(|r| self.matches(r)).collect();
        for (key, asc) in self.sort.iter().rev() {
            let k = |r: &Record| match key {
                SortKey::Title => r.title.to_lowercase(),
                SortKey::Updated => r.modified.clone(),
                SortKey::Created => r.created.clone(),
                SortKey::Id => r.identifier.clone(),
            };
            out.sort_by(|a, b| {
                let o = k(a).cmp(&k(b));
                if *asc {
                    o
                } else {
                    o.reverse()
                }
            });
        }
        out
    }
}

/// A record as GeoJSON (the record-core schema).
pub fn record_json(base: &str, r: &Record) -> Value {
    let geometry = r.bbox.map(|b| {
        json!({"type": "Polygon", "coordinates": [[[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]]]})
    });
    let mut links: Vec<Value> = vec![
        json!({"rel": "self", "type": "application/geo+json", "href": format!("{base}/collections/{COLLECTION}/items/{}", r.layer_id)}),
        json!({"rel": "collection", "type": "application/json", "href": format!("{base}/collections/{COLLECTION}")}),
        json!({"rel": "license", "type": "text/html", "href": vocab::uri_of(r.licence), "title": r.licence.it}),
        json!({"rel": "alternate", "type": "application/xml", "title": "ISO 19139 (RNDT)", "href": format!("{base}/csw?service=CSW&version=2.0.2&request=GetRecordById&outputSchema=http%3A%2F%2Fwww.isotc211.org%2F2005%2Fgmd&id={}", r.layer_id)}),
    ];
    links.extend(
        r.links
            .iter()
            .map(|l| json!({"rel": l.rel, "type": l.media_type, "title": l.title, "href": l.href})),
    );
    let mut contacts = vec![json!({
        "organization": r.org_name,
        "identifier": r.ipa,
        "roles": ["rightsHolder", "pointOfContact"],
        "emails": r.email.iter().map(|e| json!({"value": e})).collect::<Vec<_>>(),
    })];
    contacts.push(json!({"organization": "Città Metropolitana di Milano", "identifier": "cmmi", "roles": ["publisher"]}));
    let time = if r.temporal.0.is_empty() && r.temporal.1.is_empty() {
        Value::Null
    } else {
        let end = |s: &String| if s.is_empty() { json!("..") } else { json!(s) };
        json!({"interval": [end(&r.temporal.0), end(&r.temporal.1)]})
    };
    json!({
        "type": "Feature",
        "id": r.layer_id,
        "conformsTo": ["http://www.opengis.net/spec/ogcapi-records-1/1.0/req/record-core"],
        "geometry": geometry,
        "time": time,
        "properties": {
            "type": "dataset",
            "title": r.title,
            "description": r.abstract_,
            "keywords": r.keywords,
            "themes": if r.themes.is_empty() { json!([]) } else { json!([{
                "scheme": vocab::THEME_SCHEME,
                "concepts": r.themes.iter().map(|t| json!({"id": t.code, "title": t.it, "url": vocab::uri_of(t)})).collect::<Vec<_>>(),
            }]) },
            "language": {"code": "it", "name": "Italiano"},
            "externalIds": [{"scheme": "IPA", "value": r.identifier}],
            "formats": r.links.iter().filter(|l| l.function == "download").map(|l| json!({"name": l.title, "mediaType": l.media_type})).collect::<Vec<_>>(),
            "contacts": contacts,
            "license": r.licence.code,
            "rights": if r.attribution.is_empty() { format!("{} – {}", r.org_name, r.licence.it) } else { r.attribution.clone() },
            "created": r.created,
            "updated": r.modified,
            "updateFrequency": r.frequency.code,
            "geometryType": r.geometry,
            "featureCount": r.feature_count,
        },
        "links": links,
    })
}

/// The record collection's own description; its extent over the public layers' (from
/// the catalog in memory: `/collections` answers without the store).
pub fn collection_json(base: &str, public: &[std::sync::Arc<crate::model::Layer>]) -> Value {
    let mut extent: Option<[f64; 4]> = None;
    for b in public.iter().filter_map(|l| l.extent) {
        crate::geom::extend_bbox(&mut extent, &b);
    }
    json!({
        "id": COLLECTION,
        "type": "Collection",
        "itemType": "record",
        "title": "Catalogo dei dati territoriali della Città Metropolitana di Milano",
        "description": "Un record per ogni livello pubblico dei comuni e della Città Metropolitana: gli stessi del catalogo DCAT-AP_IT e della CSW (RNDT).",
        "extent": extent.map(|e| json!({"spatial": {"bbox": [e], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}})),
        "license": "various",
        "links": [
            {"rel": "self", "type": "application/json", "href": format!("{base}/collections/{COLLECTION}")},
            {"rel": "items", "type": "application/geo+json", "href": format!("{base}/collections/{COLLECTION}/items")},
            {"rel": "alternate", "type": "text/turtle", "title": "DCAT-AP_IT", "href": format!("{base}/catalog")},
            {"rel": "alternate", "type": "application/xml", "title": "CSW 2.0.2", "href": format!("{base}/csw?service=CSW&request=GetCapabilities")},
        ],
    })
}

/// A page of records as a GeoJSON feature collection with paging links.
pub fn items_json(
    base: &str,
    q: &RecordQuery,
    params: &[(String, String)],
    all: &[Record],
) -> Value {
    let hits = q.select(all);
    let matched = hits.len();
    let page: Vec<Value> = hits
        .iter()
        .skip(q.offset)
        .take(q.limit)
        .map(|r| record_json(base, r))
        .collect();
    let here = format!("{base}/collections/{COLLECTION}/items");
    let with_offset = |offset: usize| {
        let qs = crate::features::with_offset(params, q.limit as i64, offset as i64);
        format!("{here}?{qs}")
    };
    let mut links = vec![
        json!({"rel": "self", "type": "application/geo+json", "href": with_offset(q.offset)}),
        json!({"rel": "collection", "type": "application/json", "href": format!("{base}/collections/{COLLECTION}")}),
    ];
    if q.offset + page.len() < matched {
        links.push(json!({"rel": "next", "type": "application/geo+json", "href": with_offset(q.offset + page.len())}));
    }
    if q.offset > 0 {
        links.push(json!({"rel": "prev", "type": "application/geo+json", "href": with_offset(q.offset.saturating_sub(q.limit))}));
    }
    json!({
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": page.len(),
        "timeStamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "features": page,
        "links": links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bad_parameters_are_named() {
        for (p, says) in [
            (("bbox", "1,2,3"), "bbox"),
            (("bbox", "9,46,8,45"), "bbox"),
            (("datetime", "2024-13-01"), "datetime"),
            (("datetime", "2025-01-01/2024-01-01"), "ends before"),
            (("sortby", "-secret"), "sortby"),
            (("limit", "0"), "limit"),
            (("offset", "-1"), "offset"),
        ] {
            let e = RecordQuery::parse(&params(&[p])).unwrap_err();
            assert!(e.contains(says), "{p:?}: {e}");
        }
        let q = RecordQuery::parse(&params(&[
            ("limit", "100000"),
            ("datetime", "../2024-01-01T10:00:00Z"),
        ]))
        .unwrap();
        assert_eq!(q.limit, MAX_LIMIT);
        assert_eq!(q.datetime, Some((None, Some("2024-01-01".into()))));
    }
}
