//! The route table: every route Atlante serves, as data. The router is built from it, the
//! OpenAPI document (`/api`) describes it, the audit log names writes by its `audit`
//! actions, and the tenancy matrix test (`tests/tenancy.rs`) reads it, so a route cannot
//! exist without a place in all four.

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put, MethodRouter};

use super::{admin, apps, catalog, features, opendata, records, tiles, upload, AppState};

/// What kind of work a route does: it sets its limits and groups its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Liveness and readiness.
    Health,
    /// Catalog documents, pages and assets: small reads.
    Catalog,
    /// OGC API - Features reads.
    Features,
    /// Vector tiles and their documents.
    Tiles,
    /// Published apps, their files and bundles.
    Apps,
    /// Writes: metadata, styles, apps, features, tokens.
    Write,
    /// Uploads: ingest of a file.
    Upload,
    /// Administration reads (tokens, audit).
    Admin,
}

impl Class {
    /// Its index in [`crate::metrics::CLASSES`].
    pub fn index(self) -> usize {
        match self {
            Class::Health => 0,
            Class::Catalog => 1,
            Class::Features => 2,
            Class::Tiles => 3,
            Class::Apps => 4,
            Class::Write => 5,
            Class::Upload => 6,
            Class::Admin => 7,
        }
    }
}

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// axum's syntax: `{param}`, `{*rest}`.
    pub path: &'static str,
    pub class: Class,
    /// The audit action of a write (every non-GET route has one).
    pub audit: Option<&'static str>,
    pub summary: &'static str,
}

const fn r(method: &'static str, path: &'static str, class: Class, summary: &'static str) -> Route {
    Route {
        method,
        path,
        class,
        audit: None,
        summary,
    }
}

const fn w(
    method: &'static str,
    path: &'static str,
    class: Class,
    audit: &'static str,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        class,
        audit: Some(audit),
        summary,
    }
}

use Class::*;

pub const ROUTES: &[Route] = &[
    r(
        "GET",
        "/",
        Catalog,
        "Landing page (JSON, or the viewer in a browser)",
    ),
    r("GET", "/health", Health, "Liveness"),
    r("GET", "/ready", Health, "Readiness: the store answers"),
    r("GET", "/conformance", Catalog, "Conformance classes"),
    r("GET", "/api", Catalog, "This API's OpenAPI 3.0 description"),
    r("GET", "/api/orgs", Catalog, "Organisations"),
    r("GET", "/api/orgs/{org}", Catalog, "One organisation"),
    r("GET", "/api/layers", Catalog, "Layers the caller may see"),
    r("GET", "/api/layers/{id}", Catalog, "One layer"),
    w(
        "PATCH",
        "/api/layers/{id}",
        Write,
        "layer.update",
        "Change a layer's metadata or visibility",
    ),
    w(
        "POST",
        "/api/layers/{id}/rollback",
        Write,
        "layer.rollback",
        "Publish the previous version again",
    ),
    w(
        "DELETE",
        "/api/layers/{id}",
        Write,
        "layer.delete",
        "Delete a layer",
    ),
    w(
        "POST",
        "/api/orgs/{org}/layers/{slug}",
        Upload,
        "layer.upload",
        "Upload a file as a new version of a layer",
    ),
    r(
        "GET",
        "/api/viewer-config",
        Catalog,
        "What the viewer needs from the configuration",
    ),
    r("GET", "/api/me", Catalog, "Who a token is"),
    r(
        "GET",
        "/api/vocabularies",
        Catalog,
        "The licences, EU themes and frequencies a layer's description may use",
    ),
    w(
        "PATCH",
        "/api/orgs/{org}",
        Write,
        "org.update",
        "An organisation's IPA code override and open-data e-mail (its admins)",
    ),
    r(
        "GET",
        "/api/orgs/{org}/tokens",
        Admin,
        "An organisation's tokens (its admins)",
    ),
    w(
        "POST",
        "/api/orgs/{org}/tokens",
        Write,
        "token.create",
        "Create a token (its admins)",
    ),
    w(
        "DELETE",
        "/api/orgs/{org}/tokens/{token}",
        Write,
        "token.revoke",
        "Revoke a token (its admins)",
    ),
    r(
        "GET",
        "/api/audit",
        Admin,
        "The audit log (an organisation's admins; all for a metropolitan admin)",
    ),
    r(
        "GET",
        "/metrics",
        Admin,
        "Prometheus metrics (a metropolitan admin's token, or on metrics_listen)",
    ),
    r(
        "GET",
        "/collections",
        Features,
        "Collections (searchable: q, bbox, datetime, type, ids, sortby — OGC API - Records local resources)",
    ),
    r(
        "GET",
        "/collections/catalog",
        Catalog,
        "The record collection of the public datasets (OGC API - Records)",
    ),
    r(
        "GET",
        "/collections/catalog/items",
        Catalog,
        "Records: q, bbox, datetime, type, ids, externalIds, sortby, limit, offset",
    ),
    r(
        "GET",
        "/collections/catalog/items/{rid}",
        Catalog,
        "One record (layer id or IPA identifier)",
    ),
    r("GET", "/collections/{id}", Features, "A collection"),
    r(
        "GET",
        "/collections/{id}/items",
        Features,
        "Features of a collection",
    ),
    w(
        "POST",
        "/collections/{id}/items",
        Write,
        "feature.create",
        "Add features (OGC API - Features Part 4)",
    ),
    r(
        "GET",
        "/collections/{id}/queryables",
        Features,
        "Queryable properties of a collection",
    ),
    r(
        "GET",
        "/collections/{id}/items/{fid}",
        Features,
        "One feature",
    ),
    w(
        "PUT",
        "/collections/{id}/items/{fid}",
        Write,
        "feature.replace",
        "Replace a feature",
    ),
    w(
        "PATCH",
        "/collections/{id}/items/{fid}",
        Write,
        "feature.update",
        "Update a feature (JSON merge patch)",
    ),
    w(
        "DELETE",
        "/collections/{id}/items/{fid}",
        Write,
        "feature.delete",
        "Delete a feature",
    ),
    r(
        "GET",
        "/collections/{id}/tiles",
        Tiles,
        "Tilesets of a collection (OGC API - Tiles)",
    ),
    r(
        "GET",
        "/collections/{id}/tiles/{tms}",
        Tiles,
        "A tileset of a collection",
    ),
    r(
        "GET",
        "/collections/{id}/tiles/{tms}/{z}/{row}/{col}",
        Tiles,
        "A tile of a collection",
    ),
    r("GET", "/tileMatrixSets", Tiles, "Tile matrix sets"),
    r("GET", "/tileMatrixSets/{id}", Tiles, "A tile matrix set"),
    r(
        "GET",
        "/tiles/{spec}",
        Tiles,
        "TileJSON of one or more layers (`{ids}.json`)",
    ),
    r(
        "GET",
        "/basemap/{z}/{x}/{y}",
        Tiles,
        "A vector tile of the base map: comuni and zone omogenee with names (`{y}.mvt`)",
    ),
    r("GET", "/basemap.json", Tiles, "The base map's TileJSON"),
    r(
        "GET",
        "/backgrounds/{file}",
        Tiles,
        "A background's PMTiles archive (`{id}.pmtiles`, with range requests)",
    ),
    r("GET", "/fonts", Catalog, "The fonts map labels may use"),
    r(
        "GET",
        "/fonts/{fontstack}/{range}",
        Tiles,
        "A MapLibre glyph range of a fontstack (`{start}-{end}.pbf`)",
    ),
    r(
        "GET",
        "/tiles/{layers}/{z}/{x}/{y}",
        Tiles,
        "A vector tile of one or more layers (`{y}.mvt`)",
    ),
    r(
        "GET",
        "/styles/{spec}",
        Catalog,
        "A layer's MapLibre style (`{id}.json`)",
    ),
    r(
        "GET",
        "/api/layers/{id}/style",
        Catalog,
        "A layer's saved style",
    ),
    r(
        "GET",
        "/api/layers/{id}/style/proposal",
        Catalog,
        "A style proposed from the layer's data, for its owner (`kind`, `field`, `classes`, `breaks`, `color`)",
    ),
    w(
        "PUT",
        "/api/layers/{id}/style",
        Write,
        "style.save",
        "Save a layer's style",
    ),
    w(
        "DELETE",
        "/api/layers/{id}/style",
        Write,
        "style.delete",
        "Back to the default style",
    ),
    r(
        "GET",
        "/api/orgs/{org}/apps",
        Catalog,
        "An organisation's apps",
    ),
    r(
        "GET",
        "/api/orgs/{org}/apps/{slug}",
        Catalog,
        "An app's configuration",
    ),
    w(
        "PUT",
        "/api/orgs/{org}/apps/{slug}",
        Write,
        "app.save",
        "Save an app's configuration",
    ),
    w(
        "DELETE",
        "/api/orgs/{org}/apps/{slug}",
        Write,
        "app.delete",
        "Delete an app",
    ),
    w(
        "POST",
        "/api/orgs/{org}/apps/{slug}/preview",
        Write,
        "app.preview",
        "The style and config an unsaved configuration gives",
    ),
    w(
        "POST",
        "/api/orgs/{org}/apps/{slug}/publish",
        Write,
        "app.publish",
        "Publish an app",
    ),
    w(
        "POST",
        "/api/orgs/{org}/apps/{slug}/unpublish",
        Write,
        "app.unpublish",
        "Unpublish an app",
    ),
    r(
        "GET",
        "/apps/{org}/{slug}",
        Apps,
        "A published app (redirects to its folder)",
    ),
    r("GET", "/apps/{org}/{slug}/", Apps, "A published app"),
    r(
        "GET",
        "/apps/{org}/{slug}/{*file}",
        Apps,
        "A file of a published app, or its bundle.zip",
    ),
    r(
        "GET",
        "/catalog",
        Catalog,
        "The DCAT-AP_IT catalogue of the public layers (Turtle, RDF/XML or JSON-LD by Accept)",
    ),
    r(
        "GET",
        "/catalog/{file}",
        Catalog,
        "The DCAT-AP_IT catalogue as `dcat.ttl`, `dcat.rdf` or `dcat.jsonld`",
    ),
    r(
        "GET",
        "/datasets/{id}",
        Catalog,
        "A public layer's dataset page (HTML, schema.org JSON-LD)",
    ),
    r("GET", "/sitemap.xml", Catalog, "The dataset pages, for search engines"),
    r(
        "GET",
        "/csw",
        Catalog,
        "CSW 2.0.2 (KVP): GetCapabilities, DescribeRecord, GetRecords, GetRecordById; Dublin Core or ISO 19139 (RNDT)",
    ),
    r("POST", "/csw", Catalog, "CSW 2.0.2 (XML requests)"),
    r(
        "GET",
        "/api/layers/{id}/history",
        Catalog,
        "A layer's publication log: versions, rollbacks, visibility, description edits",
    ),
    r(
        "GET",
        "/stats",
        Catalog,
        "The open-data publishing dashboard (HTML, or JSON with `f=json`)",
    ),
    r("GET", "/console", Catalog, "The console for comuni"),
    r("GET", "/favicon.ico", Catalog, "No icon"),
    r(
        "GET",
        "/static/{*file}",
        Catalog,
        "The viewer's, console's and MapLibre's files",
    ),
];

/// The handler of a route of [`ROUTES`]. Panics on a route without one: the router is
/// built (and tested) from the table, so that cannot ship.
pub(super) fn handler(route: &Route) -> MethodRouter<AppState> {
    match (route.method, route.path) {
        ("GET", "/") => get(catalog::landing),
        ("GET", "/health") => get(catalog::health),
        ("GET", "/ready") => get(catalog::ready),
        ("GET", "/conformance") => get(catalog::conformance),
        ("GET", "/api") => get(catalog::openapi),
        ("GET", "/api/orgs") => get(catalog::orgs),
        ("GET", "/api/orgs/{org}") => get(catalog::org),
        ("GET", "/api/layers") => get(catalog::layers),
        ("GET", "/api/layers/{id}") => get(catalog::layer),
        ("PATCH", "/api/layers/{id}") => patch(catalog::update_layer),
        ("POST", "/api/layers/{id}/rollback") => post(catalog::rollback),
        ("DELETE", "/api/layers/{id}") => delete(catalog::delete_layer),
        ("POST", "/api/orgs/{org}/layers/{slug}") => post(upload::upload).layer(
            DefaultBodyLimit::disable(), // the handler counts and cuts the file part itself
        ),
        ("GET", "/api/viewer-config") => get(catalog::viewer_config),
        ("GET", "/api/layers/{id}/style/proposal") => get(apps::style_proposal),
        ("GET", "/api/me") => get(catalog::me),
        ("GET", "/api/vocabularies") => get(opendata::vocabularies),
        ("PATCH", "/api/orgs/{org}") => patch(admin::update_org),
        ("GET", "/api/orgs/{org}/tokens") => get(admin::list),
        ("POST", "/api/orgs/{org}/tokens") => post(admin::create),
        ("DELETE", "/api/orgs/{org}/tokens/{token}") => delete(admin::revoke),
        ("GET", "/api/audit") => get(admin::audit),
        ("GET", "/metrics") => get(admin::metrics),
        ("GET", "/collections") => get(features::collections),
        ("GET", "/collections/{id}") => get(features::collection),
        ("GET", "/collections/{id}/items") => get(features::items),
        ("POST", "/collections/{id}/items") => {
            post(features::create).layer(DefaultBodyLimit::max(64 << 20))
        }
        ("GET", "/collections/{id}/queryables") => get(features::queryables),
        ("GET", "/collections/{id}/items/{fid}") => get(features::item),
        ("PUT", "/collections/{id}/items/{fid}") => put(features::replace),
        ("PATCH", "/collections/{id}/items/{fid}") => patch(features::patch),
        ("DELETE", "/collections/{id}/items/{fid}") => delete(features::delete),
        ("GET", "/collections/{id}/tiles") => get(tiles::collection_tilesets),
        ("GET", "/collections/{id}/tiles/{tms}") => get(tiles::collection_tileset),
        ("GET", "/collections/{id}/tiles/{tms}/{z}/{row}/{col}") => get(tiles::collection_tile),
        ("GET", "/tileMatrixSets") => get(tiles::tile_matrix_sets),
        ("GET", "/tileMatrixSets/{id}") => get(tiles::web_mercator_quad),
        ("GET", "/tiles/{spec}") => get(tiles::tilejson_doc),
        ("GET", "/tiles/{layers}/{z}/{x}/{y}") => get(tiles::xyz),
        ("GET", "/basemap/{z}/{x}/{y}") => get(tiles::basemap_tile),
        ("GET", "/basemap.json") => get(tiles::basemap_tilejson),
        ("GET", "/backgrounds/{file}") => get(tiles::background_archive),
        ("GET", "/fonts") => get(tiles::fonts),
        ("GET", "/fonts/{fontstack}/{range}") => get(tiles::glyphs),
        ("GET", "/styles/{spec}") => get(apps::style_json),
        ("GET", "/api/layers/{id}/style") => get(apps::get_style),
        ("PUT", "/api/layers/{id}/style") => put(apps::put_style),
        ("DELETE", "/api/layers/{id}/style") => delete(apps::delete_style),
        ("GET", "/api/orgs/{org}/apps") => get(apps::list_apps),
        ("GET", "/api/orgs/{org}/apps/{slug}") => get(apps::get_app),
        ("PUT", "/api/orgs/{org}/apps/{slug}") => put(apps::put_app),
        ("DELETE", "/api/orgs/{org}/apps/{slug}") => delete(apps::delete_app),
        ("POST", "/api/orgs/{org}/apps/{slug}/preview") => post(apps::preview),
        ("POST", "/api/orgs/{org}/apps/{slug}/publish") => post(apps::publish),
        ("POST", "/api/orgs/{org}/apps/{slug}/unpublish") => post(apps::unpublish),
        ("GET", "/apps/{org}/{slug}") => get(apps::app_redirect),
        ("GET", "/apps/{org}/{slug}/") => get(apps::serve_app),
        ("GET", "/apps/{org}/{slug}/{*file}") => get(apps::serve_app),
        ("GET", "/catalog") => get(opendata::catalog),
        ("GET", "/catalog/{file}") => get(opendata::catalog_file),
        ("GET", "/datasets/{id}") => get(opendata::dataset_page),
        ("GET", "/sitemap.xml") => get(opendata::sitemap),
        ("GET", "/csw") => get(records::csw_get),
        ("POST", "/csw") => {
            post(records::csw_post).layer(DefaultBodyLimit::max(records::CSW_BODY_LIMIT))
        }
        ("GET", "/collections/catalog") => get(records::records_collection),
        ("GET", "/collections/catalog/items") => get(records::records_items),
        ("GET", "/collections/catalog/items/{rid}") => get(records::record_item),
        ("GET", "/api/layers/{id}/history") => get(opendata::history),
        ("GET", "/stats") => get(opendata::stats),
        ("GET", "/console") => get(catalog::console_page),
        ("GET", "/favicon.ico") => get(|| async { axum::http::StatusCode::NO_CONTENT }),
        ("GET", "/static/{*file}") => get(catalog::static_file),
        (m, p) => panic!("route {m} {p} has no handler"),
    }
}
