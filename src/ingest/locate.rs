//! Which dataset an upload holds, and what kind: the file itself, or the one dataset in a
//! zip (safely unpacked); its first bytes checked against what its extension claims.

use std::path::{Path, PathBuf};

use super::{archive, invalid, IngestError, Job};

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

    pub(super) fn driver(self) -> &'static str {
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
    pub(super) fn drivers(self) -> &'static [&'static str] {
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

/// Picks the dataset inside an upload: the file itself, or the one dataset in a zip.
pub(super) fn locate(job: &Job) -> Result<(PathBuf, Kind), IngestError> {
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
