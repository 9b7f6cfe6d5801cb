//! Downloads: a layer's features — all of them, or the selection an items request makes —
//! written by GDAL into a file of one of six formats, in EPSG:4326 or a CRS asked for.
//! Features arrive in batches from the store and go straight into the file (bounded
//! memory: GeoPackage, Shapefile and FlatGeobuf need every feature before they are done,
//! so the file is made on disk first, then sent). Blocking: run it on a blocking thread.

use std::path::{Path, PathBuf};

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{Feature, FieldDefn, Geometry, LayerAccess, LayerOptions, OGRFieldType};
use gdal::{Dataset, DriverManager, Metadata};

use crate::model::{FieldType, GeomType, Layer, Value};
use crate::store::StoredFeature;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    GeoPackage,
    Shapefile,
    Csv,
    GeoJson,
    Kml,
    FlatGeobuf,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::GeoPackage,
        Format::Shapefile,
        Format::Csv,
        Format::GeoJson,
        Format::Kml,
        Format::FlatGeobuf,
    ];

    /// From an `f` parameter: `gpkg`, `shp`, `csv`, `geojson`, `kml`, `fgb`.
    pub fn parse(f: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|x| x.code() == f)
    }

    pub fn code(self) -> &'static str {
        match self {
            Format::GeoPackage => "gpkg",
            Format::Shapefile => "shp",
            Format::Csv => "csv",
            Format::GeoJson => "geojson",
            Format::Kml => "kml",
            Format::FlatGeobuf => "fgb",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::GeoPackage => "application/geopackage+sqlite3",
            Format::Shapefile => "application/zip",
            Format::Csv => "text/csv; charset=utf-8",
            Format::GeoJson => "application/geo+json",
            Format::Kml => "application/vnd.google-earth.kml+xml",
            Format::FlatGeobuf => "application/flatgeobuf",
        }
    }

    /// The file's extension (a Shapefile comes zipped).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Shapefile => "zip",
            f => f.code(),
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Format::GeoPackage => "GeoPackage",
            Format::Shapefile => "Shapefile (zip)",
            Format::Csv => "CSV (WKT)",
            Format::GeoJson => "GeoJSON",
            Format::Kml => "KML",
            Format::FlatGeobuf => "FlatGeobuf",
        }
    }

    /// Its code in the EU file-type vocabulary (FlatGeobuf has none yet).
    pub fn eu_file_type(self) -> Option<&'static str> {
        match self {
            Format::GeoPackage => Some("GPKG"),
            Format::Shapefile => Some("SHP"),
            Format::Csv => Some("CSV"),
            Format::GeoJson => Some("GEOJSON"),
            Format::Kml => Some("KML"),
            Format::FlatGeobuf => None,
        }
    }

    fn driver(self) -> &'static str {
        match self {
            Format::GeoPackage => "GPKG",
            Format::Shapefile => "ESRI Shapefile",
            Format::Csv => "CSV",
            Format::GeoJson => "GeoJSON",
            Format::Kml => "KML",
            Format::FlatGeobuf => "FlatGeobuf",
        }
    }

    /// Layer creation options: UTF-8 `.cpg` for Shapefiles, WKT and a BOM for CSV (so
    /// spreadsheets read the accents), RFC 7946 for GeoJSON in EPSG:4326, a spatial index
    /// for FlatGeobuf.
    fn options(self, wgs84: bool) -> Vec<&'static str> {
        match self {
            Format::Shapefile => vec!["ENCODING=UTF-8"],
            Format::Csv => vec!["GEOMETRY=AS_WKT", "WRITE_BOM=YES", "CREATE_CSVT=YES"],
            Format::GeoJson if wgs84 => vec!["RFC7946=YES", "WRITE_NAME=NO"],
            Format::FlatGeobuf => vec!["SPATIAL_INDEX=YES"],
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{0}")]
    Invalid(String),
    #[error("download: {0}")]
    Failed(String),
}

impl From<gdal::errors::GdalError> for DownloadError {
    fn from(e: gdal::errors::GdalError) -> Self {
        DownloadError::Failed(e.to_string())
    }
}

/// Checks that a format can be written in a CRS (KML is always EPSG:4326).
pub fn check(format: Format, epsg: u32) -> Result<(), DownloadError> {
    if format == Format::Kml && epsg != 4326 {
        return Err(DownloadError::Invalid(
            "KML is always in EPSG:4326: leave crs out, or choose another format".into(),
        ));
    }
    Ok(())
}

/// Writes the features `batches` yields into a new file of `format` in `dir`, in
/// `epsg`; the path of the finished file (a zip for a Shapefile).
pub fn write(
    layer: &Layer,
    format: Format,
    epsg: u32,
    dir: &Path,
    batches: impl Iterator<Item = Vec<StoredFeature>>,
) -> Result<PathBuf, DownloadError> {
    check(format, epsg)?;
    crate::ingest::gdal_env::init();
    let driver = DriverManager::get_driver_by_name(format.driver())?;
    let name = &layer.id;
    let path = match format {
        Format::Shapefile => dir.join("shp").join(format!("{name}.shp")),
        f => dir.join(format!("{name}.{}", f.extension())),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DownloadError::Failed(e.to_string()))?;
    }
    let wgs84 = srs(4326)?;
    let srs = srs(epsg)?;
    let transform = (epsg != 4326)
        .then(|| CoordTransform::new(&wgs84, &srs))
        .transpose()?;
    let mut ds = driver.create_vector_only(&path)?;
    let mut options: Vec<String> = format
        .options(epsg == 4326)
        .iter()
        .map(|o| o.to_string())
        .collect();
    if format == Format::GeoJson {
        // The licence travels in the file as FeatureCollection members.
        let members = serde_json::json!({
            "description": notice(layer),
            "license": licence_uri(layer),
            "attribution": layer.attribution,
        });
        options.push(format!("NATIVE_DATA={members}"));
        options.push("NATIVE_MEDIA_TYPE=application/vnd.geo+json".into());
    }
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let out = Out {
        layer,
        format,
        srs: &srs,
        transform: transform.as_ref(),
        options: &options,
    };
    if format == Format::GeoPackage {
        // One transaction: a feature each is slow.
        let mut t = ds.start_transaction()?;
        out.fill(&mut t, batches)?;
        t.commit()?;
    } else {
        out.fill(&mut ds, batches)?;
    }
    drop(ds);
    if format == Format::Shapefile {
        std::fs::write(path.with_file_name("LEGGIMI.txt"), notice(layer))
            .map_err(|e| DownloadError::Failed(e.to_string()))?;
        return zip_folder(&path.with_file_name(""), &dir.join(format!("{name}.zip")));
    }
    Ok(path)
}

/// What a file is written with.
struct Out<'a> {
    layer: &'a Layer,
    format: Format,
    srs: &'a SpatialRef,
    transform: Option<&'a CoordTransform>,
    options: &'a [&'a str],
}

impl Out<'_> {
    fn fill(
        &self,
        ds: &mut Dataset,
        batches: impl Iterator<Item = Vec<StoredFeature>>,
    ) -> Result<(), DownloadError> {
        let layer = self.layer;
        let mut out = ds.create_layer(LayerOptions {
            name: &layer.id,
            srs: Some(self.srs),
            ty: geometry_type(layer.geom_type),
            options: Some(self.options),
        })?;
        if self.format == Format::GeoPackage {
            // gpkg_contents: the title as identifier, the licence in the description.
            out.set_metadata_item("IDENTIFIER", &layer.title, "")?;
            out.set_metadata_item("DESCRIPTION", &notice(layer), "")?;
        }
        // By position, after the driver's own fields (KML's name and description): a
        // Shapefile cuts names to 10 characters.
        let base = out.defn().fields().count();
        for f in &layer.fields {
            FieldDefn::new(&f.name, field_type(f.kind, self.format))?.add_to_layer(&out)?;
        }
        let indexes: Vec<usize> = (base..base + layer.fields.len()).collect();
        if out.defn().fields().count() != base + indexes.len() {
            return Err(DownloadError::Failed(format!(
                "{} did not take the layer's {} fields",
                self.layer.id,
                indexes.len()
            )));
        }
        for batch in batches {
            for sf in batch {
                let mut feature = Feature::new(out.defn())?;
                for (&i, v) in indexes.iter().zip(&sf.values) {
                    set_value(&mut feature, i, v)?;
                }
                let mut geom = Geometry::from_wkb(&sf.wkb)?;
                if let Some(t) = self.transform {
                    geom.transform_inplace(t)?;
                }
                feature.set_geometry(geom)?;
                feature.create(&out)?;
            }
        }
        Ok(())
    }
}

/// The licence's URI (the national vocabulary's), or the stored text when unknown.
pub fn licence_uri(layer: &Layer) -> String {
    super::vocab::licence(&layer.licence)
        .map_or_else(|| layer.licence.clone(), super::vocab::uri_of)
}

/// What a file says of itself: title, description, licence and attribution, where the
/// format has room for it (a GeoPackage's contents, GeoJSON members, a Shapefile's
/// LEGGIMI.txt); every download also names its licence in a `Link` header.
pub fn notice(layer: &Layer) -> String {
    let licence = super::vocab::licence(&layer.licence).map_or(layer.licence.as_str(), |t| t.it);
    let mut out = format!("{}\n", layer.title);
    if !layer.description.trim().is_empty() {
        out.push_str(&format!("{}\n", layer.description.trim()));
    }
    out.push_str(&format!("\nLicenza: {licence} ({})\n", licence_uri(layer)));
    if !layer.attribution.trim().is_empty() {
        out.push_str(&format!("Attribuzione: {}\n", layer.attribution.trim()));
    }
    out.push_str(&format!("Scheda: /datasets/{}\n", layer.id));
    out
}

fn srs(epsg: u32) -> Result<SpatialRef, DownloadError> {
    let mut s = SpatialRef::from_epsg(epsg)
        .map_err(|_| DownloadError::Invalid(format!("EPSG:{epsg} is not a CRS PROJ knows")))?;
    s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(s)
}

fn geometry_type(g: GeomType) -> gdal::vector::OGRwkbGeometryType::Type {
    use gdal::vector::OGRwkbGeometryType as W;
    match g {
        GeomType::Point => W::wkbPoint,
        GeomType::MultiPoint => W::wkbMultiPoint,
        GeomType::MultiLineString => W::wkbMultiLineString,
        GeomType::MultiPolygon => W::wkbMultiPolygon,
    }
}

/// A field's type in the file: a Shapefile has dates but no times, and GDAL writes dates
/// in CSV and KML as `2049/12/31 23:00:00+00`: there they go as their ISO text (nothing
/// lost, and what a spreadsheet reads).
fn field_type(k: FieldType, format: Format) -> OGRFieldType::Type {
    let text = matches!(format, Format::Csv | Format::Kml);
    match k {
        FieldType::Datetime if text || format == Format::Shapefile => OGRFieldType::OFTString,
        FieldType::Date if text => OGRFieldType::OFTString,
        FieldType::Integer => OGRFieldType::OFTInteger64,
        FieldType::Real => OGRFieldType::OFTReal,
        FieldType::Text => OGRFieldType::OFTString,
        FieldType::Boolean => OGRFieldType::OFTInteger,
        FieldType::Date => OGRFieldType::OFTDate,
        FieldType::Datetime => OGRFieldType::OFTDateTime,
    }
}

fn set_value(f: &mut Feature, i: usize, v: &Value) -> Result<(), DownloadError> {
    match v {
        Value::Null => f.set_field_null(i)?,
        Value::Integer(n) => f.set_field_integer64(i, *n)?,
        Value::Real(x) => f.set_field_double(i, *x)?,
        Value::Boolean(b) => f.set_field_integer(i, i32::from(*b))?,
        // GDAL parses ISO dates and times from text for date and date-time fields.
        Value::Text(s) | Value::Date(s) | Value::Datetime(s) => f.set_field_string(i, s)?,
    }
    Ok(())
}

/// Zips the files of a folder (a Shapefile's .shp, .shx, .dbf, .prj, .cpg) flat.
fn zip_folder(folder: &Path, to: &Path) -> Result<PathBuf, DownloadError> {
    let fail = |e: &dyn std::fmt::Display| DownloadError::Failed(format!("zip: {e}"));
    let file = std::fs::File::create(to).map_err(|e| fail(&e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| fail(&e))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        zip.start_file(name, opts).map_err(|e| fail(&e))?;
        let mut src = std::fs::File::open(&p).map_err(|e| fail(&e))?;
        std::io::copy(&mut src, &mut zip).map_err(|e| fail(&e))?;
    }
    zip.finish().map_err(|e| fail(&e))?;
    let _ = std::fs::remove_dir_all(folder);
    Ok(to.to_path_buf())
}

/// Makes downloads within limits and keeps whole-layer files: one per layer state (its
/// version and last change, description included) and format, in `{cache_dir}/downloads` within
/// `download_cache_bytes`; selections (a box, a filter, another CRS) are made each time.
pub struct Downloader {
    cache: Option<std::sync::Arc<crate::diskcache::DiskCache>>,
    gate: crate::gate::Gate,
    /// The store's change-log identity: files are kept under it, so a replaced store or a
    /// restored backup never serves another's file.
    log: tokio::sync::OnceCell<String>,
}

/// A finished download: the open file and its size.
pub type Ready = (std::fs::File, u64);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error("too many downloads are being made: try again shortly")]
    Busy,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl Downloader {
    pub fn new(config: &crate::config::Config) -> Downloader {
        let dir = config.cache_dir.join("downloads");
        let cache = match crate::diskcache::DiskCache::open(&dir, config.download_cache_bytes) {
            Ok(c) => Some(std::sync::Arc::new(c)),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "download cache unavailable: whole-layer files are made each time");
                None
            }
        };
        Downloader {
            cache,
            gate: crate::gate::Gate::new("downloads", config.max_heavy_jobs, config.max_heavy_jobs),
            log: tokio::sync::OnceCell::new(),
        }
    }

    /// Where a layer's whole file of a format is kept: `{log}/{id}/{version}.{change_seq}/
    /// {id}.{ext}` (the layer's folder, that state's folder, the file). Its last change of
    /// any kind: the file carries the description and licence too.
    fn key(log: &str, layer: &Layer, format: Format) -> (PathBuf, PathBuf, PathBuf) {
        let folder = PathBuf::from(log).join(&layer.id);
        let state = folder.join(format!("{}.{}", layer.version, layer.change_seq));
        let file = state.join(format!("{}.{}", layer.id, format.extension()));
        (folder, state, file)
    }

    /// Size of the whole-layer file of `format` if it is made already (for catalogues).
    pub fn cached_size(&self, layer: &Layer, format: Format) -> Option<u64> {
        let c = self.cache.as_ref()?;
        let (_, _, key) = Downloader::key(self.log.get()?, layer, format);
        std::fs::metadata(c.root().join(key)).ok().map(|m| m.len())
    }

    /// The file of `layer`'s features that `q` selects, in `format` and `epsg`; `whole`
    /// when `q` selects every feature in EPSG:4326 (then it is kept for the next asker).
    pub async fn file(
        &self,
        store: &crate::store::DynStore,
        layer: &Layer,
        q: crate::store::ItemQuery,
        format: Format,
        epsg: u32,
        whole: bool,
    ) -> Result<Ready, ServeError> {
        check(format, epsg)?;
        let log = self.log.get_or_try_init(|| store.log_id()).await?;
        let (folder, state, key) = Downloader::key(log, layer, format);
        let cache = self.cache.clone().filter(|_| whole);
        if let Some(c) = cache.clone() {
            let k = key.clone();
            if let Ok(Some(ready)) = tokio::task::spawn_blocking(move || c.open_file(&k)).await {
                return Ok(ready);
            }
        }
        let _pass = self.gate.try_enter(&layer.org).ok_or(ServeError::Busy)?;
        let dir = tempfile::Builder::new()
            .prefix("atlante-download-")
            .tempdir()
            .map_err(|e| DownloadError::Failed(e.to_string()))?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<StoredFeature>>(2);
        let reader = {
            let (store, layer) = (store.clone(), layer.clone());
            tokio::spawn(async move { store.select_batches(&layer, &q, 2_000, tx).await })
        };
        let writer = {
            let (layer, path) = (layer.clone(), dir.path().to_path_buf());
            tokio::task::spawn_blocking(move || {
                let batches = std::iter::from_fn(move || rx.blocking_recv());
                write(&layer, format, epsg, &path, batches)
            })
        };
        let written = writer
            .await
            .map_err(|e| DownloadError::Failed(e.to_string()))?;
        reader
            .await
            .map_err(|e| DownloadError::Failed(e.to_string()))??;
        let path = written?;
        let ready = tokio::task::spawn_blocking(move || -> Result<Ready, DownloadError> {
            let failed = |e: std::io::Error| DownloadError::Failed(e.to_string());
            if let Some(c) = cache {
                // The layer's other states go: only the current one is asked for.
                for old in c.subdirs(&folder) {
                    if old != state {
                        c.remove_dir(&old);
                    }
                }
                c.put_file(&key, &path).map_err(failed)?;
                if let Some(ready) = c.open_file(&key) {
                    return Ok(ready);
                }
            }
            // Held open, the file outlives its folder.
            let file = std::fs::File::open(&path).map_err(failed)?;
            let len = file.metadata().map_err(failed)?.len();
            drop(dir);
            Ok((file, len))
        })
        .await
        .map_err(|e| DownloadError::Failed(e.to_string()))??;
        Ok(ready)
    }
}
