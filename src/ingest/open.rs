//! Opening a source with its one allowed GDAL driver and reading what it is: the layer,
//! its attribute schema (safe column names, the originals kept as labels), its CRS and the
//! operation to EPSG:4326, and its geometry family.

use std::path::PathBuf;

use gdal::errors::CplErrType;
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{LayerAccess, OGRFieldType};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};

use super::locate::Kind;
use super::prepare::{prepare, Prepared};
use super::stream::{family_of, parse_family, prescan};
use super::{gdal_env, invalid, names, shapefile, IngestError, Job};
use crate::crs as proj;
use crate::model::{Field, FieldType, GeomType, SourceInfo};

/// More attribute columns than any real layer has; both stores take at least this many.
pub const MAX_FIELDS: usize = 1_000;

/// An opened source layer with everything settled for reading.
pub(super) struct Reader {
    pub(super) ds: Dataset,
    pub(super) layer_name: String,
    pub(super) display: String,
    pub(super) kind: Kind,
    pub(super) fields: Vec<Field>,
    pub(super) src_index: Vec<usize>,
    pub(super) geom_type: GeomType,
    pub(super) transform: Option<CoordTransform>,
    pub(super) source: SourceInfo,
    pub(super) expected: Option<u64>,
    pub(super) warnings: Vec<String>,
    /// The file the text comes from (the `.dbf` of a Shapefile), to tell a U+FFFD that is
    /// really in it from one a failed decoding made (looked at only if one turns up).
    pub(super) text_source: PathBuf,
}

fn parse_crs(s: &str) -> Option<SpatialRef> {
    let code = s.trim().to_ascii_uppercase();
    let n: u32 = code.strip_prefix("EPSG:").unwrap_or(&code).parse().ok()?;
    SpatialRef::from_epsg(n).ok()
}

fn crs_label(srs: &SpatialRef) -> String {
    match (srs.auth_name(), srs.auth_code()) {
        (Some(a), Ok(c)) => format!("{a}:{c}"),
        _ => srs.name().unwrap_or_else(|| "unnamed CRS".into()),
    }
}

/// Opens the dataset with the one driver its kind allows.
fn open_dataset(p: &Prepared, display: &str) -> Result<Dataset, IngestError> {
    let (path, kind, open_options) = (&p.path, p.kind, &p.open_options);
    let oo: Vec<&str> = open_options.iter().map(String::as_str).collect();
    let drivers = kind.drivers();
    let (opened, msgs) = gdal_env::capture(|| {
        Dataset::open_ex(
            path,
            DatasetOptions {
                open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
                allowed_drivers: Some(drivers),
                open_options: Some(&oo),
                sibling_files: None,
            },
        )
    });
    opened.map_err(|_| {
        let why = msgs
            .iter()
            .filter(|(c, _)| matches!(c, CplErrType::Failure | CplErrType::Fatal))
            .map(|(_, m)| m.as_str())
            .next_back()
            .unwrap_or("the file is not readable");
        invalid(
            display,
            format!("GDAL cannot read it as {}: {why}", kind.driver()),
        )
    })
}

impl Reader {
    /// Settles everything about the file (see [`prepare`]), opens it, and reads its layer,
    /// schema, CRS and geometry family.
    pub(super) fn open(job: &Job) -> Result<Reader, IngestError> {
        let display = job.display.clone();
        let prepared = prepare(job)?;
        let ds = open_dataset(&prepared, &display)?;
        let Prepared {
            path,
            kind,
            encoding,
            expected,
            raw_labels,
            mut warnings,
            ..
        } = prepared;
        let names: Vec<String> = ds.layers().map(|l| l.name()).collect();
        let layer_name = match (&job.opts.source_layer, names.len()) {
            (Some(want), _) if names.contains(want) => want.clone(),
            (Some(_), 1) if kind != Kind::GeoPackage => names[0].clone(),
            (Some(want), _) => {
                return Err(invalid(
                    &display,
                    format!(
                        "no layer '{want}' in the file; it has: {}",
                        names.join(", ")
                    ),
                ));
            }
            (None, 0) => return Err(invalid(&display, "the file holds no vector layer")),
            (None, 1) => names[0].clone(),
            (None, n) => {
                return Err(invalid(
                    &display,
                    format!(
                        "the file holds {n} layers ({}): choose one with --source-layer",
                        names.join(", ")
                    ),
                ));
            }
        };
        let mut layer = ds
            .layer_by_name(&layer_name)
            .map_err(|e| invalid(&display, e.to_string()))?;

        // Schema.
        let mut fields = Vec::new();
        let mut src_index = Vec::new();
        let mut labels = Vec::new();
        let gdal_fields: Vec<(String, u32)> = layer
            .defn()
            .fields()
            .map(|f| (f.name(), f.field_type()))
            .collect();
        if gdal_fields.len() > MAX_FIELDS {
            return Err(invalid(
                &display,
                format!(
                    "the layer has {} attribute columns; Atlante takes at most {MAX_FIELDS}: split the table",
                    gdal_fields.len()
                ),
            ));
        }
        let raw_labels = raw_labels.filter(|r| r.len() == gdal_fields.len());
        for (i, (name, ty)) in gdal_fields.iter().enumerate() {
            let kind = match *ty {
                OGRFieldType::OFTInteger | OGRFieldType::OFTInteger64 => FieldType::Integer,
                OGRFieldType::OFTReal => FieldType::Real,
                OGRFieldType::OFTDate => FieldType::Date,
                OGRFieldType::OFTDateTime => FieldType::Datetime,
                OGRFieldType::OFTBinary => {
                    warnings.push(format!("binary field '{name}' skipped"));
                    continue;
                }
                _ => FieldType::Text,
            };
            labels.push(raw_labels.as_ref().map_or(name.clone(), |r| r[i].clone()));
            src_index.push(i);
            fields.push(Field {
                name: String::new(),
                label: String::new(),
                kind,
            });
        }
        for ((f, name), label) in fields
            .iter_mut()
            .zip(names::column_names(&labels))
            .zip(labels)
        {
            f.name = name;
            f.label = label;
        }

        // CRS.
        let declared = layer.spatial_ref();
        let mut srs = match (&job.opts.crs, declared) {
            (Some(c), _) => parse_crs(c).ok_or_else(|| {
                IngestError::BadRequest(format!(
                    "unknown CRS '{c}': use an EPSG code such as EPSG:3003"
                ))
            })?,
            (None, Some(s)) => s,
            (None, None) if kind == Kind::Csv => {
                warnings.push(
                    "the CSV declares no CRS: read as EPSG:4326 (pass --crs otherwise)".into(),
                );
                SpatialRef::from_epsg(4326).map_err(|e| IngestError::Internal(e.to_string()))?
            }
            (None, None) => {
                return Err(invalid(&display, "the file declares no CRS (no .prj or an unreadable one): pass --crs, for example EPSG:3003"));
            }
        };
        let _ = srs.auto_identify_epsg();
        srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        let crs = crs_label(&srs);
        let mut wgs84 =
            SpatialRef::from_epsg(4326).map_err(|e| IngestError::Internal(e.to_string()))?;
        wgs84.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        let is_wgs84 = crs == "EPSG:4326"
            || srs.name().is_some_and(|n| {
                n.contains("WGS 84")
                    && srs.is_geographic()
                    && !srs.is_projected()
                    && n.contains("CRS84")
            });
        let (transform, transform_text) = if is_wgs84 {
            (None, "none: the source is already EPSG:4326".to_string())
        } else {
            let ct = CoordTransform::new(&srs, &wgs84).map_err(|e| {
                invalid(
                    &display,
                    format!("no transformation from {crs} to EPSG:4326: {e}"),
                )
            })?;
            let def = if crs.starts_with("EPSG:") {
                crs.clone()
            } else {
                srs.to_wkt().unwrap_or_default()
            };
            let sample = layer
                .get_extent()
                .map(|e| ((e.MinX + e.MaxX) / 2.0, (e.MinY + e.MaxY) / 2.0))
                .unwrap_or((0.0, 0.0));
            let text =
                proj::describe(&def, sample.0, sample.1).unwrap_or_else(|| "PROJ default".into());
            (Some(ct), text)
        };

        // Geometry family.
        let declared_geom = layer.defn().geom_fields().next().map(|g| g.field_type());
        let Some(declared_geom) = declared_geom else {
            return Err(invalid(&display, "the layer has no geometry column"));
        };
        let geom_type = match job.opts.geometry.as_deref() {
            Some(g) => parse_family(g).ok_or_else(|| {
                IngestError::BadRequest(format!(
                    "--geometry must be point, multipoint, line or polygon, not '{g}'"
                ))
            })?,
            None => match family_of(gdal::vector::geometry_type_flatten(declared_geom)) {
                Some(f) => f,
                None => prescan(&mut layer, &display)?,
            },
        };
        let source = SourceInfo {
            file: display.clone(),
            driver: kind.driver().into(),
            source_layer: layer_name.clone(),
            crs,
            transform: transform_text,
            encoding,
        };
        let text_source = match kind {
            Kind::Shapefile => shapefile::sibling(&path, "dbf").unwrap_or_else(|| path.clone()),
            _ => path.clone(),
        };
        Ok(Reader {
            text_source,
            ds,
            layer_name,
            display,
            kind,
            fields,
            src_index,
            geom_type,
            transform,
            source,
            expected,
            warnings,
        })
    }
}
