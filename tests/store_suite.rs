//! The behavioural suite every store must pass, run against the embedded GeoPackage and
//! PostGIS: real fixtures through real GDAL, versions, rollback, metadata, tokens.

mod common;

use atlante::model::{GeomType, Value};
use atlante::store::{checksum, LayerMetaUpdate, StoredFeature};
use common::{demo, fixture, ingest_file, ogrinfo_count, TestStore};

fn text_values(features: &[StoredFeature]) -> Vec<String> {
    features
        .iter()
        .flat_map(|f| f.values.iter())
        .filter_map(|v| match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// bbox [minx, miny, maxx, maxy] of little-endian 2D WKB, reading every coordinate.
fn wkb_bbox(wkb: &[u8]) -> [f64; 4] {
    fn rd(w: &[u8], o: &mut usize) -> u32 {
        let v = u32::from_le_bytes(w[*o..*o + 4].try_into().unwrap());
        *o += 4;
        v
    }
    fn pt(w: &[u8], o: &mut usize, b: &mut [f64; 4]) {
        let x = f64::from_le_bytes(w[*o..*o + 8].try_into().unwrap());
        let y = f64::from_le_bytes(w[*o + 8..*o + 16].try_into().unwrap());
        *o += 16;
        b[0] = b[0].min(x);
        b[1] = b[1].min(y);
        b[2] = b[2].max(x);
        b[3] = b[3].max(y);
    }
    fn geom(w: &[u8], o: &mut usize, b: &mut [f64; 4]) {
        *o += 1;
        match rd(w, o) {
            1 => pt(w, o, b),
            2 => (0..rd(w, o)).for_each(|_| pt(w, o, b)),
            3 => (0..rd(w, o)).for_each(|_| (0..rd(w, o)).for_each(|_| pt(w, o, b))),
            4..=7 => (0..rd(w, o)).for_each(|_| geom(w, o, b)),
            t => panic!("wkb type {t}"),
        }
    }
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    geom(wkb, &mut 0, &mut b);
    b
}

/// Largest distance in metres between the corners of two lon/lat boxes.
fn bbox_distance_m(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let lat = (a[1] + a[3]) / 2.0;
    let kx = 111_320.0 * lat.to_radians().cos();
    let ky = 110_540.0;
    [(0, 1), (2, 3)]
        .iter()
        .map(|&(i, j)| (((a[i] - b[i]) * kx).powi(2) + ((a[j] - b[j]) * ky).powi(2)).sqrt())
        .fold(0.0, f64::max)
}

/// The largest bbox-corner distance between features paired in order.
fn worst_distance_m(a: &[StoredFeature], b: &[StoredFeature]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| bbox_distance_m(&wkb_bbox(&a.wkb), &wkb_bbox(&b.wkb)))
        .fold(0.0, f64::max)
}

fn field_index(layer: &atlante::model::Layer, label: &str) -> usize {
    layer
        .fields
        .iter()
        .position(|f| f.label == label)
        .unwrap_or_else(|| panic!("no field {label}"))
}

async fn gauss_boaga_fixture_lands_within_5m(t: TestStore) {
    let zip = fixture("comuni_cmm_epsg3003_utf8.zip");
    let (layer, summary) = common::add_layer(&t.store, "cmm", "comuni_gb", &zip).await;
    assert_eq!(summary.written, ogrinfo_count(&zip));
    assert_eq!(layer.feature_count, 133);
    assert_eq!(layer.source.crs, "EPSG:3003");
    assert!(
        layer.source.transform.contains("Monte Mario"),
        "{}",
        layer.source.transform
    );
    let (orig, _) = common::add_layer(
        &t.store,
        "cmm",
        "comuni_wgs",
        &demo("cmm/comuni_cmm_openpolis.geojson"),
    )
    .await;
    let gb = t.store.scan(&layer).await.unwrap();
    let wgs = t.store.scan(&orig).await.unwrap();
    let gb_code = field_index(&layer, "PRO_COM_T");
    let wgs_code = field_index(&orig, "com_istat_code");
    let mut worst: f64 = 0.0;
    for f in &gb {
        let code = &f.values[gb_code];
        let o = wgs
            .iter()
            .find(|o| &o.values[wgs_code] == code)
            .expect("matching comune");
        worst = worst.max(bbox_distance_m(&wkb_bbox(&f.wkb), &wkb_bbox(&o.wkb)));
    }
    assert!(worst < 5.0, "worst corner distance {worst} m");
    let names = text_values(&gb);
    assert!(names.iter().any(|n| n == "Cassina de' Pecchi"));
    assert!(names.iter().any(|n| n == "Cornaredo"));
}

async fn rdn2008_cp1252_fixture_keeps_accents(t: TestStore) {
    let zip = fixture("aree_pedonali_ztl_epsg6707_cp1252.zip");
    let (layer, summary) = common::add_layer(&t.store, "015146", "ztl_utm", &zip).await;
    assert_eq!(summary.read, ogrinfo_count(&zip));
    assert_eq!(summary.written + summary.rejected, summary.read);
    assert_eq!(layer.source.crs, "EPSG:6707");
    assert_eq!(layer.source.encoding, "CP1252");
    let rows = t.store.scan(&layer).await.unwrap();
    let texts = text_values(&rows);
    assert!(
        texts.iter().any(|s| s.contains("proprietà")),
        "accents lost"
    );
    assert!(texts.iter().any(|s| s.contains("Teuliè")));
    assert!(
        !texts
            .iter()
            .any(|s| s.contains('Ã') || s.contains('\u{FFFD}')),
        "mojibake"
    );
    let (orig, _) = common::add_layer(
        &t.store,
        "015146",
        "ztl_wgs",
        &demo("milano/aree_pedonali_ztl.geojson"),
    )
    .await;
    let wgs = t.store.scan(&orig).await.unwrap();
    assert_eq!(rows.len(), wgs.len());
    let worst = worst_distance_m(&rows, &wgs);
    assert!(worst < 5.0, "worst corner distance {worst} m");
}

async fn utm_utf8_without_cpg_is_detected(t: TestStore) {
    let zip = fixture("scuole_mi_epsg32632_nocpg.zip");
    let (layer, summary) = common::add_layer(&t.store, "cmm", "scuole", &zip).await;
    assert_eq!(summary.written, ogrinfo_count(&zip));
    assert_eq!(layer.geom_type, GeomType::Point);
    assert_eq!(layer.source.crs, "EPSG:32632");
    assert_eq!(layer.source.encoding, "UTF-8");
    let rows = t.store.scan(&layer).await.unwrap();
    let texts = text_values(&rows);
    assert!(
        texts.iter().any(|s| s.contains('ò') || s.contains('à')),
        "accents lost"
    );
    assert!(
        !texts.iter().any(|s| s.contains("Ã")),
        "read as Latin-1: mojibake"
    );
    let (orig, _) =
        common::add_layer(&t.store, "cmm", "scuole_wgs", &fixture("scuole_mi.geojson")).await;
    let wgs = t.store.scan(&orig).await.unwrap();
    assert_eq!(rows.len(), wgs.len());
    let worst = worst_distance_m(&rows, &wgs);
    assert!(worst < 5.0, "worst distance {worst} m");
}

async fn versions_increment_and_rollback_restores(t: TestStore) {
    let s = &t.store;
    let (v1, _) = ingest_file(
        s,
        &demo("milano/atm_fermate_metro.geojson"),
        "015146",
        "fermate",
        |o| o.title = Some("Fermate".into()),
    )
    .await
    .unwrap();
    assert_eq!(v1.version, 1);
    let sum1 = checksum(s.as_ref(), &v1.id).await.unwrap();
    let (v2, _) = common::add_layer(
        s,
        "015146",
        "fermate",
        &demo("milano/atm_percorsi_metro.geojson"),
    )
    .await;
    assert_eq!(v2.version, 2);
    assert_eq!(v2.title, "Fermate", "title is kept across versions");
    assert_eq!(v2.geom_type, GeomType::MultiLineString);
    assert_ne!(checksum(s.as_ref(), &v1.id).await.unwrap(), sum1);
    let back = s.rollback(&v1.id).await.unwrap();
    assert_eq!(back.version, 1);
    assert_eq!(back.feature_count, 110);
    assert_eq!(checksum(s.as_ref(), &v1.id).await.unwrap(), sum1);
    // A new ingest after a rollback gets a fresh number and keeps the old ones.
    let (v3, _) = common::add_layer(
        s,
        "015146",
        "fermate",
        &demo("milano/atm_fermate_metro.geojson"),
    )
    .await;
    assert_eq!(v3.version, 3);
    assert_eq!(s.versions(&v1.id).await.unwrap(), vec![3, 2, 1]);
    let (v4, _) = common::add_layer(
        s,
        "015146",
        "fermate",
        &demo("milano/atm_fermate_metro.geojson"),
    )
    .await;
    assert_eq!(v4.version, 4);
    assert_eq!(
        s.versions(&v1.id).await.unwrap(),
        vec![4, 3, 2],
        "only two previous versions kept"
    );
    s.delete_layer(&v1.id).await.unwrap();
    assert!(s.layer(&v1.id).await.unwrap().is_none());
    assert!(s.rollback(&v1.id).await.is_err());
}

async fn catalog_metadata_and_orgs(t: TestStore) {
    let s = &t.store;
    let orgs = s.orgs().await.unwrap();
    assert_eq!(orgs.len(), 134);
    assert!(
        orgs.iter().all(|o| o.boundary.is_none()),
        "lists leave them out"
    );
    let with = s.orgs_with_boundaries().await.unwrap();
    assert_eq!(with.iter().filter(|o| o.boundary.is_some()).count(), 133);
    let milano = s.org("015146").await.unwrap().unwrap();
    assert_eq!(milano.name, "Milano");
    assert!(milano.boundary.is_some());
    let (l, _) = common::add_layer(s, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    assert_eq!(l.feature_count, 88);
    let e = l.extent.unwrap();
    assert!(
        e[0] > 9.0 && e[2] < 9.3 && e[1] > 45.3 && e[3] < 45.6,
        "{e:?}"
    );
    assert!(l.fields.iter().any(|f| f.label == "NIL" && f.name == "nil"));
    let u = LayerMetaUpdate {
        visibility: Some("private".into()),
        title: Some("NIL <b>".into()),
        ..Default::default()
    };
    let l2 = s.update_layer_meta(&l.id, &u).await.unwrap();
    assert_eq!(l2.visibility, "private");
    assert_eq!(l2.title, "NIL <b>");
    let bad = LayerMetaUpdate {
        visibility: Some("secret".into()),
        ..Default::default()
    };
    assert!(s.update_layer_meta(&l.id, &bad).await.is_err());
    use atlante::auth::{Auth, Denied};
    let token = common::token(s.as_ref(), "015146", "editor").await;
    let who = Auth::new(s.clone()).caller(&token).await.unwrap().unwrap();
    assert_eq!(who.org, "015146");
    assert_eq!(
        Auth::new(s.clone()).caller("atl_nope").await.unwrap(),
        Err(Denied::Unknown)
    );
    // Listed with its id, never its secret; revoked by id.
    let listed = s.tokens(Some("015146")).await.unwrap();
    assert!(listed
        .iter()
        .any(|t| t.id == who.token_id && t.revoked_at.is_none()));
    assert!(s.revoke_token(&who.token_id).await.unwrap());
    assert!(!s.revoke_token(&who.token_id).await.unwrap());
    assert_eq!(
        Auth::new(s.clone()).caller(&token).await.unwrap(),
        Err(Denied::Revoked)
    );
    // An expiry in the past.
    let old = atlante::auth::new_token();
    let h = atlante::auth::hash(&old);
    s.insert_token(&atlante::store::NewToken {
        id: atlante::auth::token_id(&h),
        hash: h,
        org: "015146".into(),
        role: "editor".into(),
        label: String::new(),
        expires_at: Some("2020-01-01T00:00:00.000Z".into()),
    })
    .await
    .unwrap();
    assert_eq!(
        Auth::new(s.clone()).caller(&old).await.unwrap(),
        Err(Denied::Expired)
    );
    assert!(
        atlante::auth::create_token(s.as_ref(), "999999", "editor", "", None)
            .await
            .is_err()
    );
}

async fn hostile_attribute_names_round_trip(t: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.geojson");
    std::fs::write(
        &path,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":
        {"order":"1","desc":"d","Nome Via":"Via Teuliè","nome-via":"x","Città":"Milano","select * from t; --":"s","":"empty","fid":7,"geom":"g","quo\"te":"q"},
        "geometry":{"type":"Point","coordinates":[9.19,45.46]}}]}"#,
    )
    .unwrap();
    let (layer, _) = common::add_layer(&t.store, "015146", "hostile", &path).await;
    let names: Vec<&str> = layer.fields.iter().map(|f| f.name.as_str()).collect();
    for n in &names {
        assert!(
            n.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
            "{n}"
        );
    }
    assert!(names.contains(&"order_") && names.contains(&"desc_") && names.contains(&"fid_"));
    let rows = t.store.scan(&layer).await.unwrap();
    assert!(text_values(&rows).contains(&"Via Teuliè".to_string()));
    let labels: Vec<&str> = layer.fields.iter().map(|f| f.label.as_str()).collect();
    assert!(labels.contains(&"Città") && labels.contains(&"quo\"te"));
}

/// A CSV saved by Excel in cp1252, with `--encoding cp1252`: recoded, accents intact.
async fn csv_in_cp1252_is_recoded(t: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("servizi.csv");
    std::fs::write(&p, b"nome,lon,lat\nCitt\xe0 di Milano,9.19,45.46\n").unwrap();
    let (l, _) = ingest_file(&t.store, &p, "015146", "servizi", |o| {
        o.encoding = Some("cp1252".into())
    })
    .await
    .unwrap();
    assert_eq!(l.source.encoding, "CP1252");
    let f = t.store.scan(&l).await.unwrap();
    assert_eq!(f[0].values[0], Value::Text("Città di Milano".into()));
}

/// A new layer is a draft (private) unless published; a new version keeps the visibility.
async fn uploads_are_drafts_until_published(t: TestStore) {
    let nil = demo("milano/nil_2020.geojson");
    let (l, _) = ingest_file(&t.store, &nil, "015146", "nil", |o| o.visibility = None)
        .await
        .unwrap();
    assert_eq!(l.visibility, "private");
    let u = LayerMetaUpdate {
        visibility: Some("public".into()),
        ..Default::default()
    };
    t.store.update_layer_meta(&l.id, &u).await.unwrap();
    let (l2, _) = ingest_file(&t.store, &nil, "015146", "nil", |o| o.visibility = None)
        .await
        .unwrap();
    assert_eq!((l2.version, l2.visibility.as_str()), (2, "public"));
    // A metadata change is a catalog change, not a data change.
    let l3 = t.store.update_layer_meta(&l.id, &u).await.unwrap();
    assert_eq!(l3.data_seq, l2.data_seq);
    assert!(l3.change_seq > l2.change_seq);
}

/// An ingest stages its rows in short transactions: while one is under way (rows sent, the
/// end not yet), another comune's metadata write goes through at once; the swap publishes it.
async fn writers_do_not_wait_for_an_ingest(t: TestStore) {
    use atlante::model::{Field, FieldType, PublishRequest, Row, SourceInfo};
    use atlante::store::Batch;
    let (other, _) =
        common::add_layer(&t.store, "015182", "nil", &demo("milano/nil_2020.geojson")).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let req = PublishRequest {
        org: "015146".into(),
        slug: "lento".into(),
        title: "Lento".into(),
        geom_type: GeomType::Point,
        fields: vec![Field {
            name: "n".into(),
            label: "n".into(),
            kind: FieldType::Integer,
        }],
        source: SourceInfo::default(),
        visibility: None,
    };
    let store = t.store.clone();
    let publishing = tokio::spawn(async move { store.publish(req, rx).await });
    let row = |i: i64| Row {
        wkb: atlante::geom::to_wkb(&geo_types::Geometry::Point(geo_types::Point::new(
            9.19, 45.46,
        ))),
        bbox: [9.19, 45.46, 9.19, 45.46],
        values: vec![Value::Integer(i)],
    };
    tx.send(Batch::Rows((0..2000).map(row).collect()))
        .await
        .unwrap();
    tx.send(Batch::Rows((0..2000).map(row).collect()))
        .await
        .unwrap();
    // The ingest is under way and not finished: another write does not wait for it.
    let u = LayerMetaUpdate {
        title: Some("NIL di Rho".into()),
        ..Default::default()
    };
    let write = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        t.store.update_layer_meta(&other.id, &u),
    )
    .await;
    assert!(
        matches!(write, Ok(Ok(_))),
        "the write waited for the ingest: {write:?}"
    );
    assert!(
        t.store.layer("015146_lento").await.unwrap().is_none(),
        "not published yet"
    );
    tx.send(Batch::Done(Default::default())).await.unwrap();
    let layer = publishing.await.unwrap().unwrap();
    assert_eq!(layer.feature_count, 4000);
    let leftovers: Vec<String> = common::table_names(&t)
        .await
        .into_iter()
        .filter(|n| n.contains("__st"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A staging table left by a crashed ingest (its process gone) is dropped when the store
/// opens again; the published layers are untouched.
async fn crashed_staging_is_removed_at_open(t: TestStore) {
    use sqlx::Connection;
    let (nil, _) =
        common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    let before = checksum(t.store.as_ref(), &nil.id).await.unwrap();
    let host = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let stmts = [
        "CREATE TABLE \"015146_nil__stdeadbeef\" (fid integer)".to_string(),
        format!(
            "INSERT INTO atlante_staging VALUES ('015146_nil__stdeadbeef', '015146_nil', '{host}', 999999999, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
        ),
    ];
    if t.location.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&t.location).await.unwrap();
        for s in &stmts {
            sqlx::query(s).execute(&mut c).await.unwrap();
        }
    } else {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", t.location))
            .await
            .unwrap();
        for s in &stmts {
            sqlx::query(s).execute(&mut c).await.unwrap();
        }
    }
    assert!(common::table_names(&t)
        .await
        .iter()
        .any(|n| n.ends_with("__stdeadbeef")));
    let reopened = atlante::store::open(&t.location).await.unwrap();
    assert!(!common::table_names(&t)
        .await
        .iter()
        .any(|n| n.ends_with("__stdeadbeef")));
    assert_eq!(checksum(reopened.as_ref(), &nil.id).await.unwrap(), before);
}

/// A feature edit logs each feature's box before and after it (what replicas and the tile
/// caches drop), keeps the layer's count, and is all or nothing: an edit naming a feature
/// that is not there changes nothing.
async fn edits_log_each_features_box_before_and_after(t: TestStore) {
    use atlante::model::Row;
    use atlante::store::changes::ChangeKind;
    use atlante::store::{Edit, StoreError};
    let s = &t.store;
    let (layer, _) = ingest_file(s, &demo("milano/nil_2020.geojson"), "015146", "nil", |_| {})
        .await
        .unwrap();
    let old = s.features_by_fid(&layer, &[1, 2]).await.unwrap();
    let seq = s
        .changes_since(0, 10_000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .seq;
    // A square 0.001° wide at (x, 45.5), the layer's type (MultiPolygon).
    let row = |x: f64| {
        let square = geo_types::Rect::new((x, 45.5), (x + 0.001, 45.501)).to_polygon();
        Row {
            wkb: atlante::geom::to_wkb(&geo_types::MultiPolygon(vec![square]).into()),
            bbox: [x, 45.5, x + 0.001, 45.501],
            values: layer.fields.iter().map(|_| Value::Null).collect(),
        }
    };
    let ids = s
        .edit(
            &layer,
            &[
                Edit::Replace(1, row(9.2)),
                Edit::Delete(2),
                Edit::Insert(row(9.3)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ids[..2], [1, 2]);
    let logged = s.changes_since(seq, 100).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].kind, ChangeKind::Edited);
    let f = &logged[0].features;
    assert_eq!(f.iter().map(|c| c.fid).collect::<Vec<_>>(), ids);
    // PostGIS reads a polygon's box from its float-rounded cache: within 1e-5°.
    let near = |a: Option<[f64; 4]>, b: [f64; 4]| {
        let a = a.expect("a box");
        assert!(
            a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5),
            "{a:?} vs {b:?}"
        );
    };
    near(f[0].before, wkb_bbox(&old[0].wkb));
    assert_eq!(f[0].after, Some(row(9.2).bbox));
    near(f[1].before, wkb_bbox(&old[1].wkb));
    assert_eq!(f[1].after, None);
    assert_eq!((f[2].before, f[2].after), (None, Some(row(9.3).bbox)));
    let now = s.layer(&layer.id).await.unwrap().unwrap();
    assert_eq!(now.feature_count, layer.feature_count);
    // A missing feature: NotFound, and the edit before it in the batch is undone.
    let one = s.features_by_fid(&now, &[1]).await.unwrap();
    let err = s
        .edit(&now, &[Edit::Replace(1, row(9.25)), Edit::Delete(999_999)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert_eq!(
        s.features_by_fid(&now, &[1]).await.unwrap()[0].wkb,
        one[0].wkb
    );
    assert_eq!(s.changes_since(seq, 100).await.unwrap().len(), 1);
}

both_stores!(
    writers_do_not_wait_for_an_ingest,
    crashed_staging_is_removed_at_open,
    csv_in_cp1252_is_recoded,
    uploads_are_drafts_until_published,
    gauss_boaga_fixture_lands_within_5m,
    rdn2008_cp1252_fixture_keeps_accents,
    utm_utf8_without_cpg_is_detected,
    versions_increment_and_rollback_restores,
    catalog_metadata_and_orgs,
    hostile_attribute_names_round_trip,
    edits_log_each_features_box_before_and_after,
);

/// The embedded store stays a GeoPackage GDAL opens without complaint, listing each
/// published layer (and no kept version or catalog table) with its features and attributes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpkg_store_is_a_valid_geopackage_for_gdal() {
    let t = common::gpkg().await;
    common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    common::nil_and_stops(&t.store).await;
    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-so", "-al", &t.location])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("Warning") && !stderr.contains("ERROR"),
        "{stderr}"
    );
    let layers: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Layer name: "))
        .collect();
    assert_eq!(layers, ["015146_nil", "015146_fermate", "atlante_orgs"]);
    assert!(stdout.contains("Feature Count: 88") && stdout.contains("Feature Count: 110"));
    assert!(
        stdout.contains("nil: String"),
        "attributes listed: {stdout}"
    );
    // Original names are the columns' aliases (GDAL's alternative names, QGIS's aliases).
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", t.location))
        .await
        .unwrap();
    let alias: String = sqlx::query_scalar(
        "SELECT name FROM gpkg_data_columns WHERE table_name = '015146_nil' AND column_name = 'nil'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(alias, "NIL");
}

/// `rtreecheck()` of the punti layer's R-tree ("ok" asserted), and how many entries it holds.
async fn rtree_checked(c: &mut sqlx::SqliteConnection) -> i64 {
    let ok: String = sqlx::query_scalar("SELECT rtreecheck('rtree_015146_punti_geom')")
        .fetch_one(&mut *c)
        .await
        .unwrap();
    assert_eq!(ok, "ok");
    sqlx::query_scalar("SELECT count(*) FROM rtree_015146_punti_geom")
        .fetch_one(&mut *c)
        .await
        .unwrap()
}

/// The GeoPackage R-tree written in bulk (three levels for 6,000 points) is one SQLite's
/// `rtreecheck()` finds whole, holds every feature, narrows boxes to a superset of what
/// the features' coordinates say (f32, rounded outward) — so items by bbox are exact — and
/// takes edits through the module afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpkg_rtree_is_packed_whole() {
    use atlante::store::{Edit, ItemQuery};
    use sqlx::Connection;
    let t = common::gpkg().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("punti.geojson");
    let points: Vec<[f64; 2]> = (0..6000)
        .map(|i| {
            let (a, r) = (i as f64 * 2.399_963, (i as f64).sqrt() * 0.0012);
            [9.19 + r * a.cos(), 45.46 + r * a.sin()]
        })
        .collect();
    let features: Vec<serde_json::Value> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            serde_json::json!({"type": "Feature", "properties": {"n": i},
                "geometry": {"type": "Point", "coordinates": p}})
        })
        .collect();
    let doc = serde_json::json!({"type": "FeatureCollection", "features": features});
    std::fs::write(&file, doc.to_string()).unwrap();
    let (layer, _) = common::add_layer(&t.store, "015146", "punti", &file).await;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", t.location))
        .await
        .unwrap();
    assert_eq!(rtree_checked(&mut c).await, 6000);
    let depth: Vec<u8> = sqlx::query_scalar(
        "SELECT substr(data, 1, 2) FROM rtree_015146_punti_geom_node WHERE nodeno = 1",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(depth, [0, 2], "three levels");
    for k in 0..20 {
        let (x, y) = (9.17 + k as f64 * 0.002, 45.45 + k as f64 * 0.001);
        let b = [x, y, x + 0.01, y + 0.008];
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM rtree_015146_punti_geom WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?",
        )
        .bind(b[0])
        .bind(b[2])
        .bind(b[1])
        .bind(b[3])
        .fetch_all(&mut c)
        .await
        .unwrap();
        ids.sort_unstable();
        let inside: Vec<i64> = (0..points.len())
            .filter(|&i| {
                let p = points[i];
                p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3]
            })
            .map(|i| i as i64 + 1)
            .collect();
        assert!(
            inside.iter().all(|i| ids.binary_search(i).is_ok()),
            "box {k}"
        );
        assert!(
            ids.len() <= inside.len() + 4,
            "box {k}: {} for {}",
            ids.len(),
            inside.len()
        );
        let (found, n) = t.store.items(&layer, &ItemQuery::bbox(b)).await.unwrap();
        assert_eq!(n as usize, inside.len(), "box {k}");
        assert!(found.iter().all(|f| inside.contains(&f.fid)));
    }
    // Edits go through the module: still whole.
    let row = |x: f64| atlante::model::Row {
        wkb: atlante::geom::to_wkb(&geo_types::Geometry::Point(geo_types::Point::new(x, 45.5))),
        bbox: [x, 45.5, x, 45.5],
        values: vec![Value::Integer(-1)],
    };
    t.store
        .edit(
            &layer,
            &[
                Edit::Insert(row(9.3)),
                Edit::Delete(1),
                Edit::Replace(2, row(9.31)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(rtree_checked(&mut c).await, 6000);
}

/// Converts a demo file with ogr2ogr (the conversion is GDAL's, the ingest is Atlante's).
fn convert(src: &std::path::Path, dst: &std::path::Path, args: &[&str]) {
    let st = std::process::Command::new("ogr2ogr")
        .args(args)
        .arg(dst)
        .arg(src)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "ogr2ogr {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// Every accepted format and the CRSs the issue names land where the EPSG:4326 original is.
async fn every_format_and_crs_lands_in_place(t: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let stops = demo("milano/atm_fermate_metro.geojson");
    let lines = demo("milano/atm_percorsi_metro.geojson");
    let (orig, _) = common::add_layer(&t.store, "015146", "orig", &stops).await;
    let reference = t.store.scan(&orig).await.unwrap();
    let d = |n: &str| dir.path().join(n);
    convert(
        &stops,
        &d("wkt.csv"),
        &["-f", "CSV", "-lco", "GEOMETRY=AS_WKT"],
    );
    convert(
        &stops,
        &d("xy.csv"),
        &["-f", "CSV", "-lco", "GEOMETRY=AS_XY"],
    );
    convert(&stops, &d("stops.kml"), &["-f", "KML"]);
    convert(&stops, &d("stops.gpkg"), &["-f", "GPKG", "-nln", "fermate"]);
    convert(
        &stops,
        &d("stops_3857.geojson"),
        &["-f", "GeoJSON", "-t_srs", "EPSG:3857", "-lco", "RFC7946=NO"],
    );
    convert(
        &stops,
        &d("stops_7791.geojson"),
        &["-f", "GeoJSON", "-t_srs", "EPSG:7791", "-lco", "RFC7946=NO"],
    );
    convert(
        &stops,
        &d("stops_3003.gpkg"),
        &["-f", "GPKG", "-t_srs", "EPSG:3003"],
    );
    convert(
        &lines,
        &d("lines_3003.dxf"),
        &["-f", "DXF", "-t_srs", "EPSG:3003"],
    );
    type Tweak = Box<dyn Fn(&mut atlante::ingest::IngestOptions)>;
    let cases: Vec<(&str, Tweak, &str)> = vec![
        ("wkt.csv", Box::new(|_| {}), "EPSG:4326"),
        ("xy.csv", Box::new(|_| {}), "EPSG:4326"),
        ("stops.kml", Box::new(|_| {}), "EPSG:4326"),
        (
            "stops.gpkg",
            Box::new(|o| o.source_layer = Some("fermate".into())),
            "EPSG:4326",
        ),
        ("stops_3857.geojson", Box::new(|_| {}), "EPSG:3857"),
        ("stops_7791.geojson", Box::new(|_| {}), "EPSG:7791"),
        ("stops_3003.gpkg", Box::new(|_| {}), "EPSG:3003"),
    ];
    for (i, (file, tweak, crs)) in cases.into_iter().enumerate() {
        let (layer, summary) =
            ingest_file(&t.store, &d(file), "015146", &format!("f{i}"), |o| tweak(o))
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(summary.written, 110, "{file}");
        assert_eq!(layer.source.crs, crs, "{file}");
        let rows = t.store.scan(&layer).await.unwrap();
        let worst = worst_distance_m(&rows, &reference);
        assert!(worst < 5.0, "{file}: {worst} m away");
        assert!(
            text_values(&rows).iter().any(|v| v.contains("DUOMO")),
            "{file}: attributes lost"
        );
    }
    // DXF carries no CRS: it needs --crs; its entities are lines here.
    let (dxf, s) = ingest_file(&t.store, &d("lines_3003.dxf"), "015146", "dxf", |o| {
        o.crs = Some("EPSG:3003".into())
    })
    .await
    .unwrap();
    assert_eq!(dxf.geom_type, GeomType::MultiLineString);
    assert!(s.written > 0);
    let (wgs, _) = common::add_layer(&t.store, "015146", "lines", &lines).await;
    let moved = bbox_distance_m(&dxf.extent.unwrap(), &wgs.extent.unwrap());
    assert!(
        moved < 5.0,
        "the DXF's extent is {moved} m from the original's"
    );
}

both_stores!(every_format_and_crs_lands_in_place);
