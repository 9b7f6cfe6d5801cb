//! The GDAL side of ingest, run on a blocking thread: find the dataset in the upload, open
//! it with one allowed driver, settle CRS, encoding and schema, then stream validated,
//! reprojected rows to the store.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gdal::cpl::CslStringList;
use gdal::errors::CplErrType;
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{FieldValue, Geometry, LayerAccess, OGRFieldType, OGRwkbGeometryType};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use indicatif::ProgressBar;
use tokio::sync::{mpsc, oneshot};

use super::{archive, encoding, gdal_env, names, shapefile, IngestError, IngestOptions};
use crate::crs as proj;
use crate::geom::{bbox, coerce, geo_kind, to_wkb};
use crate::model::{
    Field, FieldType, GeomType, IngestSummary, PublishRequest, Row, SourceInfo, Value,
};
use crate::store::Batch;

const BATCH: usize = 2_000;
const MAX_WARNINGS: usize = 20;
/// More attribute columns than any real layer has; both stores take at least this many.
pub const MAX_FIELDS: usize = 1_000;

/// The formats Atlante accepts, each opened by exactly one GDAL driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Shapefile,
    GeoPackage,
    GeoJson,
    Csv,
    Kml,
    Dxf,
}

impl Kind {
    pub fn from_extension(ext: &str) -> Option<Kind> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "shp" => Kind::Shapefile,
            "gpkg" => Kind::GeoPackage,
            "geojson" | "json" => Kind::GeoJson,
            "csv" => Kind::Csv,
            "kml" => Kind::Kml,
            "dxf" => Kind::Dxf,
            _ => return None,
        })
    }

    fn driver(self) -> &'static str {
        match self {
            Kind::Shapefile => "ESRI Shapefile",
            Kind::GeoPackage => "GPKG",
            Kind::GeoJson => "GeoJSON",
            Kind::Csv => "CSV",
            Kind::Kml => "KML",
            Kind::Dxf => "DXF",
        }
    }

    /// The GDAL drivers allowed to open this kind: for KML, LIBKML (which reads
    /// ExtendedData attributes) first, GDAL's own KML reader where LIBKML is missing.
    fn drivers(self) -> &'static [&'static str] {
        match self {
            Kind::Kml => &["LIBKML", "KML"],
            Kind::Shapefile => &["ESRI Shapefile"],
            Kind::GeoPackage => &["GPKG"],
            Kind::GeoJson => &["GeoJSON"],
            Kind::Csv => &["CSV"],
            Kind::Dxf => &["DXF"],
        }
    }
}

/// Everything the reader needs; owned, so it can move to the blocking thread.
pub struct Job {
    pub input: PathBuf,
    pub display: String,
    pub work: PathBuf,
    pub opts: IngestOptions,
    pub title: String,
    pub progress: ProgressBar,
}

fn invalid(file: &str, problem: impl Into<String>) -> IngestError {
    IngestError::Invalid {
        file: file.to_string(),
        problem: problem.into(),
    }
}

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

/// Picks the dataset inside an upload: the file itself, or the one dataset in a zip.
fn locate(job: &Job) -> Result<(PathBuf, Kind), IngestError> {
    let name = &job.display;
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let size = std::fs::metadata(&job.input)
        .map_err(|e| invalid(name, e.to_string()))?
        .len();
    if size == 0 {
        return Err(invalid(name, "the file is empty"));
    }
    let head = read_head(&job.input, 16);
    if ext == "zip" {
        if !head.starts_with(b"PK\x03\x04") {
            return Err(invalid(name, "not a zip archive"));
        }
        let dest = job.work.join("unzipped");
        std::fs::create_dir_all(&dest).map_err(|e| IngestError::Internal(e.to_string()))?;
        let files = archive::extract(&job.input, &dest, job.opts.max_bytes).map_err(|p| {
            if p.contains("zip bomb") {
                IngestError::TooLarge(format!("{name}: {p}"))
            } else {
                invalid(name, p)
            }
        })?;
        let mut found: Vec<(PathBuf, Kind)> = files
            .into_iter()
            .filter_map(|p| {
                let k = Kind::from_extension(p.extension()?.to_str()?)?;
                Some((p, k))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        if found.len() > 1 {
            if let Some(want) = &job.opts.source_layer {
                found.retain(|(p, _)| p.file_stem().and_then(|s| s.to_str()) == Some(want));
            }
        }
        return match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(IngestError::Unsupported {
                file: name.clone(),
                problem: "the archive holds no .shp, .gpkg, .geojson, .csv, .kml or .dxf file"
                    .into(),
            }),
            _ => Err(invalid(
                name,
                format!(
                    "the archive holds {} datasets ({}): choose one with --source-layer",
                    found.len(),
                    found
                        .iter()
                        .filter_map(|(p, _)| p.file_name()?.to_str().map(str::to_string))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        };
    }
    let kind = Kind::from_extension(&ext).ok_or_else(|| IngestError::Unsupported {
        file: name.clone(),
        problem: format!(
            "'.{ext}' files are not accepted: send a zipped Shapefile, GeoPackage, GeoJSON, CSV, KML or DXF"
        ),
    })?;
    match kind {
        Kind::GeoPackage if !head.starts_with(b"SQLite format 3\0") => {
            return Err(invalid(
                name,
                format!(
                    "not a GeoPackage (the file starts with {})",
                    describe_magic(&head)
                ),
            ));
        }
        Kind::GeoJson | Kind::Kml => {
            let first = head.iter().find(|b| !b.is_ascii_whitespace()).copied();
            let want = if kind == Kind::GeoJson { b'{' } else { b'<' };
            if first != Some(want) && first != Some(0xEF) {
                return Err(invalid(
                    name,
                    format!(
                        "not a {} file (it starts with {})",
                        kind.driver(),
                        describe_magic(&head)
                    ),
                ));
            }
        }
        _ => {}
    }
    if kind == Kind::Kml {
        // KML is XML: a DOCTYPE can declare entities that point at local files or the network.
        let start = String::from_utf8_lossy(&read_head(&job.input, 64 * 1024)).to_ascii_uppercase();
        if start.contains("<!DOCTYPE") || start.contains("<!ENTITY") {
            return Err(invalid(
                name,
                "KML with a DOCTYPE or entity declarations is refused (external entities)",
            ));
        }
    }
    Ok((job.input.clone(), kind))
}

fn read_head(p: &Path, n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0; n];
    let got = std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    buf.truncate(got);
    buf
}

fn describe_magic(head: &[u8]) -> String {
    if head.starts_with(b"\x89PNG") {
        "PNG image bytes".into()
    } else if head.starts_with(b"PK") {
        "zip bytes".into()
    } else if head.starts_with(b"%PDF") {
        "PDF bytes".into()
    } else {
        format!("{:02x?}", &head[..head.len().min(8)])
    }
}

/// An opened source layer with everything settled for reading.
struct Reader {
    ds: Dataset,
    layer_name: String,
    display: String,
    kind: Kind,
    fields: Vec<Field>,
    src_index: Vec<usize>,
    geom_type: GeomType,
    transform: Option<CoordTransform>,
    source: SourceInfo,
    expected: Option<u64>,
    warnings: Vec<String>,
    /// The file the text comes from (the `.dbf` of a Shapefile), to tell a U+FFFD that is
    /// really in it from one a failed decoding made (looked at only if one turns up).
    text_source: PathBuf,
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

impl Reader {
    fn open(job: &Job) -> Result<Reader, IngestError> {
        let (mut path, kind) = locate(job)?;
        let display = job.display.clone();
        let mut warnings = Vec::new();
        let mut open_options: Vec<String> = Vec::new();
        let mut encoding = "UTF-8".to_string();
        let mut expected = None;
        let mut raw_labels: Option<Vec<String>> = None;
        if kind == Kind::Shapefile {
            let shx_count = shapefile::check_shp(&path).map_err(|p| invalid(&display, p))?;
            let dbf = shapefile::sibling(&path, "dbf")
                .ok_or_else(|| invalid(&display, "the .dbf attribute table is missing"))?;
            let info = shapefile::read_dbf(&dbf).map_err(|p| invalid(&display, p))?;
            if info.records != shx_count {
                return Err(invalid(
                    &display,
                    format!(
                        "the .dbf has {} records but the .shx indexes {shx_count} shapes",
                        info.records
                    ),
                ));
            }
            expected = Some(shx_count);
            let cpg_name = format!(
                "{}.cpg",
                path.file_stem().and_then(|s| s.to_str()).unwrap_or("layer")
            );
            let cpg = match shapefile::read_cpg(&path) {
                None => None,
                Some(text) => match shapefile::gdal_encoding(&text) {
                    Some(e) => Some(e.to_string()),
                    None if job.opts.encoding.is_some() => None,
                    None => {
                        return Err(invalid(
                            &display,
                            format!(
                            "{cpg_name} declares the encoding '{}', which Atlante does not know: \
                                 pass --encoding (cp1252 or latin1 are usual for Italian data)",
                            text.chars().take(40).collect::<String>()
                        ),
                        ))
                    }
                },
            };
            encoding = match (&job.opts.encoding, cpg) {
                (Some(e), _) => shapefile::gdal_encoding(e)
                    .ok_or_else(|| {
                        IngestError::BadRequest(format!(
                            "unknown encoding '{}': use e.g. cp1252, latin1 or utf-8",
                            e.chars().take(40).collect::<String>()
                        ))
                    })?
                    .to_string(),
                (None, Some(c)) if c == "UTF-8" && info.has_non_ascii && !info.valid_utf8 => {
                    return Err(invalid(&display, format!("{cpg_name} says UTF-8 but the .dbf text is not UTF-8: pass --encoding (cp1252 or latin1 are usual)")));
                }
                (None, Some(c)) => c,
                (None, None) if !info.has_non_ascii => "UTF-8".into(),
                (None, None) if info.valid_utf8 => {
                    warnings
                        .push("no .cpg: the DBF text is valid UTF-8 and was read as UTF-8".into());
                    "UTF-8".into()
                }
                (None, None) if info.ldid != 0 => {
                    format!("DBF language driver 0x{:02x}", info.ldid)
                }
                (None, None) => {
                    return Err(invalid(&display, "the .dbf holds accented text but no .cpg declares its encoding and it is not UTF-8: pass --encoding (cp1252 or latin1 are usual)"));
                }
            };
            if !encoding.starts_with("DBF") {
                open_options.push(format!("ENCODING={encoding}"));
            }
            let dbf_is_utf8 = encoding == "UTF-8";
            raw_labels = Some(
                info.field_names
                    .iter()
                    .map(|b| {
                        if dbf_is_utf8 {
                            String::from_utf8_lossy(b).into_owned()
                        } else {
                            b.iter().map(|&c| c as char).collect()
                        }
                    })
                    .collect(),
            );
            let mut seen = std::collections::HashSet::new();
            for l in raw_labels.iter().flatten() {
                if !seen.insert(l.to_ascii_lowercase()) {
                    warnings.push(format!(
                        "the .dbf has the field name '{l}' twice; the copies were renamed"
                    ));
                }
            }
        } else if job.opts.encoding.is_some() && kind != Kind::Csv {
            warnings.push(format!(
                "--encoding is ignored for {}: it is UTF-8 by definition",
                kind.driver()
            ));
        }
        if kind == Kind::Csv {
            // GDAL reads CSV text as UTF-8: anything else is recoded first, from the
            // encoding the user names, or refused (never stored with replacement characters).
            let utf8 = encoding::is_utf8(&path).map_err(|e| invalid(&display, e.to_string()))?;
            match (utf8, &job.opts.encoding) {
                (true, None) => {}
                (_, Some(e)) => {
                    let from = shapefile::gdal_encoding(e).ok_or_else(|| {
                        IngestError::BadRequest(format!(
                            "unknown encoding '{}': use e.g. cp1252, latin1 or utf-8",
                            e.chars().take(40).collect::<String>()
                        ))
                    })?;
                    if from != "UTF-8" {
                        let recoded = job.work.join("recoded.csv");
                        encoding::recode_to_utf8(&path, &recoded, from)
                            .map_err(|p| invalid(&display, format!("read as {from}: {p}")))?;
                        path = recoded;
                        encoding = from.to_string();
                    } else if !utf8 {
                        return Err(invalid(&display, "--encoding says UTF-8 but the file is not UTF-8 text: pass the encoding it was saved in (cp1252 is usual for Excel)"));
                    }
                }
                (false, None) => {
                    return Err(invalid(&display, "the CSV is not UTF-8 text: pass --encoding (cp1252 is usual for files saved by Excel)"));
                }
            }
            open_options.extend(
                [
                    "X_POSSIBLE_NAMES=lon,lng,long,longitude,x,*_x,*longitud*,coord_x,est,easting",
                    "Y_POSSIBLE_NAMES=lat,latitude,y,*_y,*latitud*,coord_y,nord,northing",
                    "GEOM_POSSIBLE_NAMES=wkt,geom,geometry,the_geom,*wkt*",
                    "KEEP_GEOM_COLUMNS=NO",
                    "AUTODETECT_TYPE=YES",
                    "EMPTY_STRING_AS_NULL=YES",
                ]
                .map(String::from),
            );
        }
        let oo: Vec<&str> = open_options.iter().map(String::as_str).collect();
        let drivers = kind.drivers();
        let (opened, msgs) = gdal_env::capture(|| {
            Dataset::open_ex(
                &path,
                DatasetOptions {
                    open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
                    allowed_drivers: Some(drivers),
                    open_options: Some(&oo),
                    sibling_files: None,
                },
            )
        });
        let ds = opened.map_err(|_| {
            let why = msgs
                .iter()
                .filter(|(c, _)| matches!(c, CplErrType::Failure | CplErrType::Fatal))
                .map(|(_, m)| m.as_str())
                .next_back()
                .unwrap_or("the file is not readable");
            invalid(
                &display,
                format!("GDAL cannot read it as {}: {why}", kind.driver()),
            )
        })?;
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
        job.progress.set_length(total);
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
                    job.progress.set_position(summary.read);
                }
            }
            Ok(())
        });
        result?;
        if !batch.is_empty() {
            tx.blocking_send(Batch::Rows(batch))
                .map_err(|_| IngestError::StoreGone)?;
        }
        job.progress.set_position(summary.read);
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

fn parse_family(s: &str) -> Option<GeomType> {
    Some(match s.to_ascii_lowercase().as_str() {
        "point" => GeomType::Point,
        "multipoint" => GeomType::MultiPoint,
        "line" | "linestring" | "multilinestring" => GeomType::MultiLineString,
        "polygon" | "multipolygon" => GeomType::MultiPolygon,
        _ => return None,
    })
}

fn family_of(t: OGRwkbGeometryType::Type) -> Option<GeomType> {
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
fn prescan(layer: &mut gdal::vector::Layer, display: &str) -> Result<GeomType, IngestError> {
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
