//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the
//! compiled proto ([`descriptor`](super::descriptor)), the route table
//! ([`routes`](super::routes)) and the server's own validation rules
//! ([`constraints`]). Nothing here is written by hand per field, so a proto
//! field or RPC cannot be missing from the document; the tests below fail
//! with what to add where when the three disagree.

mod constraints;
mod schema;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::descriptor::{Contract, contract, short};
use super::routes::{ROUTES, Route};
use schema::Direction;

/// The document, built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| build(contract()))
}

/// The messages reachable from `roots` through message-typed fields.
fn reachable<'a>(c: &Contract, roots: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.map(str::to_string).collect();
    while let Some(m) = todo.pop() {
        if !seen.insert(m.clone()) {
            continue;
        }
        if let Some(d) = c.message(&m) {
            for f in d.field.iter().filter(|f| !f.type_name().is_empty()) {
                let t = short(f.type_name());
                if c.messages.contains_key(t) {
                    todo.push(t.to_string());
                }
            }
        }
    }
    seen
}

fn error_response(description: &str) -> Value {
    json!({ "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

/// The HTTP statuses every RPC route can answer besides 200, and why.
const ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "InvalidArgument or FailedPrecondition: the request breaks a rule the message names",
    ),
    (
        "401",
        "Unauthenticated: no valid bearer token (checked before anything else)",
    ),
    (
        "403",
        "PermissionDenied: the token's scopes or role do not allow this",
    ),
    (
        "404",
        "NotFound: no such backup or tenant (another tenant's backup answers the same)",
    ),
    ("500", "Internal"),
    (
        "503",
        "Unavailable: the daemon is shutting down or too busy",
    ),
];

fn operation(c: &Contract, r: &Route, request: &str, output: &str) -> Value {
    let rpc = c.rpc(r.rpc).expect("checked by routes_match_the_proto");
    let props = schema_props(c, request);
    let path_fields: Vec<&str> = r.path_fields().collect();
    let mut params = Vec::new();
    for p in &path_fields {
        let schema = constraints::path_param(p)
            .or_else(|| props.get(*p).cloned())
            .unwrap_or_else(|| json!({ "type": "string" }));
        params.push(json!({ "name": p, "in": "path", "required": true, "schema": schema }));
    }
    let mut op = json!({
        "operationId": r.rpc,
        "summary": if rpc.comment.is_empty() { r.rpc } else { rpc.comment.as_str() },
        "security": [{ "bearer": [] }],
    });
    if r.body {
        // An empty body is the default message: optional unless the
        // message has a field or rule an empty message breaks.
        let schema = request_schema(c, request);
        let needed = schema.get("required").is_some() || schema.get("anyOf").is_some();
        op["requestBody"] = json!({
            "required": needed,
            "content": { "application/json": { "schema": {
                "$ref": format!("#/components/schemas/{request}") } } },
        });
    } else {
        let required = required_of(c, request);
        for (name, schema) in &props {
            if path_fields.contains(&name.as_str()) {
                continue;
            }
            params.push(json!({ "name": name, "in": "query",
                                "required": required.contains(name), "schema": schema }));
        }
    }
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({ "description": "OK", "content": { "application/json": { "schema": {
            "$ref": format!("#/components/schemas/{output}") } } } }),
    );
    for (status, why) in ERRORS {
        responses.insert((*status).into(), error_response(why));
    }
    if r.body {
        responses.insert(
            "413".into(),
            error_response("the request body is too large"),
        );
    }
    op["responses"] = Value::Object(responses);
    op
}

/// The (constrained) property schemas of a request component.
fn schema_props(c: &Contract, request: &str) -> Map<String, Value> {
    request_schema(c, request)["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn required_of(c: &Contract, request: &str) -> Vec<String> {
    request_schema(c, request)["required"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A request message's schema with the server's rules merged in.
fn request_schema(c: &Contract, message: &str) -> Value {
    let both = both_ways(c);
    let mut s = schema::message(c, message, Direction::Request, &both);
    if let Some(rule) = constraints::rules(c)
        .get(message)
        .and_then(Value::as_object)
    {
        for (k, v) in rule {
            if k == "properties" {
                for (field, patch) in v.as_object().into_iter().flatten() {
                    let prop = &mut s["properties"][field];
                    for (pk, pv) in patch.as_object().into_iter().flatten() {
                        prop[pk] = pv.clone();
                    }
                    // A replaced shape (anyOf) drops the generated type.
                    if let Some(o) = prop
                        .as_object_mut()
                        .filter(|_| patch.get("anyOf").is_some())
                    {
                        o.remove("type");
                    }
                }
            } else {
                s[k] = v.clone();
            }
        }
    }
    s
}

fn both_ways(c: &Contract) -> Vec<String> {
    let inputs = reachable(c, c.rpcs.iter().map(|r| r.input.as_str()));
    let outputs = reachable(c, c.rpcs.iter().map(|r| r.output.as_str()));
    inputs.intersection(&outputs).cloned().collect()
}

fn build(c: &Contract) -> Value {
    let both = both_ways(c);
    let inputs = reachable(c, c.rpcs.iter().map(|r| r.input.as_str()));
    let outputs = reachable(c, c.rpcs.iter().map(|r| r.output.as_str()));
    let mut schemas = Map::new();
    for e in c.enums.keys() {
        schemas.insert(e.clone(), schema::enumeration(c, e));
    }
    for m in &inputs {
        schemas.insert(
            schema::component(m, Direction::Request, &both),
            request_schema(c, m),
        );
    }
    for m in &outputs {
        schemas.insert(m.clone(), schema::message(c, m, Direction::Response, &both));
    }
    schemas.insert(
        "Error".into(),
        json!({ "type": "object",
                "properties": {
                    "code": { "type": "integer", "description": "the gRPC status code number" },
                    "message": { "type": "string" },
                    "details": { "type": "array", "maxItems": 0 } },
                "required": ["code", "message", "details"],
                "additionalProperties": false }),
    );

    let mut paths = Map::new();
    for r in ROUTES {
        let Some(rpc) = c.rpc(r.rpc) else { continue };
        let request = schema::component(&rpc.input, Direction::Request, &both);
        let op = operation(c, r, &request, &rpc.output);
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.lower()] = op;
    }
    for (path, op) in plain_routes() {
        paths.insert(path.into(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "containarium BackupService",
            "version": "1",
            "description": "grpc-gateway style REST mapping of containarium.v1.BackupService, \
                generated from the proto. Input accepts the lowerCamelCase names shown and the \
                proto's snake_case names; unknown fields are rejected. Every route but /healthz \
                and /openapi.json needs Authorization: Bearer <JWT>, checked before the request \
                is read.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
        },
    })
}

/// The routes that are not RPCs.
fn plain_routes() -> Vec<(&'static str, Value)> {
    let text = |d: &str| json!({ "description": d, "content": { "text/plain": { "schema": { "type": "string" } } } });
    vec![
        (
            "/healthz",
            json!({ "get": {
            "operationId": "Health", "summary": "Liveness; no token needed", "security": [],
            "responses": { "200": text("ok") } } }),
        ),
        (
            "/openapi.json",
            json!({ "get": {
            "operationId": "OpenApi", "summary": "This document; no token needed", "security": [],
            "responses": { "200": { "description": "OpenAPI 3.1",
                "content": { "application/json": { "schema": { "type": "object" } } } } } } }),
        ),
        (
            "/metrics",
            json!({ "get": {
            "operationId": "Metrics", "summary": "Prometheus metrics (admin token)",
            "security": [{ "bearer": [] }],
            "responses": { "200": text("Prometheus text exposition"),
                           "401": error_response("Unauthenticated"),
                           "403": error_response("PermissionDenied: admin only"),
                           "500": error_response("Internal"),
                           "503": error_response("Unavailable") } } }),
        ),
    ]
}

#[cfg(test)]
mod tests;
