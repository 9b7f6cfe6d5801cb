//! The base map that is always there: the Città Metropolitana's comuni, tinted by zona
//! omogenea, with the names of the comuni and of the zone. It is cut from the organisations
//! of the catalog (their ISTAT boundaries), not from any layer, so a fresh store has it too.
//! Served at `/basemap/{z}/{x}/{y}.mvt` and carried by every static bundle that asks for it.
//!
//! Three MVT layers (see [`MVT_LAYERS`]): `comuni` (polygons: `nome`, `istat`, `zona`,
//! `zona_code`), `nomi_comuni` (a point inside each comune: `nome`, `area_km2`) and
//! `nomi_zone` (a point at each zona's centre: `nome`).

use std::sync::Arc;

use geo::{Area, Centroid, InteriorPoint};
use geo_types::{Geometry, MultiPolygon, Point};

use super::index::LayerIndex;
use crate::model::{Field, FieldType, GeomType, Layer, Org, Value};
use crate::store::StoredFeature;

/// The ids of the base's layers (never a catalog id: those are `{org}_{slug}` with an ISTAT
/// code or `cmm` for the organisation) and their MVT names.
pub const MVT_LAYERS: [(&str, &str); 3] = [
    ("atlante_base_comuni", "comuni"),
    ("atlante_base_nomi_comuni", "nomi_comuni"),
    ("atlante_base_nomi_zone", "nomi_zone"),
];

/// Whether `id` is one of the base's layers.
pub fn is_base(id: &str) -> bool {
    MVT_LAYERS.iter().any(|(i, _)| *i == id)
}

/// The base, ready to cut tiles.
pub struct Base {
    /// In [`MVT_LAYERS`] order.
    pub indexes: Vec<Arc<LayerIndex>>,
    /// Each comune's name and box (for search boxes).
    pub comuni: Vec<(String, [f64; 4])>,
}

impl Base {
    /// The base of the comuni among `orgs` that have a boundary.
    pub fn build(orgs: &[Org]) -> Base {
        let mut comuni = Vec::new();
        let mut comuni_names = Vec::new();
        // zona code → (name, Σ area·centroid, Σ area)
        let mut zone: std::collections::BTreeMap<String, (String, [f64; 2], f64)> =
            Default::default();
        // The comuni's names (a zona named like one is named as that comune).
        let mut names = Vec::new();
        let mut boxes = Vec::new();
        let mut bbox = None;
        for o in orgs.iter().filter(|o| o.kind == "comune") {
            let Some(g) = o
                .boundary
                .as_ref()
                .and_then(|b| crate::geom::from_geojson(b).ok())
            else {
                continue;
            };
            let mp: MultiPolygon<f64> = match &g {
                Geometry::Polygon(p) => MultiPolygon(vec![p.clone()]),
                Geometry::MultiPolygon(m) => m.clone(),
                _ => continue,
            };
            if let Some(b) = crate::geom::bbox(&g) {
                crate::geom::extend_bbox(&mut bbox, &b);
                boxes.push((o.name.clone(), b));
            }
            let fid = comuni.len() as i64 + 1;
            let text = |s: &Option<String>| s.clone().map(Value::Text).unwrap_or(Value::Null);
            comuni.push(StoredFeature {
                fid,
                wkb: crate::geom::to_wkb(&Geometry::MultiPolygon(mp.clone())),
                values: vec![
                    Value::Text(o.name.clone()),
                    text(&o.istat_code),
                    text(&o.zona_omogenea),
                    text(&o.zona_code),
                ],
            });
            // Degrees² are enough to weigh centroids; km² for the label order.
            let area = mp.unsigned_area();
            let km2 = area * 111.32 * 111.32 * 45.5f64.to_radians().cos();
            if let Some(p) = mp.interior_point() {
                comuni_names.push(StoredFeature {
                    fid,
                    wkb: crate::geom::to_wkb(&Geometry::Point(p)),
                    values: vec![
                        Value::Text(o.name.clone()),
                        Value::Real((km2 * 10.0).round() / 10.0),
                    ],
                });
                names.push(o.name.clone());
            }
            if let (Some(code), Some(name), Some(c)) =
                (&o.zona_code, &o.zona_omogenea, mp.centroid())
            {
                let z = zone
                    .entry(code.clone())
                    .or_insert_with(|| (name.clone(), [0.0, 0.0], 0.0));
                z.1[0] += c.x() * area;
                z.1[1] += c.y() * area;
                z.2 += area;
            }
        }
        // Milano is a zona of its own in the catalog: it is named as a comune.
        let zone_names: Vec<StoredFeature> = zone
            .into_values()
            .filter(|(name, _, a)| *a > 0.0 && !names.contains(name))
            .enumerate()
            .map(|(i, (name, c, a))| StoredFeature {
                fid: i as i64 + 1,
                wkb: crate::geom::to_wkb(&Geometry::Point(Point::new(c[0] / a, c[1] / a))),
                values: vec![Value::Text(name)],
            })
            .collect();
        let f = |name: &str, kind: FieldType| Field {
            name: name.into(),
            label: name.into(),
            kind,
        };
        let text = FieldType::Text;
        let layers = [
            (
                GeomType::MultiPolygon,
                vec![
                    f("nome", text),
                    f("istat", text),
                    f("zona", text),
                    f("zona_code", text),
                ],
                comuni,
            ),
            (
                GeomType::Point,
                vec![f("nome", text), f("area_km2", FieldType::Real)],
                comuni_names,
            ),
            (GeomType::Point, vec![f("nome", text)], zone_names),
        ];
        let indexes = layers
            .into_iter()
            .zip(MVT_LAYERS)
            .map(|((geom_type, fields, features), (id, slug))| {
                let layer = layer(id, slug, geom_type, fields, features.len(), bbox);
                Arc::new(LayerIndex::build(layer, features))
            })
            .collect();
        Base {
            indexes,
            comuni: boxes,
        }
    }

    /// The base's layers (as the tile engine and bundles take them).
    pub fn layers(&self) -> Vec<Layer> {
        self.indexes.iter().map(|i| i.layer.clone()).collect()
    }
}

fn layer(
    id: &str,
    slug: &str,
    geom_type: GeomType,
    fields: Vec<Field>,
    count: usize,
    extent: Option<[f64; 4]>,
) -> Layer {
    Layer {
        org: crate::model::METRO_ORG.into(),
        slug: slug.into(),
        title: "Comuni e zone omogenee".into(),
        theme: "base".into(),
        licence: "CC-BY-4.0".into(),
        attribution: "ISTAT; openpolis/geojson-italy".into(),
        feature_count: count as i64,
        extent,
        ..Layer::sketch(id, geom_type, fields)
    }
}
