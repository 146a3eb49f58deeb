//! Property tests of every parser that reads outside input: backup ids and
//! names, sidecars, durations, bucket URIs, REST bodies and query strings,
//! config files. Each is fed arbitrary input (it must answer, never panic)
//! and generated valid input (it must read back what was written). Case
//! counts stay modest so `--lib` stays quick; a failure prints its seed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use crate::catalog::{
    Check, Destination, Encoding, Engine, Kind, Record, Verification, VerifyResult, decode, encode,
    make_id, validate_id, validate_name,
};
use crate::config::Config;
use crate::duration::CalendarDuration;
use crate::proto;
use crate::rest::json::{from_query, parse as parse_body};
use crate::store::BucketUri;

/// 96 cases each, or `PROPTEST_CASES` for a longer hunt.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            default.cases
        } else {
            96
        },
        failure_persistence: None,
        ..default
    }
}

/// A tenant or database name as `validate_name` accepts it.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}".prop_filter("no `..`", |s| !s.contains(".."))
}

/// Any instant chrono can print in RFC 3339 (years 0..=9999), to the ns.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (-62_167_219_200i64..253_402_300_799, 0u32..1_000_000_000)
        .prop_map(|(s, ns)| DateTime::from_timestamp(s, ns).unwrap_or_default())
}

/// Text a hostile writer could put anywhere: any Unicode, quotes, NULs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ -~]{0,24}", Just(String::new())]
}

/// Arbitrary bytes, or a valid document with a few bytes overwritten.
fn mangled(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len().max(1);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        proptest::collection::vec((0..len, any::<u8>()), 1..6).prop_map(move |edits| {
            let mut v = valid.clone();
            for (i, b) in edits {
                if let Some(slot) = v.get_mut(i) {
                    *slot = b;
                }
            }
            v
        }),
    ]
}

fn verification() -> impl Strategy<Value = Verification> {
    (
        instant(),
        any::<bool>(),
        text(),
        any::<i64>(),
        proptest::collection::vec((text(), any::<bool>(), text()), 0..3),
    )
        .prop_map(|(at, passed, s, ms, checks)| Verification {
            verified_at: at,
            result: if passed {
                VerifyResult::Passed
            } else {
                VerifyResult::Failed
            },
            error: s.clone(),
            target_container: s.clone(),
            scratch_database: s,
            duration_ms: ms,
            verified_by: "prop".into(),
            checks: checks
                .into_iter()
                .map(|(name, passed, detail)| Check {
                    name,
                    passed,
                    detail,
                })
                .collect(),
        })
}

fn record() -> impl Strategy<Value = Record> {
    let names = (name(), name(), instant(), 0u32..5);
    let body = (any::<i64>(), text(), text(), any::<Option<i64>>());
    let extra = (
        proptest::option::of(verification()),
        proptest::option::of(proptest::collection::btree_map(text(), any::<i64>(), 0..3)),
        proptest::collection::vec("[a-z]{1,5}", 0..3),
        proptest::option::of(text()),
        proptest::option::of(instant()),
        0..3u8,
    );
    (names, body, extra).prop_map(
        |((t, d, at, n), (size, sha, location, rel), (v, rows, stages, comp, locked, dest))| {
            let t2 = t.clone();
            Record {
                id: make_id(&t, &d, &at, n),
                username: t,
                database: d,
                created_at: at,
                size_bytes: size,
                sha256: sha,
                destination: [Destination::Local, Destination::Gcs, Destination::S3]
                    [usize::from(dest)],
                location,
                engine: rel.map(|_| Engine::Postgres),
                last_verification: v,
                relation_count: rel,
                row_counts: rows,
                encoding: Encoding {
                    stages,
                    compression: comp.clone(),
                    raw_size_bytes: rel,
                    encryption: comp,
                    recipients: Vec::new(),
                },
                // Globals records are told apart by their kind, and name
                // the globals of the same create when they are databases.
                kind: if dest == 2 {
                    Kind::Globals
                } else {
                    Kind::Database
                },
                globals_id: (dest == 1).then(|| make_id(&t2, ".globals", &at, n)),
                locked_until: locked,
            }
        },
    )
}

fn duration() -> impl Strategy<Value = CalendarDuration> {
    (
        0u32..100,
        0u32..1000,
        0u32..100_000,
        0u32..1_000_000,
        0u32..10_000_000,
        0u32..1_000_000_000,
    )
        .prop_filter_map("within bounds and not zero", |(y, m, d, h, min, s)| {
            let d = CalendarDuration {
                years: y,
                months: m,
                days: d,
                hours: h,
                minutes: min,
                seconds: s,
            };
            // Generated spans must be valid; the parser owns the bound.
            d.to_string().parse::<CalendarDuration>().ok().map(|_| d)
        })
}

fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9=+@_.-]{1,12}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn bucket_uri() -> impl Strategy<Value = BucketUri> {
    (
        any::<bool>(),
        "[a-z0-9][a-z0-9_.-]{1,30}[a-z0-9]".prop_filter("no `..`", |s| !s.contains("..")),
        proptest::collection::vec(segment(), 0..4),
    )
        .prop_map(|(gcs, bucket, segs)| BucketUri {
            destination: if gcs {
                Destination::Gcs
            } else {
                Destination::S3
            },
            bucket,
            prefix: segs.join("/"),
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ids_and_names_never_panic(s in text()) {
        let name_ok = validate_name("database", &s).is_ok();
        let id_ok = validate_id(&s).is_ok();
        // A valid name is a valid id component; neither may hold a path.
        prop_assert!(!name_ok || id_ok, "{s:?} is a name but not an id");
        if id_ok {
            prop_assert!(!s.contains('/') && !s.contains("..") && !s.starts_with(['.', '-']));
        }
    }

    #[test]
    fn ids_of_valid_names_are_valid_and_never_collide(
        a in (name(), name()), b in (name(), name()), at in instant(), n in 0u32..1000,
    ) {
        prop_assert!(validate_name("tenant", &a.0).is_ok());
        let ia = make_id(&a.0, &a.1, &at, n);
        prop_assert!(validate_id(&ia).is_ok(), "{ia}");
        if a != b {
            prop_assert_ne!(ia, make_id(&b.0, &b.1, &at, n));
        }
    }

    #[test]
    fn sidecars_round_trip(r in record()) {
        let bytes = encode(&r).unwrap();
        prop_assert_eq!(decode(&bytes, &r.id).unwrap(), r);
    }

    #[test]
    fn hostile_sidecars_are_refused_not_panicked_on(
        (r, bytes) in record().prop_flat_map(|r| {
            let valid = encode(&r).unwrap();
            (Just(r), mangled(valid))
        }),
    ) {
        if let Ok(back) = decode(&bytes, &r.id) {
            prop_assert_eq!(&back.id, &r.id);
            prop_assert!(validate_id(&back.id).is_ok());
        }
    }

    #[test]
    fn durations_never_panic_and_accepted_ones_round_trip(s in prop_oneof![
        text(),
        "[0-9]{0,12}(y|m|d|h|min|s|M|mo|w|)([0-9]{0,3}(y|m|d|h|min|s))*",
    ]) {
        if let Ok(d) = s.parse::<CalendarDuration>() {
            prop_assert_eq!(d.to_string().parse::<CalendarDuration>(), Ok(d));
            let now = Utc::now();
            prop_assert!(d.before(&now) <= now);
            prop_assert!(d.seconds_from(&now) >= 0);
        }
    }

    /// The OpenAPI document's pattern (and its all-zero exclusion) accepts
    /// exactly what the parser accepts.
    #[test]
    fn the_documented_duration_pattern_is_the_parser(s in prop_oneof![
        text(),
        "([0-9]{0,4}(y|m|d|h|min|s)){1,4}",
        "[0-9]{1,10}(y|m|d|h|min|s)",
    ]) {
        let schema = serde_json::json!({
            "pattern": crate::duration::pattern(),
            "not": { "pattern": crate::duration::zero_pattern() },
            "minLength": 1,
            "maxLength": crate::duration::MAX_LEN,
        });
        let documented = jsonschema::is_valid(&schema, &serde_json::Value::String(s.clone()));
        prop_assert_eq!(documented, s.parse::<CalendarDuration>().is_ok(), "{:?}", s);
    }

    #[test]
    fn generated_durations_round_trip(d in duration()) {
        prop_assert_eq!(d.to_string().parse::<CalendarDuration>(), Ok(d));
    }

    #[test]
    fn bucket_uris_never_panic(s in prop_oneof![
        text(),
        "(gs|s3|file|)(://)?[a-z0-9./_-]{0,20}(/[ -~]{0,8}){0,3}",
    ], gcs in any::<bool>()) {
        let d = if gcs { Destination::Gcs } else { Destination::S3 };
        if let Ok(u) = BucketUri::parse(d, &s) {
            prop_assert_eq!(BucketUri::parse(d, &u.to_string()).unwrap(), u.clone());
            prop_assert!(!u.prefix.split('/').any(|seg| seg == ".." || seg == "."));
        }
        let _ = BucketUri::of_location(d, &s, "x.dump");
    }

    #[test]
    fn bucket_uris_round_trip(u in bucket_uri(), key in segment()) {
        prop_assert_eq!(BucketUri::parse(u.destination, &u.to_string()).unwrap(), u.clone());
        let loc = u.location(&key);
        prop_assert_eq!(BucketUri::of_location(u.destination, &loc, &key), Some(u));
    }

    #[test]
    fn rest_bodies_never_panic(bytes in mangled(
        br#"{"username":"a","connection":{"database":"d","port":5432},"gcsBucket":"gs://b/p","destination":"BACKUP_DESTINATION_GCS","allTenants":false}"#.to_vec(),
    )) {
        let _ = parse_body::<proto::CreateBackupRequest>(&bytes);
        let _ = parse_body::<proto::RestoreBackupRequest>(&bytes);
        let _ = parse_body::<proto::PruneBackupsRequest>(&bytes);
    }

    #[test]
    fn rest_bodies_round_trip(
        username in text(), database in text(), port in any::<i32>(), bucket in text(),
        dest in 0i32..4, all in any::<bool>(), jobs in any::<i32>(),
    ) {
        let create = proto::CreateBackupRequest {
            username: username.clone(),
            connection: Some(proto::PgConnection {
                database: database.clone(),
                port,
                ..Default::default()
            }),
            destination: dest,
            gcs_bucket: bucket,
            all_tenants: all,
        };
        let json = serde_json::to_vec(&create).unwrap();
        prop_assert_eq!(parse_body::<proto::CreateBackupRequest>(&json).unwrap(), create);
        let restore = proto::RestoreBackupRequest {
            id: username,
            clean: all,
            jobs,
            no_owner: !all,
            ..Default::default()
        };
        let json = serde_json::to_vec(&restore).unwrap();
        prop_assert_eq!(parse_body::<proto::RestoreBackupRequest>(&json).unwrap(), restore);
    }

    #[test]
    fn query_strings_never_panic(pairs in proptest::collection::vec(
        (prop_oneof!["(username|pageSize|page_size|pageToken|bogus)", text()], text()),
        0..4,
    )) {
        let got = from_query::<proto::ListBackupsRequest>("ListBackupsRequest", pairs.clone());
        if pairs.iter().any(|(k, _)| k == "bogus") {
            prop_assert!(got.is_err(), "an unknown parameter was accepted");
        }
    }

    #[test]
    fn config_files_never_panic(bytes in mangled(SAMPLE_CONFIG.as_bytes().to_vec())) {
        let _ = Config::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn config_files_round_trip(
        tenants in proptest::collection::btree_map(
            "[a-z][a-z0-9_]{0,10}",
            (any::<bool>(), "[a-z0-9{}_-]{1,12}"),
            0..4,
        ),
        max_concurrent in 1usize..64,
        max_age in duration(),
        bucket in bucket_uri(),
    ) {
        let text = config_text(&tenants, max_concurrent, &max_age, &bucket);
        let first = Config::parse(&text).unwrap();
        let shown = toml::to_string(&first).unwrap();
        let again = Config::parse(&shown).unwrap();
        prop_assert_eq!(toml::to_string(&again).unwrap(), shown);
        prop_assert_eq!(first.tenants.len(), tenants.len());
        prop_assert_eq!(first.max_concurrent, max_concurrent);
    }
}

const SAMPLE_CONFIG: &str = r#"
backup-dir = "/srv/b"
max-concurrent = 4
[runtime]
driver = "netns"
container = "{tenant}-ns"
[tenants.alice]
[tenants.bob]
driver = "host"
allowed-hosts = ["/run/postgresql"]
scratch = true
[dump]
compression = "zstd"
level = 3
[freshness]
max-age = "26h"
check-interval-secs = 60
[s3]
endpoint = "http://127.0.0.1:5000"
default-bucket = "s3://bkt/p"
allowed-buckets = ["s3://bkt/p", "s3://other"]
"#;

fn config_text(
    tenants: &BTreeMap<String, (bool, String)>,
    max_concurrent: usize,
    max_age: &CalendarDuration,
    bucket: &BucketUri,
) -> String {
    let table = if bucket.destination == Destination::Gcs {
        "gcs"
    } else {
        "s3"
    };
    let mut t = format!(
        "max-concurrent = {max_concurrent}\n[freshness]\nmax-age = \"{max_age}\"\n\
         [{table}]\ndefault-bucket = \"{bucket}\"\n"
    );
    for (name, (scratch, container)) in tenants {
        let _ = write!(
            t,
            "[tenants.{name}]\nscratch = {scratch}\ncontainer = \"{container}\"\n"
        );
    }
    t
}
