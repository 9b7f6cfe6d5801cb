//! The OpenAPI 3.0 description of the API (`/api`): every route of the route table, with
//! the OGC API - Features operations in detail (the visible collections, their queryables
//! as query parameters) and the request bodies of the writes.

use serde_json::{json, Map, Value as Json};

use crate::model::{FieldType, Layer};

/// One operation of the route table, as the document needs it.
pub struct Op {
    pub method: &'static str,
    /// axum syntax: `{param}`, `{*rest}`.
    pub path: &'static str,
    pub summary: &'static str,
    /// A write: needs a bearer token.
    pub write: bool,
}

fn schema_type(k: FieldType) -> Json {
    match k {
        FieldType::Integer => json!({"type": "integer"}),
        FieldType::Real => json!({"type": "number"}),
        FieldType::Boolean => json!({"type": "boolean"}),
        FieldType::Date => json!({"type": "string", "format": "date"}),
        FieldType::Datetime => json!({"type": "string", "format": "date-time"}),
        FieldType::Text => json!({"type": "string"}),
    }
}

fn param(name: &str, loc: &str, schema: Json) -> Json {
    json!({"name": name, "in": loc, "required": loc == "path", "schema": schema})
}

/// The operation id of a route: method and path, e.g. `get_collections_id_items`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        id.push('_');
        id.extend(
            part.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_'),
        );
    }
    if path == "/" {
        id.push_str("_landing");
    }
    id
}

/// The query parameters of the items operation; with `layer`, its queryables too
/// (`?name=Milano` is an equality filter), as GDAL's OAPIF driver reads them.
fn items_params(layer: Option<&Layer>) -> Vec<Json> {
    let crs = json!({"type": "string", "format": "uri", "enum": crate::crs::supported_uris()});
    let mut p = vec![
        param(
            "limit",
            "query",
            json!({"type": "integer", "minimum": 1, "default": crate::features::DEFAULT_LIMIT,
            "description": format!("at most {} are returned; a larger limit is served at that maximum", crate::features::MAX_LIMIT)}),
        ),
        param(
            "offset",
            "query",
            json!({"type": "integer", "minimum": 0, "default": 0}),
        ),
        json!({"name": "bbox", "in": "query", "required": false, "style": "form", "explode": false, "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}}),
        json!({"name": "properties", "in": "query", "required": false, "style": "form", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}}),
        json!({"name": "sortby", "in": "query", "required": false, "style": "form", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}}),
        param("crs", "query", crs.clone()),
        param("bbox-crs", "query", crs.clone()),
        param(
            "datetime",
            "query",
            json!({"type": "string", "description": "An instant or an interval (start/end, '..' for open) on the first date property"}),
        ),
        param(
            "filter",
            "query",
            json!({"type": "string", "maxLength": crate::cql2::MAX_LEN, "description": "A CQL2 filter over the collection's queryables"}),
        ),
        param(
            "filter-lang",
            "query",
            json!({"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"], "default": "cql2-text"}),
        ),
        param("filter-crs", "query", crs),
        param(
            "f",
            "query",
            json!({"type": "string", "enum": ["json", "html"]}),
        ),
    ];
    if let Some(l) = layer {
        for field in &l.fields {
            let schema = if field.kind == FieldType::Text {
                schema_type(field.kind)
            } else {
                json!({"type": "string"})
            };
            p.push(json!({"name": field.name, "in": "query", "required": false,
                "description": format!("{}: features whose value equals this", field.label), "schema": schema}));
        }
    }
    p
}

fn body(media: &str, schema: Json) -> Json {
    json!({"required": true, "content": {media: {"schema": schema}}})
}

/// A layer's description, as `PATCH /api/layers/{id}` and the upload form take it (the
/// form's lists are comma-separated text).
fn description_properties(form: bool) -> Json {
    let text = |max: u32| json!({"type": "string", "maxLength": max});
    let list = |items: Json| {
        if form {
            text(3100)
        } else {
            json!({"type": "array", "maxItems": 30, "items": items})
        }
    };
    let mut props = json!({
        "description": text(4000), "theme": text(100),
        "licence": codes(crate::opendata::vocab::LICENCES),
        "attribution": text(300),
        "attribution_url": {"type": "string", "format": "uri", "maxLength": 500},
        "title_en": text(200), "description_en": text(4000),
        "keywords": list(text(100)),
        "eu_themes": list(codes(crate::opendata::vocab::THEMES)),
        "frequency": codes(crate::opendata::vocab::FREQUENCIES),
        "contact_email": {"type": "string", "format": "email", "maxLength": 254},
        "temporal_start": {"type": "string", "format": "date"},
        "temporal_end": {"type": "string", "format": "date"},
        "lineage": text(4000),
        "scale": {"type": "integer", "minimum": 0, "maximum": 100_000_000}
    });
    if !form {
        props["title"] = text(200);
        props["visibility"] = json!({"type": "string", "enum": ["public", "private"]});
    }
    props
}

/// A string from a vocabulary (its codes; empty clears).
fn codes(terms: &[crate::opendata::vocab::Term]) -> Json {
    let mut list: Vec<&str> = vec![""];
    list.extend(terms.iter().map(|t| t.code));
    json!({"type": "string", "enum": list})
}

/// The request body of a write, by route.
fn request_body(method: &str, path: &str) -> Option<Json> {
    let text = |max: u32| json!({"type": "string", "maxLength": max});
    Some(match (method, path) {
        ("PATCH", "/api/layers/{id}") => body(
            "application/json",
            json!({
                "type": "object", "additionalProperties": false,
                "properties": description_properties(false),
            }),
        ),
        ("POST", "/api/orgs/{org}/layers/{slug}") => {
            // The form also takes the layer's description, lists comma-separated.
            let mut props = description_properties(true);
            props["file"] = json!({"type": "string", "format": "binary"});
            props["title"] = text(200);
            props["crs"] = text(40);
            props["encoding"] = text(40);
            props["source_layer"] = text(200);
            props["geometry"] =
                json!({"type": "string", "enum": ["point", "multipoint", "line", "polygon"]});
            props["visibility"] = json!({"type": "string", "enum": ["public", "private"]});
            body(
                "multipart/form-data",
                json!({"type": "object", "required": ["file"], "properties": props}),
            )
        }
        ("POST", "/api/orgs/{org}/tokens") => body(
            "application/json",
            json!({
                "type": "object", "additionalProperties": false,
                "properties": {
                    "role": {"type": "string", "enum": ["editor", "admin"]},
                    "label": text(200),
                    "expires_in": {"type": "string", "pattern": "^[1-9][0-9]{0,3}[dhm]$"}
                }
            }),
        ),
        ("POST", "/collections/{id}/items") => body(
            "application/geo+json",
            json!({"$ref": "#/components/schemas/Feature"}),
        ),
        ("PUT", "/collections/{id}/items/{fid}") | ("PATCH", "/collections/{id}/items/{fid}") => {
            body(
                "application/geo+json",
                json!({"$ref": "#/components/schemas/Feature"}),
            )
        }
        ("PUT", "/api/layers/{id}/style") => body("application/json", json!({"type": "object"})),
        ("PUT", "/api/orgs/{org}/apps/{slug}")
        | ("POST", "/api/orgs/{org}/apps/{slug}/preview") => body(
            "application/json",
            json!({"type": "object", "required": ["title", "layers"],
                "properties": {"title": text(200), "layers": {"type": "array", "minItems": 1, "maxItems": 20,
                    "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}}}),
        ),
        _ => return None,
    })
}

/// The document. `ops`: every route; `layers`: the collections the caller may see.
pub fn document(ops: impl Iterator<Item = Op>, layers: &[Layer], base: &str) -> Json {
    let ids: Vec<&str> = layers.iter().map(|l| l.id.as_str()).collect();
    let problem = json!({"description": "problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    let mut paths = Map::new();
    for op in ops {
        let path = op.path.replace("{*", "{");
        let mut params: Vec<Json> = Vec::new();
        for name in path
            .split('/')
            .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        {
            let schema = match name {
                "id" if path.starts_with("/collections") || path.starts_with("/api/layers") => {
                    if ids.is_empty() {
                        json!({"type": "string"})
                    } else {
                        json!({"type": "string", "enum": ids})
                    }
                }
                "fid" => json!({"type": "integer", "minimum": 1}),
                "org" => json!({"type": "string", "pattern": "^(cmm|[0-9]{6})$"}),
                "slug" if path.contains("/apps") => {
                    json!({"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,47}$"})
                }
                "slug" => json!({"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"}),
                "z" | "tileMatrix" => json!({"type": "string", "pattern": "^[0-9]{1,2}$"}),
                "x" | "row" | "col" => json!({"type": "string", "pattern": "^[0-9]{1,7}$"}),
                "y" => json!({"type": "string", "pattern": "^[0-9]{1,7}\\.(mvt|pbf)$"}),
                "spec" => json!({"type": "string", "pattern": "^[a-z0-9_,]{1,400}\\.json$"}),
                "layers" => json!({"type": "string", "pattern": "^[a-z0-9_,]{1,400}$"}),
                _ => json!({"type": "string"}),
            };
            params.push(param(name, "path", schema));
        }
        if op.method == "GET" && path == "/collections/{id}/items" {
            params.extend(items_params(None));
        } else if op.method == "GET"
            && matches!(
                path.as_str(),
                "/" | "/collections" | "/collections/{id}" | "/collections/{id}/items/{fid}"
            )
        {
            params.push(param(
                "f",
                "query",
                json!({"type": "string", "enum": ["json", "html"]}),
            ));
        }
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({"description": "success", "content": {"application/json": {"schema": {}}}}),
        );
        for code in ["400", "404", "413", "415", "422", "503"] {
            responses.insert(code.into(), problem.clone());
        }
        if op.write {
            for code in ["201", "204"] {
                responses.insert(code.into(), json!({"description": "done"}));
            }
            for code in ["401", "403", "409", "412"] {
                responses.insert(code.into(), problem.clone());
            }
        }
        let mut operation = json!({
            "summary": op.summary,
            "operationId": operation_id(op.method, op.path),
            "parameters": params,
            "responses": responses,
        });
        if op.write {
            operation["security"] = json!([{"bearer": []}]);
        }
        if let Some(b) = request_body(op.method, op.path) {
            operation["requestBody"] = b;
        }
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[op.method.to_ascii_lowercase()] = operation;
    }
    // Each collection's own items path, with its queryables as query parameters.
    for l in layers {
        paths.insert(
            format!("/collections/{}/items", l.id),
            json!({"get": {
                "summary": format!("Features of {}", l.title),
                "operationId": format!("items_{}", l.id),
                "parameters": items_params(Some(l)),
                "responses": {"200": {"description": "features", "content": {"application/geo+json": {"schema": {"type": "object"}}}},
                              "400": problem.clone(), "404": problem.clone()}
            }}),
        );
    }
    let mut schemas = Map::new();
    schemas.insert(
        "Problem".into(),
        json!({"type": "object", "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"}}}),
    );
    schemas.insert(
        "Feature".into(),
        json!({"type": "object", "required": ["type", "geometry", "properties"], "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "geometry": {"type": "object", "required": ["type", "coordinates"], "properties": {"type": {"type": "string"}, "coordinates": {"type": "array"}}},
            "properties": {"type": "object"}}}),
    );
    for l in layers {
        let props: Map<String, Json> = l
            .fields
            .iter()
            .map(|f| {
                let mut s = schema_type(f.kind);
                s["title"] = json!(f.label);
                s["nullable"] = json!(true);
                (f.name.clone(), s)
            })
            .collect();
        schemas.insert(
            format!("properties_{}", l.id),
            json!({"type": "object", "properties": props}),
        );
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Atlante — SIT Metropolitano di Milano", "version": env!("CARGO_PKG_VERSION"),
                 "description": "OGC API - Features and Tiles, the catalog, uploads, styles, apps and tokens of the Città Metropolitana di Milano and its comuni."},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An Atlante token (atl_…)"}}
        }
    })
}
