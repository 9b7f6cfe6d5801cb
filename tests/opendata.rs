//! Open data (issue 14), on both stores: a layer's catalogue description is checked
//! against the controlled vocabularies and edited without a new version; the DCAT-AP_IT
//! catalogue, in Turtle, RDF/XML and JSON-LD, conforms to SHACL shapes written from the
//! DCAT-AP_IT and DCAT-AP 3 texts (`tests/opendata/dcat_ap_it.shapes.ttl`), every shape
//! failing when its property is removed or mistyped (pyshacl and rdflib, from
//! `target/pyenv`: `scripts/test.sh` installs them); private layers never appear, and a
//! layer made private or deleted leaves the catalogue at once.

mod common;

use axum::body::Body;
use common::TestStore;
use serde_json::{json, Value};

async fn patch(app: &axum::Router, token: &str, id: &str, body: Value) -> common::Reply {
    common::request(
        app,
        "PATCH",
        &format!("/api/layers/{id}"),
        Some(token),
        Body::from(body.to_string()),
        &[("content-type", "application/json")],
    )
    .await
}

/// A private layer of Milano (`015146_canary`) that no public surface may show.
async fn private_canary(store: &atlante::store::DynStore) -> atlante::model::Layer {
    common::ingest_file(
        store,
        &common::demo("milano/aree_pedonali_ztl.geojson"),
        "015146",
        "canary",
        |o| o.visibility = None,
    )
    .await
    .unwrap()
    .0
}

async fn delete_layer(app: &axum::Router, token: &str, id: &str) -> common::Reply {
    common::request(
        app,
        "DELETE",
        &format!("/api/layers/{id}"),
        Some(token),
        Body::empty(),
        &[],
    )
    .await
}

/// Runs the SHACL validation and the three-syntax comparison; its JSON report.
fn validate(dir: &std::path::Path, ttl: &str, rdf: &str, jsonld: &str) -> Value {
    for (name, body) in [("c.ttl", ttl), ("c.rdf", rdf), ("c.jsonld", jsonld)] {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let python = common::repo().join("target/pyenv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/test.sh (it installs rdflib and pyshacl there)",
        python.display()
    );
    let out = std::process::Command::new(python)
        .arg(common::repo().join("tests/opendata/validate.py"))
        .arg(common::repo().join("tests/opendata/dcat_ap_it.shapes.ttl"))
        .args(["c.ttl", "c.rdf", "c.jsonld"].map(|n| dir.join(n)))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "validate.py: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "validate.py: {report:#}");
    report
}

async fn catalogue(app: &axum::Router) -> (String, String, String) {
    let mut out = Vec::new();
    for (file, media) in [
        ("dcat.ttl", "text/turtle"),
        ("dcat.rdf", "application/rdf+xml"),
        ("dcat.jsonld", "application/ld+json"),
    ] {
        let r = common::get(app, &format!("/catalog/{file}")).await;
        assert_eq!(r.status, 200, "{file}: {}", r.text());
        assert!(
            r.content_type().starts_with(media),
            "{file}: {}",
            r.content_type()
        );
        // The same by content negotiation on /catalog.
        let n = common::get_with(
            app,
            "/catalog",
            &[("accept", &format!("{media};q=0.9, */*;q=0.1"))],
        )
        .await;
        assert!(n.content_type().starts_with(media));
        assert_eq!(n.body.len(), r.body.len(), "{media} by Accept");
        out.push(r.text());
    }
    let [ttl, rdf, jsonld]: [String; 3] = out.try_into().unwrap();
    (ttl, rdf, jsonld)
}

async fn dcat_catalogue(t: TestStore) {
    let store = &t.store;
    let (nil, stops) = common::nil_and_stops(store).await;
    let canary = private_canary(store).await;
    assert_eq!(nil.licence, "CC-BY-4.0", "a new layer's default licence");
    store
        .set_org_contact("015146", None, Some("sit@comune.milano.it".into()))
        .await
        .unwrap();
    let (app, _cache) = common::app_with_cache(store).await;
    let token = common::token(store.as_ref(), "015146", "editor").await;

    // Terms outside the vocabularies, and malformed values, are refused; nothing changes.
    for (body, says) in [
        (
            json!({"licence": "GPL-3.0"}),
            "unknown licence 'GPL-3.0': use one of CC-BY-4.0",
        ),
        (
            json!({"eu_themes": ["REGI", "ROADS"]}),
            "unknown EU data theme 'ROADS'",
        ),
        (json!({"frequency": "hourly"}), "unknown frequency 'hourly'"),
        (
            json!({"contact_email": "sit at comune"}),
            "is not an e-mail address",
        ),
        (
            json!({"temporal_start": "2024-13-01"}),
            "temporal_start must be a date",
        ),
        (
            json!({"temporal_start": "2025-01-01", "temporal_end": "2024-01-01"}),
            "must not be after",
        ),
        (json!({"scale": -5}), "bad layer settings"),
        (json!({"keywords": ["a\u{7}b"]}), "keywords"),
    ] {
        let r = patch(&app, &token, &nil.id, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.text().contains(says), "{body}: {}", r.text());
    }
    let same = store.layer(&nil.id).await.unwrap().unwrap();
    assert_eq!(
        (same.meta.clone(), same.licence.clone()),
        (nil.meta.clone(), nil.licence.clone())
    );

    // A whole description: not a new version, the data's modification date unmoved.
    let r = patch(
        &app,
        &token,
        &nil.id,
        json!({
            "description": "I Nuclei di Identità Locale (NIL) del PGT di Milano",
            "licence": "iodl-2.0",
            "title_en": "Local identity districts (NIL)",
            "description_en": "Milan's 88 local identity districts",
            "keywords": ["quartieri", "PGT", "NIL"],
            "eu_themes": ["regi", "SOCI"],
            "frequency": "ANNUAL",
            "contact_email": "pgt@comune.milano.it",
            "temporal_start": "2020-01-01",
            "temporal_end": "2030-12-31",
            "lineage": "Digitised by the Comune di Milano for the PGT 2030.",
            "scale": 2000
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let after = store.layer(&nil.id).await.unwrap().unwrap();
    assert_eq!(after.version, nil.version);
    assert_eq!(after.data_updated_at, nil.data_updated_at);
    assert_eq!(after.licence, "IODL-2.0");
    assert_eq!(after.meta.eu_themes, ["REGI", "SOCI"]);
    assert_eq!(after.meta.frequency, "ANNUAL");
    assert_eq!(after.meta.scale, 2000);
    assert_eq!(
        r.json()["meta"]["keywords"],
        json!(["quartieri", "PGT", "NIL"])
    );
    // The record is complete but for the attribution.
    assert_eq!(r.json()["metadata_missing"], json!(["attribution"]));
    let fresh = common::get(&app, &format!("/api/layers/{}", stops.id)).await;
    assert_eq!(
        fresh.json()["metadata_missing"],
        json!([
            "description",
            "eu_themes",
            "frequency",
            "keywords",
            "contact_email",
            "lineage",
            "attribution"
        ])
    );

    // The catalogue: valid, the same graph in three syntaxes, every shape biting (a
    // download made first, so that its size is there too).
    let r = common::get(&app, &format!("/collections/{}/items?f=gpkg", nil.id)).await;
    assert_eq!(r.status, 200);
    let dir = tempfile::tempdir().unwrap();
    let (ttl, rdf, jsonld) = catalogue(&app).await;
    let report = validate(dir.path(), &ttl, &rdf, &jsonld);
    println!(
        "{}: DCAT-AP_IT catalogue {report}",
        t.location.split(':').next().unwrap_or("")
    );
    for needle in [
        "\"c_f205:015146_nil\"",
        "licences/A29_IODL20>",
        "data-theme/SOCI>",
        "frequency/ANNUAL>",
        "\"quartieri\"@it",
        "<mailto:pgt@comune.milano.it>",
        "\"cmmi\"",
        "\"2020-01-01\"^^xsd:date",
    ] {
        assert!(ttl.contains(needle), "{needle} missing from the catalogue");
    }
    for body in [&ttl, &rdf, &jsonld] {
        assert!(
            !body.contains(&canary.id),
            "a private layer in the catalogue"
        );
        assert!(body.contains(&stops.id));
    }

    // The dataset page (the IRI the catalogue gives): escaped, with schema.org JSON-LD.
    let r = patch(
        &app,
        &token,
        &stops.id,
        json!({"title": "Fermate <script>alert(1)</script> & co"}),
    )
    .await;
    assert_eq!(r.status, 200);
    let page = common::get(&app, &format!("/datasets/{}", stops.id)).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("Fermate &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    assert!(!html.contains("<script>alert"), "the title is text");
    assert!(page
        .header("content-security-policy")
        .contains("script-src 'self';"));
    let ld = html
        .split("<script type=\"application/ld+json\">")
        .nth(1)
        .unwrap();
    let ld: Value = serde_json::from_str(ld.split("</script>").next().unwrap()).unwrap();
    assert_eq!(ld["@type"], "Dataset");
    assert_eq!(ld["name"], "Fermate <script>alert(1)</script> & co");
    assert_eq!(ld["distribution"].as_array().unwrap().len(), 6);
    assert!(html.contains("items?f=gpkg"));
    let page = common::get(&app, &format!("/datasets/{}", nil.id))
        .await
        .text();
    assert!(
        page.contains("IODL 2.0") && page.contains("c_f205:015146_nil") && page.contains("1:2000")
    );
    assert_eq!(
        common::get(&app, &format!("/datasets/{}", canary.id))
            .await
            .status,
        404
    );
    let sitemap = common::get(&app, "/sitemap.xml").await.text();
    assert!(sitemap.contains(&format!("/datasets/{}</loc>", nil.id)));
    assert!(!sitemap.contains(&canary.id));

    // Withdrawal: made private, then deleted, a layer leaves the catalogue, its page and
    // the sitemap at once.
    let r = patch(&app, &token, &nil.id, json!({"visibility": "private"})).await;
    assert_eq!(r.status, 200);
    let (ttl, rdf, jsonld) = catalogue(&app).await;
    for body in [&ttl, &rdf, &jsonld] {
        assert!(
            !body.contains(&nil.id),
            "a layer made private is still catalogued"
        );
    }
    assert_eq!(
        common::get(&app, &format!("/datasets/{}", nil.id))
            .await
            .status,
        404
    );
    assert!(!common::get(&app, "/sitemap.xml")
        .await
        .text()
        .contains(&nil.id));
    let r = delete_layer(&app, &token, &stops.id).await;
    assert!(r.status.is_success(), "{}", r.text());
    let (ttl, _, _) = catalogue(&app).await;
    assert!(
        !ttl.contains(&stops.id),
        "a deleted layer is still catalogued"
    );
    assert_eq!(
        common::get(&app, &format!("/datasets/{}", stops.id))
            .await
            .status,
        404
    );
    assert!(!ttl.contains("dcat:dataset"), "no public layer left: {ttl}");
}

async fn organisations_carry_their_ipa_code(t: TestStore) {
    let store = &t.store;
    let milano = store.org("015146").await.unwrap().unwrap();
    assert_eq!(milano.ipa(), "c_f205");
    assert_eq!(store.org("cmm").await.unwrap().unwrap().ipa(), "cmmi");
    store
        .set_org_contact("015146", Some("c_f205_sit".into()), None)
        .await
        .unwrap();
    assert_eq!(
        store.org("015146").await.unwrap().unwrap().ipa(),
        "c_f205_sit"
    );
    let bad = store
        .set_org_contact("015146", Some("C F205".into()), None)
        .await;
    assert!(bad.is_err());
    store
        .set_org_contact("015146", Some(String::new()), None)
        .await
        .unwrap();
    // The same from the command line, which also lists the codes.
    let out = common::cli_ok(
        &t.location,
        &["orgs", "set", "015146", "--email", "sit@comune.milano.it"],
    );
    assert!(
        out.contains("IPA c_f205, contact sit@comune.milano.it"),
        "{out}"
    );
    let list = common::cli_ok(&t.location, &["orgs"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("015146") && l.contains("c_f205")),
        "{list}"
    );
    assert!(list
        .lines()
        .any(|l| l.starts_with("cmm") && l.contains("cmmi")));
    assert_eq!(store.org("015146").await.unwrap().unwrap().ipa(), "c_f205");

    // And over HTTP, for the organisation's admins only.
    let app = common::app(store).await;
    let admin = common::token(store.as_ref(), "015146", "admin").await;
    let editor = common::token(store.as_ref(), "015146", "editor").await;
    let patch_org = |token: String, body: Value| {
        let app = app.clone();
        async move {
            common::request(
                &app,
                "PATCH",
                "/api/orgs/015146",
                Some(&token),
                Body::from(body.to_string()),
                &[("content-type", "application/json")],
            )
            .await
        }
    };
    let r = patch_org(admin.clone(), json!({"ipa_code": "c_f205_sit"})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ipa_code"], "c_f205_sit");
    for (body, says) in [
        (json!({"ipa_code": "C F205"}), "IPA code"),
        (json!({"email": "nobody"}), "e-mail"),
        (json!({"name": "Milano 2"}), "unknown field"),
    ] {
        let r = patch_org(admin.clone(), body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.text().contains(says), "{body}: {}", r.text());
    }
    assert_eq!(
        patch_org(editor, json!({"ipa_code": "x_y"})).await.status,
        403
    );
    assert_eq!(
        store.org("015146").await.unwrap().unwrap().ipa(),
        "c_f205_sit"
    );
}

/// The upload form takes the description too; a bad one is refused before the file is
/// read, and no layer is made.
async fn the_upload_form_takes_the_description(t: TestStore) {
    let store = &t.store;
    let app = common::app(store).await;
    let token = common::token(store.as_ref(), "015146", "editor").await;
    let bytes = std::fs::read(common::demo("milano/atm_fermate_metro.geojson")).unwrap();
    let upload = |slug: &'static str, fields: Vec<(&'static str, &'static str)>| {
        let (ctype, body) = common::multipart("fermate.geojson", &bytes, &fields);
        let app = app.clone();
        let token = token.clone();
        async move {
            common::request(
                &app,
                "POST",
                &format!("/api/orgs/015146/layers/{slug}"),
                Some(&token),
                Body::from(body),
                &[("content-type", ctype.as_str())],
            )
            .await
        }
    };
    let r = upload("bad", vec![("licence", "GPL-3.0")]).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("unknown licence"));
    assert!(store.layer("015146_bad").await.unwrap().is_none());
    let r = upload(
        "fermate",
        vec![
            ("licence", "IODL-2.0"),
            ("eu_themes", "TRAN, REGI"),
            ("frequency", "ANNUAL"),
            ("keywords", "metro, fermate"),
            ("scale", "1000"),
        ],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let l = &r.json()["layer"];
    assert_eq!(l["licence"], "IODL-2.0");
    assert_eq!(l["meta"]["eu_themes"], json!(["TRAN", "REGI"]));
    assert_eq!(l["meta"]["keywords"], json!(["metro", "fermate"]));
    assert_eq!(l["meta"]["scale"], 1000);
}

/// A layer's history and the publishing figures come from the publication log: every
/// publish, rollback, visibility and description change and feature edit is there after
/// the versions are pruned and after the layer is deleted; downloads are counted.
async fn publication_log_and_dashboard(t: TestStore) {
    let store = &t.store;
    let (nil, stops) = common::nil_and_stops(store).await;
    let canary = private_canary(store).await;
    // Three more versions: only two old ones are kept.
    for _ in 0..3 {
        common::ingest_file(
            store,
            &common::demo("milano/nil_2020.geojson"),
            "015146",
            "nil",
            |_| {},
        )
        .await
        .unwrap();
    }
    let (app, _cache) = common::app_with_cache(store).await;
    let token = common::token(store.as_ref(), "015146", "editor").await;
    assert_eq!(
        patch(
            &app,
            &token,
            &nil.id,
            json!({"licence": "CC0-1.0", "keywords": ["NIL"]})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        patch(&app, &token, &nil.id, json!({"visibility": "private"}))
            .await
            .status,
        200
    );
    assert_eq!(
        patch(&app, &token, &nil.id, json!({"visibility": "public"}))
            .await
            .status,
        200
    );
    let r = common::request(
        &app,
        "POST",
        &format!("/api/layers/{}/rollback", nil.id),
        Some(&token),
        Body::empty(),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = common::request(
        &app,
        "PATCH",
        &format!("/collections/{}/items/1", nil.id),
        Some(&token),
        Body::from(json!({"properties": {}}).to_string()),
        &[("content-type", "application/merge-patch+json")],
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text());

    let kept = store.versions(&nil.id).await.unwrap();
    assert_eq!(
        kept.len(),
        3,
        "the published version and two more: {kept:?}"
    );
    let r = common::get(&app, &format!("/api/layers/{}/history", nil.id)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let history = r.json();
    let seen: Vec<String> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let changed: Vec<&str> = e["changed"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            format!(
                "{} v{} {}",
                e["kind"].as_str().unwrap(),
                e["version"],
                changed.join("+")
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            "published v1 ",
            "published v2 ",
            "published v3 ",
            "published v4 ",
            "meta v4 keywords+licence",
            "meta v4 visibility",
            "meta v4 visibility",
            "rolledback v3 ",
            "edited v3 ",
        ],
        "{history:#}"
    );
    assert_eq!(history[0]["feature_count"], 88);
    assert_eq!(history[8]["features"], 1);
    let page = common::get(&app, &format!("/datasets/{}", nil.id))
        .await
        .text();
    for needle in [
        "versione 1 pubblicata (88 oggetti)",
        "scheda modificata: keywords, licence",
        "reso privato",
        "reso pubblico",
        "riportato alla versione 3",
        "1 oggetti modificati in 1 modifiche",
        "data-style=\"/styles/015146_nil.json\"",
    ] {
        assert!(
            page.contains(needle),
            "{needle} missing from the dataset page"
        );
    }
    // Rolled back: the page, the record and the catalogue say the version now published.
    assert!(
        page.contains("(corrente: 3)"),
        "the page names the version now served"
    );
    let record = common::get(&app, &format!("/collections/catalog/items/{}", nil.id)).await;
    assert_eq!(record.json()["properties"]["featureCount"], 88);
    assert!(record.json()["properties"]["updated"]
        .as_str()
        .unwrap()
        .starts_with(&history[8]["at"].as_str().unwrap()[..10]));
    // The history of a private layer is its organisation's.
    let path = format!("/api/layers/{}/history", canary.id);
    assert_eq!(common::get(&app, &path).await.status, 404);
    let r = common::request(&app, "GET", &path, Some(&token), Body::empty(), &[]).await;
    assert_eq!(r.status, 200);

    // Downloads are counted, per dataset and format.
    for f in ["csv", "csv", "geojson"] {
        let r = common::get(&app, &format!("/collections/{}/items?f={f}", nil.id)).await;
        assert_eq!(r.status, 200);
    }
    let mut stats = Value::Null;
    for _ in 0..50 {
        stats = common::get(&app, "/stats?f=json").await.json();
        if stats["downloads"] == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let year = i64::from(chrono::Datelike::year(&chrono::Utc::now()));
    assert_eq!(stats["datasets"], 2, "{stats:#}");
    assert_eq!(stats["comuni"], 133);
    assert_eq!(stats["comuni_publishing"], 1);
    assert_eq!(stats["downloads"], 3);
    assert_eq!(
        stats["by_year"],
        json!([{"year": year, "published": 2, "withdrawn": 0,
                "published_by_zona": {"Milano": 2}}]),
        "{stats:#}"
    );
    let nil_row = stats["by_dataset"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == nil.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        nil_row["downloads_by_format"],
        json!({"csv": 2, "geojson": 1})
    );
    let milano = stats["by_org"].as_array().unwrap();
    assert_eq!(milano.len(), 1);
    assert_eq!(milano[0]["datasets"], 2);
    let html = common::get(&app, "/stats").await;
    assert!(html.text().contains("<svg") && html.text().contains(&stops.id));
    assert!(
        !html.text().contains(&canary.id),
        "a private layer on the dashboard"
    );
    assert!(!common::get(&app, "/stats?f=json")
        .await
        .text()
        .contains(&canary.id));

    // Deleted: withdrawn this year, its history kept in the store.
    let r = delete_layer(&app, &token, &stops.id).await;
    assert!(r.status.is_success());
    let stats = common::get(&app, "/stats?f=json").await.json();
    assert_eq!(stats["datasets"], 1);
    let by_id = format!(
        "/csw?service=CSW&version=2.0.2&request=GetRecordById&id={}",
        stops.id
    );
    assert!(!common::get(&app, &by_id)
        .await
        .text()
        .contains("csw:Record"));
    assert!(!common::get(&app, "/sitemap.xml")
        .await
        .text()
        .contains(&stops.id));
    assert_eq!(
        common::get(&app, &format!("/collections/catalog/items/{}", stops.id))
            .await
            .status,
        404
    );
    assert_eq!(stats["by_year"][0]["published"], 2);
    assert_eq!(stats["by_year"][0]["withdrawn"], 1);
    let kept = store.history(&stops.id, 100).await.unwrap();
    assert_eq!(
        kept.iter().map(|e| e.kind.name()).collect::<Vec<_>>(),
        ["published", "deleted"]
    );
    assert_eq!(kept[1].org.as_deref(), Some("015146"));
}

/// The catalogue as harvesters read it, from a running server on the demo: OWSLib's CSW
/// and OGC API - Records clients (`tests/opendata/harvest.py`: text and bbox constraints,
/// paging to the end, GetRecordById in ISO 19139 parsed into the right title, abstract,
/// keywords, bbox and licence), and GDAL's CSW driver; a private layer is in none of them,
/// and a layer made private leaves them at once.
async fn harvesters_read_the_catalogue(t: TestStore) {
    use atlante::store::LayerMetaUpdate;
    common::load_demo(&t.location);
    let store = &t.store;
    let nil = "015146_nil";
    store
        .update_layer_meta(
            nil,
            &LayerMetaUpdate {
                description: Some("I Nuclei di Identità Locale (NIL) del PGT di Milano".into()),
                licence: Some("IODL-2.0".into()),
                keywords: Some(vec!["quartieri".into(), "PGT".into()]),
                eu_themes: Some(vec!["REGI".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let canary = private_canary(store).await;
    store
        .update_layer_meta(
            &canary.id,
            &LayerMetaUpdate {
                description: Some("quartieri segreti".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let server = common::serve(&t.location);
    let base = server.url();

    let layers: Vec<_> = store
        .layers()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.visibility == "public")
        .collect();
    let ident = |l: &atlante::model::Layer| {
        format!(
            "{}:{}",
            if l.org == "cmm" { "cmmi" } else { "c_f205" },
            l.id
        )
    };
    // Near Legnano: only the metropolitan layers reach there.
    let bbox = [8.90, 45.58, 8.93, 45.60];
    let bbox_hits: Vec<String> = layers
        .iter()
        .filter(|l| {
            l.extent.is_some_and(|e| {
                e[0] <= bbox[2] && e[2] >= bbox[0] && e[1] <= bbox[3] && e[3] >= bbox[1]
            })
        })
        .map(ident)
        .collect();
    assert!(!bbox_hits.is_empty() && bbox_hits.len() < layers.len());
    let l = layers.iter().find(|l| l.id == nil).unwrap();
    let expected = json!({
        "all": layers.iter().map(ident).collect::<Vec<_>>(),
        "all_layers": layers.iter().map(|l| l.id.clone()).collect::<Vec<_>>(),
        "text": "quartieri",
        "text_hits": ["c_f205:015146_nil"],
        "bbox": bbox,
        "bbox_hits": bbox_hits,
        "record": {
            "identifier": "c_f205:015146_nil",
            "layer": nil,
            "title": l.title,
            "abstract": "I Nuclei di Identità Locale (NIL) del PGT di Milano",
            "keywords": ["quartieri", "PGT", "Regioni e città"],
            "bbox": l.extent.unwrap(),
            "licence_uri": "licences/A29_IODL20",
            "owner": store.org("015146").await.unwrap().unwrap().name,
        },
    });
    let python = common::repo().join("target/pyenv/bin/python");
    let out = std::process::Command::new(&python)
        .arg(common::repo().join("tests/opendata/harvest.py"))
        .arg(&base)
        .arg(expected.to_string())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "harvest.py: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}: harvested {report}", t.store.kind());

    // GDAL's CSW driver lists the records, and sends a bbox to the server.
    let ogrinfo = |extra: &[&str]| {
        let out = std::process::Command::new("ogrinfo")
            .args(["-ro", "-so", "-al"])
            .args(extra)
            .arg(format!("CSW:{base}/csw"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("Feature Count: "))
            .map(|n| n.trim().parse::<usize>().unwrap())
            .unwrap()
    };
    assert_eq!(ogrinfo(&[]), layers.len());
    assert_eq!(
        ogrinfo(&["-spat", "8.90", "45.58", "8.93", "45.60"]),
        expected["bbox_hits"].as_array().unwrap().len()
    );

    // Withdrawal: made private, the record leaves the CSW and Records at once.
    store
        .update_layer_meta(
            nil,
            &LayerMetaUpdate {
                visibility: Some("private".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let by_id = format!(
        "/csw?service=CSW&version=2.0.2&request=GetRecordById&id={nil}&outputSchema=http://www.isotc211.org/2005/gmd"
    );
    let mut gone = false;
    for _ in 0..50 {
        let (_, body) = common::http_get(server.port, &by_id).await.unwrap();
        if !String::from_utf8_lossy(&body).contains("MD_Metadata") {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "a layer made private is still in the CSW");
    let (status, _) = common::http_get(server.port, &format!("/collections/catalog/items/{nil}"))
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (_, body) = common::http_get(
        server.port,
        "/csw?service=CSW&version=2.0.2&request=GetRecords&resultType=hits",
    )
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&body)
        .contains(&format!("numberOfRecordsMatched=\"{}\"", layers.len() - 1)));
}

/// Bad CSW and Records requests get an exception naming what is wrong, hostile XML
/// included (a DTD, nesting, a huge body), and change nothing.
async fn catalogues_refuse_bad_requests(t: TestStore) {
    common::nil_and_stops(&t.store).await;
    let app = common::app(&t.store).await;
    let post = |body: String| {
        let app = app.clone();
        async move {
            common::request(
                &app,
                "POST",
                "/csw",
                None,
                Body::from(body),
                &[("content-type", "application/xml")],
            )
            .await
        }
    };
    let csw = "xmlns:csw=\"http://www.opengis.net/cat/csw/2.0.2\" xmlns:ogc=\"http://www.opengis.net/ogc\" xmlns:gml=\"http://www.opengis.net/gml\" service=\"CSW\" version=\"2.0.2\"";
    let with_filter = |f: &str| {
        format!("<csw:GetRecords {csw}><csw:Query typeNames=\"csw:Record\"><csw:Constraint version=\"1.1.0\"><ogc:Filter>{f}</ogc:Filter></csw:Constraint></csw:Query></csw:GetRecords>")
    };
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]><csw:GetRecords {csw}><csw:Query typeNames=\"csw:Record\"/>&lol2;</csw:GetRecords>"
    );
    let deep = with_filter(&format!(
        "{}{}",
        "<ogc:Not>".repeat(100),
        "</ogc:Not>".repeat(100)
    ));
    for (body, code, says) in [
        ("<csw:GetRecords".to_string(), "InvalidParameterValue", "not well-formed"),
        (laughs, "InvalidParameterValue", "not well-formed"),
        (deep, "InvalidParameterValue", "nested too deep"),
        (
            with_filter("<ogc:PropertyIsLike wildCard=\"%\" singleChar=\"_\" escapeChar=\"\\\"><ogc:PropertyName>secret_column</ogc:PropertyName><ogc:Literal>%</ogc:Literal></ogc:PropertyIsLike>"),
            "InvalidParameterValue",
            "unknown queryable &#39;secret_column&#39;",
        ),
        (
            with_filter("<ogc:BBOX><ogc:PropertyName>ows:BoundingBox</ogc:PropertyName><gml:Envelope srsName=\"EPSG:3003\"><gml:lowerCorner>1 2</gml:lowerCorner><gml:upperCorner>3 4</gml:upperCorner></gml:Envelope></ogc:BBOX>"),
            "InvalidParameterValue",
            "only WGS 84",
        ),
        (
            with_filter("<ogc:BBOX><ogc:PropertyName>ows:BoundingBox</ogc:PropertyName><gml:Envelope><gml:lowerCorner>9 NaN</gml:lowerCorner><gml:upperCorner>10 46</gml:upperCorner></gml:Envelope></ogc:BBOX>"),
            "InvalidParameterValue",
            "not two numbers",
        ),
        (
            format!("<csw:Transaction {csw}/>"),
            "OperationNotSupported",
            "Transaction is not supported",
        ),
        (
            format!("<csw:GetRecords {csw} maxRecords=\"-1\"><csw:Query typeNames=\"csw:Record\"/></csw:GetRecords>"),
            "InvalidParameterValue",
            "not a whole number",
        ),
    ] {
        let r = post(body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(
            r.text().contains(&format!("exceptionCode=\"{code}\"")) && r.text().contains(says),
            "{body}: {}",
            r.text()
        );
    }
    let huge = with_filter(&"<ogc:Not>".repeat(40_000));
    assert_eq!(post(huge).await.status, 413);
    for (uri, says) in [
        ("/csw?request=GetRecords", "version"),
        ("/csw?service=WFS&request=GetCapabilities", "service"),
        ("/csw?service=CSW&version=2.0.2&request=GetRecords&constraintLanguage=CQL_TEXT&constraint=AnyText%20like%20%27x%27", "CQL_TEXT"),
        ("/csw?service=CSW&version=2.0.2&request=GetRecordById", "id"),
        ("/csw?service=CSW&version=2.0.2&request=GetRecords&outputSchema=http://evil/", "outputSchema"),
    ] {
        let r = common::get(&app, uri).await;
        assert_eq!(r.status, 400, "{uri}");
        assert!(r.text().contains(says), "{uri}: {}", r.text());
    }
    for uri in [
        "/collections/catalog/items?bbox=1,2,3",
        "/collections/catalog/items?datetime=2024-02-30",
        "/collections/catalog/items?sortby=password",
        "/collections/catalog/items?limit=0",
        "/collections?bbox=abc",
    ] {
        let r = common::get(&app, uri).await;
        assert_eq!(r.status, 400, "{uri}: {}", r.text());
    }
    assert_eq!(
        common::get(&app, "/collections/catalog/items/015146_nope")
            .await
            .status,
        404
    );
}

both_stores!(
    catalogues_refuse_bad_requests,
    harvesters_read_the_catalogue,
    publication_log_and_dashboard,
    the_upload_form_takes_the_description,
    dcat_catalogue,
    organisations_carry_their_ipa_code
);
