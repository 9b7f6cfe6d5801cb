//! Reading the rows: every feature validated (GEOS, repaired where it can be), reprojected,
//! typed and sent to the store in batches, with the counts of the ingest summary; and the
//! run that ties opening and streaming to the store's publish.

use std::time::Instant;

use gdal::cpl::CslStringList;
use gdal::errors::CplErrType;
use gdal::spatial_ref::CoordTransform;
use gdal::vector::{FieldValue, Geometry, LayerAccess, OGRwkbGeometryType};
use tokio::sync::{mpsc, oneshot};

use super::locate::Kind;
use super::open::Reader;
use super::{encoding, gdal_env, invalid, IngestError, Job};
use crate::geom::{bbox, coerce, geo_kind, to_wkb};
use crate::model::{FieldType, GeomType, IngestSummary, PublishRequest, Row, Value};
use crate::store::Batch;

const BATCH: usize = 2_000;
const MAX_WARNINGS: usize = 20;

/// Runs the whole read: sends the publish request once the schema is known, then the rows.
/// On failure after the request was sent, tells the store with `Batch::Failed`.
pub fn run(
    job: Job,
    req_tx: oneshot::Sender<PublishRequest>,
    rows: mpsc::Sender<Batch>,
) -> Result<IngestSummary, IngestError> {
    gdal_env::init();
    let start = Instant::now();
    // An error here drops `req_tx`: the caller then reads this error from the thread.
    let mut reader = Reader::open(&job)?;
    if req_tx.send(reader.request(&job)).is_err() {
        return Err(IngestError::Internal(
            "the store did not start the ingest".into(),
        ));
    }
    match reader.stream(&job, &rows, start) {
        Ok(summary) => {
            rows.blocking_send(Batch::Done(summary.clone()))
                .map_err(|_| IngestError::StoreGone)?;
            Ok(summary)
        }
        Err(e) => {
            let _ = rows.blocking_send(Batch::Failed(e.to_string()));
            Err(e)
        }
    }
}

impl Reader {
    fn request(&self, job: &Job) -> PublishRequest {
        PublishRequest {
            org: job.opts.org.clone(),
            slug: job.opts.slug.clone(),
            title: job.title.clone(),
            geom_type: self.geom_type,
            fields: self.fields.clone(),
            source: self.source.clone(),
            visibility: job.opts.visibility.clone(),
        }
    }

    fn stream(
        &mut self,
        job: &Job,
        tx: &mpsc::Sender<Batch>,
        start: Instant,
    ) -> Result<IngestSummary, IngestError> {
        let mut layer = self
            .ds
            .layer_by_name(&self.layer_name)
            .map_err(|e| invalid(&self.display, e.to_string()))?;
        let total = layer.feature_count();
        (job.progress)(0, total);
        let mut summary = IngestSummary::default();
        let mut batch = Vec::with_capacity(BATCH);
        let display = self.display.clone();
        let encoding = self.source.encoding.clone();
        let mut genuine_fffd: Option<bool> = None;
        let (result, msgs) = gdal_env::capture(|| -> Result<(), IngestError> {
            for feature in layer.features() {
                summary.read += 1;
                let n = summary.read;
                let outcome = match feature.geometry() {
                    None => Err(GeomErr::Reject("no geometry".into())),
                    Some(g) => process(g, self.transform.as_ref(), self.geom_type),
                };
                let (wkb, bbox, repaired) = match outcome {
                    Ok(v) => v,
                    Err(GeomErr::Reject(why)) => {
                        summary.rejected += 1;
                        if summary.rejected_reasons.len() < MAX_WARNINGS {
                            summary.rejected_reasons.push(format!("feature {n}: {why}"));
                        }
                        continue;
                    }
                    Err(GeomErr::Fatal(why)) => {
                        return Err(invalid(&display, format!("feature {n}: {why}")));
                    }
                };
                summary.repaired += repaired as u64;
                let mut values = Vec::with_capacity(self.fields.len());
                for (f, &i) in self.fields.iter().zip(&self.src_index) {
                    // SAFETY: the handle belongs to `feature`, alive here; `i` is one of its
                    // definition's field indexes. (gdal's `field` misreads unset dates.)
                    let set = unsafe {
                        gdal_sys::OGR_F_IsFieldSetAndNotNull(feature.c_feature(), i as i32)
                    } != 0;
                    let v = if set {
                        feature
                            .field(i)
                            .map_err(|e| invalid(&display, format!("feature {n}: {e}")))?
                    } else {
                        None
                    };
                    let v = to_value(v, f.kind);
                    if let Value::Text(t) = &v {
                        if t.contains('\u{FFFD}')
                            && !*genuine_fffd
                                .get_or_insert_with(|| encoding::has_replacement(&self.text_source))
                        {
                            return Err(invalid(
                                &display,
                                format!(
                                    "feature {n}: the text of '{}' is not valid {encoding}: pass --encoding with the encoding the file was saved in",
                                    f.label
                                ),
                            ));
                        }
                    }
                    values.push(v);
                }
                batch.push(Row { wkb, bbox, values });
                summary.written += 1;
                if batch.len() == BATCH {
                    tx.blocking_send(Batch::Rows(std::mem::take(&mut batch)))
                        .map_err(|_| IngestError::StoreGone)?;
                    (job.progress)(summary.read, total);
                }
            }
            Ok(())
        });
        result?;
        if !batch.is_empty() {
            tx.blocking_send(Batch::Rows(batch))
                .map_err(|_| IngestError::StoreGone)?;
        }
        (job.progress)(summary.read, total);
        for (class, msg) in msgs {
            if matches!(class, CplErrType::Failure | CplErrType::Fatal) && self.kind != Kind::Dxf {
                return Err(invalid(
                    &self.display,
                    format!("GDAL failed while reading: {msg}"),
                ));
            }
            if class == CplErrType::Warning
                && self.warnings.len() < MAX_WARNINGS
                && !self.warnings.contains(&msg)
            {
                self.warnings.push(msg);
            }
        }
        if let Some(expected) = self.expected {
            if summary.read != expected {
                return Err(invalid(&self.display, format!("GDAL read {} features but the .shx indexes {expected}: the file is damaged", summary.read)));
            }
        }
        if summary.read > 0 && summary.written == 0 {
            return Err(invalid(
                &self.display,
                format!(
                    "none of the {} features has a usable geometry ({})",
                    summary.read,
                    summary
                        .rejected_reasons
                        .first()
                        .cloned()
                        .unwrap_or_default()
                ),
            ));
        }
        summary.warnings = std::mem::take(&mut self.warnings);
        summary.seconds = start.elapsed().as_secs_f64();
        Ok(summary)
    }
}

pub(super) fn parse_family(s: &str) -> Option<GeomType> {
    Some(match s.to_ascii_lowercase().as_str() {
        "point" => GeomType::Point,
        "multipoint" => GeomType::MultiPoint,
        "line" | "linestring" | "multilinestring" => GeomType::MultiLineString,
        "polygon" | "multipolygon" => GeomType::MultiPolygon,
        _ => return None,
    })
}

pub(super) fn family_of(t: OGRwkbGeometryType::Type) -> Option<GeomType> {
    Some(match t {
        OGRwkbGeometryType::wkbPoint => GeomType::Point,
        OGRwkbGeometryType::wkbMultiPoint => GeomType::MultiPoint,
        OGRwkbGeometryType::wkbLineString | OGRwkbGeometryType::wkbMultiLineString => {
            GeomType::MultiLineString
        }
        OGRwkbGeometryType::wkbPolygon | OGRwkbGeometryType::wkbMultiPolygon => {
            GeomType::MultiPolygon
        }
        _ => return None,
    })
}

/// For layers that declare no single type (GeoJSON, KML, DXF): look at every geometry.
pub(super) fn prescan(
    layer: &mut gdal::vector::Layer,
    display: &str,
) -> Result<GeomType, IngestError> {
    let (mut points, mut multipoints, mut lines, mut polygons) = (0u64, 0u64, 0u64, 0u64);
    for f in layer.features() {
        let Some(g) = f.geometry() else { continue };
        match family_of(gdal::vector::geometry_type_flatten(g.geometry_type())) {
            Some(GeomType::Point) => points += 1,
            Some(GeomType::MultiPoint) if g.geometry_count() > 1 => multipoints += 1,
            Some(GeomType::MultiPoint) => points += 1,
            Some(GeomType::MultiLineString) => lines += 1,
            Some(GeomType::MultiPolygon) => polygons += 1,
            None => {}
        }
    }
    layer.reset_feature_reading();
    let kinds = [points + multipoints > 0, lines > 0, polygons > 0]
        .iter()
        .filter(|b| **b)
        .count();
    match kinds {
        0 => Err(invalid(display, "the layer holds no point, line or polygon geometry")),
        1 if polygons > 0 => Ok(GeomType::MultiPolygon),
        1 if lines > 0 => Ok(GeomType::MultiLineString),
        1 if multipoints > 0 => Ok(GeomType::MultiPoint),
        1 => Ok(GeomType::Point),
        _ => Err(invalid(display, format!(
            "the layer mixes geometry types ({} points, {lines} lines, {polygons} polygons): pass --geometry point|line|polygon to keep one kind",
            points + multipoints
        ))),
    }
}

enum GeomErr {
    /// This feature is left out, and counted.
    Reject(String),
    /// The whole file is wrong (typically its CRS).
    Fatal(String),
}

/// Validates, repairs, reprojects and encodes one geometry.
fn process(
    g: &Geometry,
    ct: Option<&CoordTransform>,
    family: GeomType,
) -> Result<(Vec<u8>, [f64; 4], bool), GeomErr> {
    if g.is_empty() {
        return Err(GeomErr::Reject("empty geometry".into()));
    }
    let mut g = g.clone();
    g.flatten_to_2d();
    if let Some(ct) = ct {
        g.transform_inplace(ct)
            .map_err(|e| GeomErr::Reject(format!("cannot be reprojected: {e}")))?;
    }
    let mut repaired = false;
    if matches!(family, GeomType::MultiPolygon | GeomType::MultiLineString) && !g.is_valid() {
        g = g
            .make_valid(&CslStringList::new())
            .map_err(|_| GeomErr::Reject("invalid geometry that cannot be repaired".into()))?;
        repaired = true;
    }
    let geo = g
        .to_geo()
        .map_err(|e| GeomErr::Reject(format!("unreadable geometry: {e}")))?;
    let kind = geo_kind(&geo);
    let geo = coerce(geo, family)
        .ok_or_else(|| GeomErr::Reject(format!("a {kind} in a {} layer", family.sql_name())))?;
    let b = bbox(&geo).ok_or_else(|| GeomErr::Reject("empty geometry".into()))?;
    if b.iter().any(|v| !v.is_finite()) {
        return Err(GeomErr::Reject("non-finite coordinates".into()));
    }
    if b[0] < -180.0 || b[2] > 180.0 || b[1] < -90.0 || b[3] > 90.0 {
        return Err(GeomErr::Fatal(format!(
            "coordinates ({:.1}, {:.1}) fall outside longitude/latitude after reprojection: the CRS is probably wrong, pass --crs",
            b[0], b[1]
        )));
    }
    Ok((to_wkb(&geo), b, repaired))
}

fn to_value(v: Option<FieldValue>, kind: FieldType) -> Value {
    let Some(v) = v else { return Value::Null };
    match (kind, v) {
        (FieldType::Integer, FieldValue::IntegerValue(i)) => Value::Integer(i as i64),
        (FieldType::Integer, FieldValue::Integer64Value(i)) => Value::Integer(i),
        (FieldType::Real, FieldValue::RealValue(f)) if f.is_finite() => Value::Real(f),
        (FieldType::Real, FieldValue::RealValue(_)) => Value::Null,
        (FieldType::Date, FieldValue::DateValue(d)) => {
            Value::Date(d.format("%Y-%m-%d").to_string())
        }
        (FieldType::Datetime, FieldValue::DateTimeValue(d)) => Value::Datetime(
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
        ),
        (_, FieldValue::StringValue(s)) => Value::Text(s.replace('\0', "")),
        (_, FieldValue::StringListValue(l)) => {
            Value::Text(serde_json::to_string(&l).unwrap_or_default())
        }
        (_, FieldValue::IntegerListValue(l)) => {
            Value::Text(serde_json::to_string(&l).unwrap_or_default())
        }
        (_, FieldValue::Integer64ListValue(l)) => {
            Value::Text(serde_json::to_string(&l).unwrap_or_default())
        }
        (_, FieldValue::RealListValue(l)) => {
            Value::Text(serde_json::to_string(&l).unwrap_or_default())
        }
        (_, FieldValue::IntegerValue(i)) => Value::Text(i.to_string()),
        (_, FieldValue::Integer64Value(i)) => Value::Text(i.to_string()),
        (_, FieldValue::RealValue(f)) => Value::Text(f.to_string()),
        (_, FieldValue::DateValue(d)) => Value::Text(d.to_string()),
        (_, FieldValue::DateTimeValue(d)) => Value::Text(d.to_rfc3339()),
    }
}
