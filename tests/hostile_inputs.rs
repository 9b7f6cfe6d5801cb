//! The corpus of malformed and hostile inputs. Each must give a clear error naming the
//! problem, nothing may panic, and the store must be exactly as it was: same published
//! checksum, same versions, no leftover tables.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use atlante::ingest::{IngestError, IngestOptions};
use atlante::store::checksum;
use common::{fixture, ingest_file, make_zip, table_names, unzip, TestStore};

type Tweak = Box<dyn Fn(&mut IngestOptions)>;

struct Case {
    name: &'static str,
    file: PathBuf,
    tweak: Tweak,
    /// A fragment the error message must contain (lower case).
    expect: &'static str,
}

fn case(name: &'static str, file: PathBuf, expect: &'static str) -> Case {
    Case {
        name,
        file,
        tweak: Box::new(|_| {}),
        expect,
    }
}

fn shp_parts(dir: &Path, zip: &str) -> Vec<(String, Vec<u8>)> {
    let sub = dir.join(format!("src-{zip}"));
    std::fs::create_dir_all(&sub).unwrap();
    unzip(&fixture(zip), &sub)
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// A zip of the fixture's parts after `edit`.
fn shp_variant(
    dir: &Path,
    zip: &str,
    out: &str,
    edit: impl Fn(&mut Vec<(String, Vec<u8>)>),
) -> PathBuf {
    let mut parts = shp_parts(dir, zip);
    edit(&mut parts);
    let path = dir.join(out);
    let entries: Vec<(&str, Vec<u8>)> =
        parts.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    make_zip(&path, &entries);
    path
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn ends(ext: &'static str) -> impl Fn(&(String, Vec<u8>)) -> bool {
    move |(n, _)| n.ends_with(ext)
}

fn corpus(dir: &Path) -> Vec<Case> {
    const GB: &str = "comuni_cmm_epsg3003_utf8.zip";
    const ZTL: &str = "aree_pedonali_ztl_epsg6707_cp1252.zip";
    let point = |x: &str, y: &str| {
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"a":1}},"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}]}}"#
        )
    };
    let deep = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":{}0{}}}}}]}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let valid_geojson = std::fs::read(common::demo("milano/atm_fermate_metro.geojson")).unwrap();
    let dxf = dir.join("lines.dxf");
    let st = Command::new("ogr2ogr")
        .args([
            "-f",
            "DXF",
            dxf.to_str().unwrap(),
            common::demo("milano/atm_percorsi_metro.geojson")
                .to_str()
                .unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "ogr2ogr DXF: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let two_layers = dir.join("two.gpkg");
    for (src, nln) in [
        ("milano/atm_fermate_metro.geojson", "a"),
        ("milano/atm_percorsi_metro.geojson", "b"),
    ] {
        let st = Command::new("ogr2ogr")
            .args([
                "-f",
                "GPKG",
                "-append",
                "-nln",
                nln,
                two_layers.to_str().unwrap(),
                common::demo(src).to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(st.status.success());
    }
    let plain_sqlite = dir.join("plain.gpkg");
    let st = Command::new("sqlite3")
        .arg(&plain_sqlite)
        .arg("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .output();
    if st.is_err() {
        std::fs::write(&plain_sqlite, b"SQLite format 3\0garbage").unwrap();
    }
    let mut gpkg_truncated = std::fs::read(&two_layers).unwrap();
    gpkg_truncated.truncate(gpkg_truncated.len() / 3);

    let mut v = vec![
        case(
            "truncated .shp",
            shp_variant(dir, GB, "trunc.zip", |p| {
                let s = p.iter_mut().find(|x| ends(".shp")(x)).unwrap();
                s.1.truncate(s.1.len() / 2);
            }),
            "truncated",
        ),
        case(
            "missing .dbf",
            shp_variant(dir, GB, "nodbf.zip", |p| p.retain(|x| !ends(".dbf")(x))),
            ".dbf",
        ),
        case(
            "missing .shx",
            shp_variant(dir, GB, "noshx.zip", |p| p.retain(|x| !ends(".shx")(x))),
            ".shx",
        ),
        case(
            "nonsense .prj",
            shp_variant(dir, GB, "badprj.zip", |p| {
                p.iter_mut().find(|x| ends(".prj")(x)).unwrap().1 =
                    b"PROJCS[\"nonsense\",GARBAGE]]]".to_vec();
            }),
            "crs",
        ),
        case(
            "missing .prj",
            shp_variant(dir, GB, "noprj.zip", |p| p.retain(|x| !ends(".prj")(x))),
            "crs",
        ),
        case(
            "Latin-1 text without .cpg",
            shp_variant(dir, ZTL, "nocpg.zip", |p| {
                p.retain(|x| !ends(".cpg")(x));
                p.iter_mut().find(|x| ends(".dbf")(x)).unwrap().1[29] = 0;
            }),
            "--encoding",
        ),
        case(
            ".cpg says UTF-8 over cp1252 text",
            shp_variant(dir, ZTL, "lyingcpg.zip", |p| {
                p.iter_mut().find(|x| ends(".cpg")(x)).unwrap().1 = b"UTF-8".to_vec();
            }),
            "not utf-8",
        ),
        case(
            "truncated .dbf",
            shp_variant(dir, GB, "truncdbf.zip", |p| {
                let d = p.iter_mut().find(|x| ends(".dbf")(x)).unwrap();
                d.1.truncate(d.1.len() - 500);
            }),
            ".dbf",
        ),
        case(
            ".shx indexes more shapes than the .dbf has",
            shp_variant(dir, GB, "mismatch.zip", |p| {
                let d = p.iter_mut().find(|x| ends(".dbf")(x)).unwrap();
                d.1[4..8].copy_from_slice(&100u32.to_le_bytes());
            }),
            "records",
        ),
        case(
            "damaged .shp header",
            shp_variant(dir, GB, "badheader.zip", |p| {
                p.iter_mut().find(|x| ends(".shp")(x)).unwrap().1[0..4].copy_from_slice(b"PNG!");
            }),
            "header",
        ),
        case(
            "zip slip ..",
            {
                let p = dir.join("slip.zip");
                make_zip(&p, &[("../evil.geojson", valid_geojson.clone())]);
                p
            },
            "unsafe path",
        ),
        case(
            "zip absolute path",
            {
                let p = dir.join("abs.zip");
                make_zip(&p, &[("/tmp/evil.geojson", valid_geojson.clone())]);
                p
            },
            "unsafe path",
        ),
        case(
            "zip symlink",
            {
                use std::io::Write;
                let p = dir.join("link.zip");
                let mut w = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
                w.add_symlink(
                    "x.geojson",
                    "/etc/passwd",
                    zip::write::SimpleFileOptions::default(),
                )
                .unwrap();
                w.start_file("y.txt", zip::write::SimpleFileOptions::default())
                    .unwrap();
                w.write_all(b"x").unwrap();
                w.finish().unwrap();
                p
            },
            "link",
        ),
        case(
            "zip bomb",
            {
                let p = dir.join("bomb.zip");
                make_zip(&p, &[("bomb.geojson", vec![b' '; 64 << 20])]);
                p
            },
            "zip bomb",
        ),
        case(
            "zip with two shapefiles",
            {
                let mut parts = shp_parts(dir, GB);
                let copies: Vec<(String, Vec<u8>)> = parts
                    .iter()
                    .map(|(n, b)| (format!("copy_{n}"), b.clone()))
                    .collect();
                parts.extend(copies);
                let p = dir.join("two.zip");
                let e: Vec<(&str, Vec<u8>)> =
                    parts.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
                make_zip(&p, &e);
                p
            },
            "--source-layer",
        ),
        case(
            "zip with no dataset",
            {
                let p = dir.join("readme.zip");
                make_zip(&p, &[("LEGGIMI.txt", b"ciao".to_vec())]);
                p
            },
            "holds no",
        ),
        case(
            "text renamed .zip",
            write(dir, "fake.zip", "not a zip"),
            "not a zip",
        ),
        case("empty file", write(dir, "empty.geojson", ""), "empty"),
        case(
            "PNG renamed .gpkg",
            write(dir, "image.gpkg", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            "png",
        ),
        case("plain SQLite renamed .gpkg", plain_sqlite, "gpkg"),
        case(
            "truncated GeoPackage",
            write(dir, "trunc.gpkg", gpkg_truncated),
            "gpkg",
        ),
        case(
            "GeoPackage with two layers",
            two_layers.clone(),
            "--source-layer",
        ),
        case(
            "GeoJSON with NaN",
            write(dir, "nan.geojson", point("NaN", "45.4")),
            "geometry",
        ),
        case(
            "GeoJSON nested 10k deep",
            write(dir, "deep.geojson", deep),
            "geojson",
        ),
        case(
            "GeoJSON cut in half",
            write(
                dir,
                "half.geojson",
                &valid_geojson[..valid_geojson.len() / 2],
            ),
            "geojson",
        ),
        case(
            "not JSON at all",
            write(dir, "hello.geojson", "hello"),
            "not a geojson",
        ),
        case(
            "Gauss-Boaga numbers declared as lon/lat",
            write(dir, "wrongcrs.geojson", point("1515032.29", "5034558.39")),
            "crs",
        ),
        case(
            "KML with an external entity",
            write(
                dir,
                "xxe.kml",
                r#"<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&xxe;</name><Point><coordinates>9.19,45.46</coordinates></Point></Placemark></kml>"#,
            ),
            "kml",
        ),
        case(
            "malformed KML",
            write(dir, "bad.kml", "<kml><Placemark><Point><coordinates>9,45"),
            "kml",
        ),
        case(
            "garbage DXF",
            write(dir, "bad.dxf", "0\nSECTION\n2\nGARBAGE\n"),
            "dxf",
        ),
        case("DXF without a CRS", dxf, "crs"),
        case(
            "CSV without coordinates",
            write(dir, "nocoords.csv", "nome,via\nuno,due\n"),
            "geometry",
        ),
        case(
            "CSV with latitude 160",
            write(dir, "lat.csv", "nome,lon,lat\nx,9.1,160\n"),
            "crs",
        ),
        case(
            "mixed geometry types",
            write(
                dir,
                "mixed.geojson",
                r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[9,45]}},{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[9,45],[9.1,45.1]]}}]}"#,
            ),
            "mixes",
        ),
        case("executable", write(dir, "virus.exe", "MZ"), "not accepted"),
        case(
            "a .cpg naming an unknown encoding",
            shp_variant(dir, ZTL, "klingon.zip", |p| {
                p.retain(|x| !ends(".cpg")(x));
                let stem = p[0].0.rsplit_once('.').unwrap().0.to_string();
                p.push((format!("{stem}.cpg"), b"KLINGON-42".to_vec()));
            }),
            "declares the encoding 'klingon-42'",
        ),
        case(
            "a CSV that is not UTF-8, no --encoding",
            write(
                dir,
                "cp1252.csv",
                b"nome,lon,lat\nCitt\xe0 di Milano,9.19,45.46\n",
            ),
            "not utf-8",
        ),
        case(
            "a CSV with 100,000 columns",
            {
                let names: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
                let values = vec!["1"; 100_000].join(",");
                write(
                    dir,
                    "wide.csv",
                    format!("lon,lat,{}\n9.19,45.46,{values}\n", names.join(",")),
                )
            },
            "attribute columns; atlante takes at most 1000",
        ),
    ];
    let mut add = |name: &'static str, file: PathBuf, expect: &'static str, tweak: Tweak| {
        v.push(Case {
            name,
            file,
            tweak,
            expect,
        })
    };
    add(
        "unknown EPSG code",
        write(dir, "ok1.geojson", &valid_geojson),
        "unknown crs",
        Box::new(|o| o.crs = Some("EPSG:999999".into())),
    );
    add(
        "CRS that is not a code",
        write(dir, "ok2.geojson", &valid_geojson),
        "unknown crs",
        Box::new(|o| o.crs = Some("/etc/passwd".into())),
    );
    add(
        "path-like slug",
        write(dir, "ok3.geojson", &valid_geojson),
        "slug",
        Box::new(|o| o.slug = "../../etc".into()),
    );
    add(
        "unknown organisation",
        write(dir, "ok4.geojson", &valid_geojson),
        "organisation",
        Box::new(|o| o.org = "999999".into()),
    );
    add(
        "unknown source layer",
        two_layers,
        "no layer",
        Box::new(|o| o.source_layer = Some("zzz".into())),
    );
    add(
        "unknown --encoding",
        write(dir, "cp1252b.csv", b"nome,lon,lat\nCitt\xe0,9.19,45.46\n"),
        "unknown encoding",
        Box::new(|o| o.encoding = Some("KLINGON-42".into())),
    );
    add(
        "wrong --encoding for the bytes",
        write(dir, "cp1252c.csv", b"nome,lon,lat\nCitt\xe0,9.19,45.46\n"),
        "not utf-8",
        Box::new(|o| o.encoding = Some("utf-8".into())),
    );
    add(
        "bad --geometry",
        write(dir, "ok5.geojson", &valid_geojson),
        "--geometry",
        Box::new(|o| o.geometry = Some("blob".into())),
    );
    v
}

async fn hostile_corpus_changes_nothing(t: TestStore) {
    let (layer, _) = common::add_layer(
        &t.store,
        "015146",
        "nil",
        &common::demo("milano/nil_2020.geojson"),
    )
    .await;
    let before = checksum(t.store.as_ref(), &layer.id).await.unwrap();
    let tables = table_names(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus(dir.path());
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    for c in cases {
        // Every case targets the published layer, so a partial write would show.
        let tweak = c.tweak;
        let got = ingest_file(&t.store, &c.file, "015146", "nil", |o| tweak(o)).await;
        let err = match got {
            Ok((l, s)) => panic!("{}: accepted ({} v{}, {:?})", c.name, l.id, l.version, s),
            Err(e) => e,
        };
        let msg = err.to_string();
        eprintln!("{:<45} → {msg}", c.name);
        assert!(
            !matches!(err, IngestError::Internal(_) | IngestError::StoreGone),
            "{}: {msg}",
            c.name
        );
        assert!(
            msg.to_lowercase().contains(c.expect),
            "{}: '{msg}' lacks '{}'",
            c.name,
            c.expect
        );
        // Errors name the user's file, never an internal table.
        assert!(
            !msg.contains("__v") && !msg.contains("atlante_") && !msg.contains("015146_nil"),
            "{}: '{msg}' names an internal table",
            c.name
        );
        if let IngestError::Invalid { file, .. } = &err {
            assert_eq!(
                file,
                c.file.file_name().unwrap().to_str().unwrap(),
                "{}",
                c.name
            );
        }
        assert_eq!(
            checksum(t.store.as_ref(), &layer.id).await.unwrap(),
            before,
            "{} changed the layer",
            c.name
        );
        assert_eq!(
            table_names(&t).await,
            tables,
            "{} left tables behind",
            c.name
        );
    }
    assert_eq!(t.store.versions(&layer.id).await.unwrap(), vec![1]);
}

both_stores!(hostile_corpus_changes_nothing);
