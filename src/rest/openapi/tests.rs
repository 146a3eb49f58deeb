//! The drift checks: the proto, the route table, the handlers, the
//! constraint rules and the document must agree. Each failure says what to
//! add where.

use serde_json::Value;

use super::{constraints, document};
use crate::rest::descriptor::{contract, json_name};
use crate::rest::routes::{self, ROUTES};

#[test]
fn every_rpc_has_a_route_and_every_route_an_rpc() {
    let c = contract();
    for rpc in &c.rpcs {
        assert!(
            routes::of(&rpc.name).is_some(),
            "RPC {} (proto/containarium/v1/backup.proto) has no REST route: add \
             `route(Method::Post, \"/v1/…\", \"{}\")` (or Get/Delete) to ROUTES in \
             src/rest/routes.rs and an arm for it to handler() in src/rest/mod.rs",
            rpc.name,
            rpc.name
        );
    }
    for r in ROUTES {
        assert!(
            c.rpc(r.rpc).is_some(),
            "src/rest/routes.rs routes {} {} to {}, which is no RPC of BackupService in \
             proto/containarium/v1/backup.proto",
            r.method.lower(),
            r.path,
            r.rpc
        );
    }
}

#[test]
fn path_fields_are_request_fields_and_query_fields_are_scalars() {
    let c = contract();
    for r in ROUTES {
        let Some(rpc) = c.rpc(r.rpc) else { continue };
        for p in r.path_fields() {
            assert!(
                c.field(&rpc.input, p).is_some(),
                "src/rest/routes.rs: {} binds {{{p}}}, which is no field of {}",
                r.path,
                rpc.input
            );
        }
        if r.body {
            continue;
        }
        for f in &c.message(&rpc.input).expect("input").field {
            assert!(
                !matches!(
                    f.r#type(),
                    prost_types::field_descriptor_proto::Type::Message
                ) && f.label() != prost_types::field_descriptor_proto::Label::Repeated,
                "{} {} takes {}.{} as a query parameter, but it is a message or repeated \
                 field: make the route a POST with a body in src/rest/routes.rs, or use \
                 scalar fields",
                r.method.lower(),
                r.path,
                rpc.input,
                f.name()
            );
        }
    }
}

#[test]
fn constraint_rules_name_request_fields_that_exist() {
    let c = contract();
    let rules = constraints::rules(c);
    let doc = document();
    for (message, rule) in rules.as_object().expect("rules are an object") {
        let m = c.message(message).unwrap_or_else(|| {
            panic!(
                "src/rest/openapi/constraints.rs has rules for {message}, which is no message \
                 of proto/containarium/v1/backup.proto: rename or remove them"
            )
        });
        assert!(
            doc["components"]["schemas"][message].is_object(),
            "src/rest/openapi/constraints.rs has rules for {message}, which no RPC takes"
        );
        let names: Vec<String> = m.field.iter().map(json_name).collect();
        let mentioned = rule["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .chain(
                rule["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(String::from)),
            );
        for f in mentioned {
            assert!(
                names.contains(&f),
                "src/rest/openapi/constraints.rs names {message}.{f}, which the proto does not \
                 have (fields: {names:?}): rename or remove the rule"
            );
        }
    }
}

/// Every field of every message an RPC takes or returns is in the
/// document, under its JSON name: the guarantee the generator gives, kept
/// should anyone replace it.
#[test]
fn every_proto_field_is_in_the_document() {
    let c = contract();
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    for (name, m) in &c.messages {
        let Some(s) = schemas
            .get(name)
            .or_else(|| schemas.get(format!("{name}Input")))
        else {
            continue;
        };
        for f in &m.field {
            assert!(
                s["properties"].get(json_name(f)).is_some(),
                "the OpenAPI schema {name} lacks {} (proto field {} = {})",
                json_name(f),
                f.name(),
                f.number()
            );
        }
    }
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.lower()];
        assert_eq!(op["operationId"], r.rpc, "{} {}", r.method.lower(), r.path);
    }
}

#[test]
fn the_document_says_what_the_server_enforces() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let get = &doc["paths"]["/v1/backups/{id}"]["get"];
    let id = &get["parameters"][0];
    assert_eq!(id["name"], "id");
    let pattern = id["schema"]["pattern"].as_str().expect("id pattern");
    let re = |p: &str, s: &str| {
        jsonschema::is_valid(&serde_json::json!({"pattern": p}), &Value::String(s.into()))
    };
    assert!(re(pattern, "alice-app-20260605T130405Z"));
    assert!(!re(pattern, "../etc"));
    assert!(!re(pattern, "a..b"));
    let create = &doc["components"]["schemas"]["CreateBackupRequest"];
    assert_eq!(create["required"], serde_json::json!(["destination"]));
    let verify = &doc["components"]["schemas"]["VerifyBackupRequest"];
    assert_eq!(verify["required"], serde_json::json!(["targetUsername"]));
    let check = &doc["paths"]["/v1/backups:check"]["get"]["parameters"];
    let max_age = check
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "maxAge")
        .expect("maxAge is a query parameter");
    assert_eq!(max_age["required"], true);
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.lower()];
        assert!(
            op["responses"]["401"].is_object(),
            "{} {}",
            r.method.lower(),
            r.path
        );
        assert_eq!(
            op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error"
        );
    }
}
