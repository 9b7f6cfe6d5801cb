//! The OpenAPI 3.0 description of the API (`/api`), listing the visible collections and
//! their queryable properties.

use serde_json::{json, Value as Json};

use crate::model::{FieldType, Layer};

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

pub fn document(layers: &[Layer], base: &str) -> Json {
    let ids: Vec<&str> = layers.iter().map(|l| l.id.as_str()).collect();
    let problem = json!({"description": "problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    let json_ok = |desc: &str| json!({"description": desc, "content": {"application/json": {"schema": {"type": "object"}}, "text/html": {"schema": {"type": "string"}}}});
    let geojson_ok = |desc: &str| json!({"description": desc, "content": {"application/geo+json": {"schema": {"type": "object"}}, "text/html": {"schema": {"type": "string"}}}});
    let collection_id = json!({"name": "collectionId", "in": "path", "required": true, "schema": {"type": "string", "enum": ids}});
    let f = json!({"name": "f", "in": "query", "required": false, "schema": {"type": "string", "enum": ["json", "html"]}});
    // The items operation; `id` Some: one collection's path, with its queryables as query
    // parameters (`?name=Milano`, an equality filter), as GDAL's OAPIF driver reads them.
    let items_op = |id: Option<&Layer>| {
        let mut params = vec![
            match id {
                None => collection_id.clone(),
                Some(_) => json!(null),
            },
            json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": crate::features::MAX_LIMIT, "default": crate::features::DEFAULT_LIMIT}}),
            json!({"name": "offset", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "default": 0}}),
            json!({"name": "bbox", "in": "query", "required": false, "style": "form", "explode": false, "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}}),
            json!({"name": "properties", "in": "query", "required": false, "style": "form", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}}),
            json!({"name": "sortby", "in": "query", "required": false, "style": "form", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}}),
            json!({"name": "crs", "in": "query", "required": false, "schema": {"type": "string", "format": "uri", "enum": crate::crs::supported_uris()}}),
            json!({"name": "bbox-crs", "in": "query", "required": false, "schema": {"type": "string", "format": "uri", "enum": crate::crs::supported_uris()}}),
            json!({"name": "datetime", "in": "query", "required": false, "description": "An instant or an interval (start/end, '..' for open) on the first date property", "schema": {"type": "string"}}),
            json!({"name": "filter", "in": "query", "required": false, "description": "A CQL2 filter over the collection's queryables", "schema": {"type": "string", "maxLength": crate::cql2::MAX_LEN}}),
            json!({"name": "filter-lang", "in": "query", "required": false, "schema": {"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"], "default": "cql2-text"}}),
            json!({"name": "filter-crs", "in": "query", "required": false, "schema": {"type": "string", "format": "uri", "enum": crate::crs::supported_uris()}}),
            f.clone(),
        ];
        params.retain(|p| !p.is_null());
        if let Some(l) = id {
            for field in &l.fields {
                let mut schema = schema_type(field.kind);
                if field.kind != FieldType::Text {
                    schema = json!({"type": "string"});
                }
                params.push(json!({"name": field.name, "in": "query", "required": false,
                    "description": format!("{}: features whose value equals this", field.label), "schema": schema}));
            }
        }
        json!({"get": {
            "summary": "Features of a collection",
            "operationId": match id { None => "items".to_string(), Some(l) => format!("items_{}", l.id) },
            "parameters": params,
            "responses": {"200": geojson_ok("features"), "400": problem.clone(), "404": problem.clone()}}})
    };
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "Problem".into(),
        json!({"type": "object", "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"}}}),
    );
    for l in layers {
        let props: serde_json::Map<String, Json> = l
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
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "Atlante — SIT Metropolitano di Milano", "version": env!("CARGO_PKG_VERSION"),
                 "description": "OGC API - Features and Tiles for the layers of the Città Metropolitana di Milano and its comuni."},
        "servers": [{"url": base}],
        "paths": {
            "/": {"get": {"summary": "Landing page", "operationId": "landing", "parameters": [f.clone()], "responses": {"200": json_ok("landing page"), "400": problem.clone()}}},
            "/conformance": {"get": {"summary": "Conformance classes", "operationId": "conformance", "responses": {"200": {"description": "conformance", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/api": {"get": {"summary": "This document", "operationId": "api", "responses": {"200": {"description": "OpenAPI", "content": {"application/vnd.oai.openapi+json;version=3.0": {"schema": {"type": "object"}}}}}}},
            "/collections": {"get": {"summary": "Collections", "operationId": "collections", "parameters": [f.clone()], "responses": {"200": json_ok("collections"), "400": problem.clone()}}},
            "/collections/{collectionId}": {"get": {"summary": "A collection", "operationId": "collection", "parameters": [collection_id.clone(), f.clone()], "responses": {"200": json_ok("collection"), "400": problem.clone(), "404": problem.clone()}}},
            "/collections/{collectionId}/items": items_op(None),
            "/collections/{collectionId}/queryables": {"get": {"summary": "Queryable properties of a collection", "operationId": "queryables", "parameters": [collection_id.clone(), f.clone()], "responses": {"200": {"description": "JSON Schema of the queryables", "content": {"application/schema+json": {"schema": {"type": "object"}}}}, "400": problem.clone(), "404": problem.clone()}}},
            "/collections/{collectionId}/items/{featureId}": {"get": {
                "summary": "One feature", "operationId": "item",
                "parameters": [collection_id, {"name": "featureId", "in": "path", "required": true, "schema": {"type": "integer"}}, f],
                "responses": {"200": geojson_ok("feature"), "400": problem.clone(), "404": problem}}}
        },
        "components": {"schemas": schemas}
    });
    for l in layers {
        doc["paths"][format!("/collections/{}/items", l.id)] = items_op(Some(l));
    }
    doc
}
