//! What the server enforces beyond the proto's types, said once for the
//! OpenAPI document: patterns, ranges, required fields. Each rule names a
//! proto message and field; a unit test fails when one names nothing (a
//! renamed field), so this file cannot silently drift from the `.proto`.
//! When you add a request field the server validates, add its rule here.

use serde_json::{Value, json};

use crate::rest::descriptor::Contract;

/// Tenant and database names (`catalog::validate_name`): ASCII letters,
/// digits, `_`, `-`, `.`, starting with a letter, digit or `_`, no `..`.
const NAME_BODY: &str = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-])*\.?";
const MAX_NAME: u32 = 63;
/// Backup ids (`catalog::validate_id`): the same alphabet, longer.
const MAX_ID: u32 = 200;
/// restic-style calendar durations (`retention::CalendarDuration`).
const DURATION: &str = "^(?:[0-9]{1,5}[ymdh])+$";
const ALL_ZERO: &str = "^(?:0+[ymdh])+$";
/// `scheme://bucket/prefix` (`store::uri::BucketUri`).
const BUCKET: &str = concat!(
    r"^(?:(?:gs|s3)://)?[a-z0-9](?:[a-z0-9_-]|\.[a-z0-9_-]){0,219}\.?[a-z0-9]",
    r"(?:/(?:[A-Za-z0-9_=+@-][A-Za-z0-9._=+@-]{0,254}|\.[A-Za-z0-9_=+@-][A-Za-z0-9._=+@-]{0,253}",
    r"|\.\.[A-Za-z0-9._=+@-]{1,253}))*/*$"
);

pub fn name(what: &str) -> Value {
    json!({ "type": "string", "pattern": format!("^{NAME_BODY}$"),
            "minLength": 1, "maxLength": MAX_NAME, "description": what })
}

fn name_or_empty(what: &str) -> Value {
    json!({ "type": "string", "pattern": format!("^(?:{NAME_BODY})?$"),
            "maxLength": MAX_NAME, "description": what })
}

fn duration(what: &str, required: bool) -> Value {
    let pattern = if required {
        DURATION.to_string()
    } else {
        format!("^$|{DURATION}")
    };
    json!({ "type": "string", "pattern": pattern, "not": { "pattern": ALL_ZERO },
            "description": format!("{what}: a calendar duration like 26h, 30d, 6m, 1y2m (y years, m months, d days, h hours)") })
}

/// The schema of a path parameter named `name`.
pub fn path_param(name: &str) -> Option<Value> {
    (name == "id").then(|| {
        json!({ "type": "string", "pattern": format!("^{NAME_BODY}$"),
                "minLength": 1, "maxLength": MAX_ID,
                "description": "a backup id, <tenant>-<database>-<yyyymmddThhmmssZ>" })
    })
}

/// A user or host handed to the tools in the container: never option-like.
fn argument(what: &str) -> Value {
    json!({ "type": "string", "pattern": "^(?:[^\\u0000\\n-][^\\u0000\\n]*)?$",
            "maxLength": 255, "description": what })
}

/// The enum's values other than 0 (the `UNSPECIFIED` one), in both spellings.
fn specified(c: &Contract, name: &str) -> Value {
    let values: Vec<&(String, i32)> = c
        .enums
        .get(name)
        .map(|v| v.iter().filter(|(_, n)| *n != 0).collect())
        .unwrap_or_default();
    let names: Vec<&str> = values.iter().map(|(n, _)| n.as_str()).collect();
    let numbers: Vec<i32> = values.iter().map(|(_, n)| *n).collect();
    json!({ "anyOf": [{ "type": "string", "enum": names },
                      { "type": "integer", "enum": numbers }] })
}

/// Per request message: `properties` patches merged into the generated
/// property schemas, and any other keyword (`required`, `anyOf`, `if`, …)
/// set on the message schema.
pub fn rules(c: &Contract) -> Value {
    let keep_counts = [
        "keepLast",
        "keepHourly",
        "keepDaily",
        "keepWeekly",
        "keepMonthly",
        "keepYearly",
    ];
    let keep_within = [
        "keepWithin",
        "keepWithinHourly",
        "keepWithinDaily",
        "keepWithinWeekly",
        "keepWithinMonthly",
        "keepWithinYearly",
    ];
    let mut prune_props = serde_json::Map::new();
    let mut one_rule = Vec::new();
    for k in keep_counts {
        prune_props.insert(k.into(), json!({ "minimum": 0 }));
        one_rule.push(json!({ "required": [k], "properties": { k: { "minimum": 1 } } }));
    }
    for k in keep_within {
        prune_props.insert(k.into(), duration(k, false));
        one_rule.push(json!({ "required": [k], "properties": { k: { "minLength": 1 } } }));
    }
    prune_props.insert(
        "username".into(),
        name_or_empty("tenant; empty = every tenant the caller may act on"),
    );
    prune_props.insert("database".into(), name_or_empty("empty = every database"));

    json!({
        "PgConnection": { "properties": {
            "database": name_or_empty("empty = every database (create) or the backup's own (restore)"),
            "user": argument("default postgres"),
            "host": argument("default 127.0.0.1, as seen from inside the tenant's container"),
            "password": { "pattern": "^[^\\n\\r\\u0000]*$" },
            "port": { "minimum": 0, "maximum": 65535, "description": "0 = 5432" },
        }},
        "CreateBackupRequest": {
            "properties": {
                "username": name_or_empty("the tenant; empty only with allTenants"),
                "destination": specified(c, "BackupDestination"),
                "gcsBucket": { "pattern": format!("^$|{BUCKET}") },
            },
            "required": ["destination"],
            "if": { "required": ["allTenants"], "properties": { "allTenants": { "const": true } } },
            "then": { "properties": {
                "username": { "maxLength": 0 },
                "connection": { "anyOf": [
                    { "type": "null" },
                    { "type": "object", "properties": { "database": { "maxLength": 0 } } },
                ] },
            } },
            "else": { "required": ["username"], "properties": { "username": { "minLength": 1 } } },
        },
        "ListBackupsRequest": { "properties": {
            "username": name_or_empty("empty = every tenant (admins); a non-admin always sees their own"),
            "pageSize": { "minimum": 0, "maximum": crate::catalog::MAX_PAGE_SIZE,
                          "description": "records per page; 0 = every record in one answer" },
            "pageToken": { "description": "the nextPageToken of the previous page, unchanged; \
                                            valid only for the same listing" },
        }},
        "RestoreBackupRequest": { "properties": {
            "jobs": { "minimum": 0, "maximum": crate::api::MAX_JOBS,
                      "description": "parallel pg_restore jobs (0 or 1 = one transaction)" },
        }},
        "VerifyBackupRequest": {
            "properties": { "targetUsername": name("a tenant container other than the backup's own") },
            "required": ["targetUsername"],
        },
        "PruneBackupsRequest": {
            "properties": prune_props,
            "anyOf": one_rule,
        },
        "CheckBackupsRequest": {
            "properties": {
                "username": name_or_empty("tenant; empty = every tenant the caller may act on"),
                "maxAge": duration("maxAge", true),
                "requireVerifiedWithin": duration("requireVerifiedWithin", false),
            },
            "required": ["maxAge"],
        },
        "RebuildIndexRequest": { "properties": {
            "bucket": { "pattern": format!("^$|{BUCKET}") },
        }},
    })
}
