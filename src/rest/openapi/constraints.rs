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
/// One dot-separated label of a bucket name (`store::uri::BucketUri`).
const LABEL: &str = "[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?";
/// The key prefix after the bucket: segments of `A-Za-z0-9._=+@-`, never
/// `.` or `..`, trailing slashes ignored.
const PREFIX: &str = concat!(
    r"(?:/(?:[A-Za-z0-9_=+@-][A-Za-z0-9._=+@-]{0,254}|\.[A-Za-z0-9_=+@-][A-Za-z0-9._=+@-]{0,253}",
    r"|\.\.[A-Za-z0-9._=+@-]{1,253}))*/*"
);

/// `scheme://bucket/prefix`, the scheme optional or not. The bucket name
/// is held a little tighter than the server parses it (labels of at most
/// 63 characters, as GCS and S3 name buckets): a name between the two is
/// refused by the daemon's allow-list (403) instead.
fn bucket_uri(scheme: &str, scheme_optional: bool) -> String {
    let scheme = format!("(?:{scheme})://");
    let scheme = if scheme_optional {
        format!("(?:{scheme})?")
    } else {
        scheme
    };
    format!("^{scheme}(?:[a-z0-9][a-z0-9_-]{{1,61}}[a-z0-9]|{LABEL}(?:\\.{LABEL}){{1,2}}){PREFIX}$")
}

pub fn name(what: &str) -> Value {
    json!({ "type": "string", "pattern": format!("^{NAME_BODY}$"),
            "minLength": 1, "maxLength": MAX_NAME, "description": what })
}

fn name_or_empty(what: &str) -> Value {
    json!({ "type": "string", "pattern": format!("^(?:{NAME_BODY})?$"),
            "maxLength": MAX_NAME, "description": what })
}

/// A calendar duration (`duration::CalendarDuration`): its pattern is the
/// parser's own. The pattern also matches the empty string, which means
/// "not set" where the field is optional.
fn duration(what: &str, required: bool) -> Value {
    json!({ "type": "string", "pattern": crate::duration::pattern(),
            "not": { "pattern": crate::duration::zero_pattern() },
            "minLength": u8::from(required), "maxLength": crate::duration::MAX_LEN,
            "description": format!("{what}: a calendar duration like 26h, 30d, 6m, 1y2m3d4h or \
                90min (y years, m months, d days, h hours, min minutes, s seconds; each unit \
                once, largest first; {}y at most)", crate::duration::MAX_YEARS) })
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

/// The create requests naming destination `value` (by name or number),
/// with `bucket` as the rule of their `gcsBucket`.
fn bucket_for(c: &Contract, value: &str, bucket: &Value) -> Value {
    let number = c
        .enums
        .get("BackupDestination")
        .and_then(|v| v.iter().find(|(n, _)| n == value))
        .map_or(-1, |(_, n)| *n);
    json!({ "properties": {
        "destination": { "enum": [value, number] },
        "gcsBucket": bucket,
    } })
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
                "gcsBucket": { "description": "empty = the destination's default-bucket; \
                    gs://bucket/prefix for GCS, s3://bucket/prefix for S3 (the scheme may be \
                    left out), nothing for LOCAL; a bucket outside the daemon's allow-list is \
                    refused with 403" },
            },
            "required": ["destination"],
            "allOf": [
                {
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
                { "anyOf": [
                    bucket_for(c, "BACKUP_DESTINATION_LOCAL", &json!({ "maxLength": 0 })),
                    bucket_for(c, "BACKUP_DESTINATION_GCS",
                               &json!({ "pattern": format!("^$|{}", bucket_uri("gs", true)) })),
                    bucket_for(c, "BACKUP_DESTINATION_S3",
                               &json!({ "pattern": format!("^$|{}", bucket_uri("s3", true)) })),
                ] },
            ],
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
            "bucket": { "pattern": format!("^$|{}", bucket_uri("gs|s3", false)) },
        }},
        "ListOperationsRequest": { "properties": {
            "username": name_or_empty("empty = every tenant the caller may see"),
        }},
    })
}
