//! What must be settled before GDAL opens a file: the text encoding (a Shapefile's
//! `.cpg`, LDID or content; a CSV recoded to UTF-8 or refused), the raw Shapefile checks
//! GDAL does not make, and the driver's open options.

use std::path::PathBuf;

use super::locate::{locate, Kind};
use super::{encoding, invalid, shapefile, IngestError, Job};

/// What is settled about a file before GDAL opens it: the dataset inside an upload, its
/// kind, the text encoding (a Shapefile's `.cpg` or DBF, a CSV recoded to UTF-8), the
/// driver's open options, and what the raw Shapefile files say.
pub(super) struct Prepared {
    pub path: PathBuf,
    pub kind: Kind,
    pub encoding: String,
    pub open_options: Vec<String>,
    /// The feature count the `.shx` promises.
    pub expected: Option<u64>,
    /// The DBF's field names as written (GDAL's may be truncated or recoded).
    pub raw_labels: Option<Vec<String>>,
    pub warnings: Vec<String>,
}

pub(super) fn prepare(job: &Job) -> Result<Prepared, IngestError> {
    let display = job.display.clone();
    let mut warnings = Vec::new();
    let mut open_options: Vec<String> = Vec::new();
    let mut encoding = "UTF-8".to_string();
    let mut expected = None;
    let mut raw_labels: Option<Vec<String>> = None;
    let (mut path, kind) = locate(job)?;
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
                warnings.push("no .cpg: the DBF text is valid UTF-8 and was read as UTF-8".into());
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
    Ok(Prepared {
        path,
        kind,
        encoding,
        open_options,
        expected,
        raw_labels,
        warnings,
    })
}
