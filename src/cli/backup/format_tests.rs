//! Unit tests of the pure renderings.

use super::*;

fn record() -> proto::BackupRecord {
    proto::BackupRecord {
        id: "alice-app-20260605T130405Z".into(),
        username: "alice".into(),
        database: "app".into(),
        created_at: "2026-06-05T13:04:07Z".into(),
        size_bytes: 41231,
        sha256: "9f2c".into(),
        destination: BackupDestination::Local.into(),
        location: "/var/lib/containarium/backups/alice-app-20260605T130405Z.dump".into(),
        engine: BackupEngine::Postgres.into(),
        last_verification: None,
        relation_count: Some(42),
        ..Default::default()
    }
}

fn verification(result: VerificationResult) -> proto::BackupVerification {
    proto::BackupVerification {
        verified_at: "2026-06-06T01:00:00Z".into(),
        result: result.into(),
        target_container: "bob".into(),
        scratch_database: "verify_x".into(),
        duration_ms: 1234,
        verified_by: "ops".into(),
        checks: vec![
            proto::VerificationCheck {
                name: "integrity".into(),
                passed: true,
                detail: "sha256 matches".into(),
            },
            proto::VerificationCheck {
                name: "restore".into(),
                passed: false,
                detail: String::new(),
            },
        ],
        ..Default::default()
    }
}

#[test]
fn sizes_are_binary_units_with_one_decimal() {
    assert_eq!(human_size(0), "0 B");
    assert_eq!(human_size(1023), "1023 B");
    assert_eq!(human_size(1024), "1.0 KiB");
    assert_eq!(human_size(41231), "40.3 KiB");
    assert_eq!(human_size(5 * 1024 * 1024 + 512 * 1024), "5.5 MiB");
    assert_eq!(human_size(3 << 40), "3.0 TiB");
    assert_eq!(human_size(i64::MAX), "8.0 EiB");
}

#[test]
fn destinations_are_short_names() {
    assert_eq!(destination(1), "local");
    assert_eq!(destination(2), "gcs");
    assert_eq!(destination(3), "s3");
    assert_eq!(destination(0), "-");
    assert_eq!(destination(99), "?99");
}

#[test]
fn verified_column() {
    assert_eq!(verified(None), "never");
    let v = verification(VerificationResult::Passed);
    assert_eq!(verified(Some(&v)), "pass 2026-06-06T01:00:00Z");
    let v = verification(VerificationResult::Failed);
    assert_eq!(verified(Some(&v)), "FAIL 2026-06-06T01:00:00Z");
}

#[test]
fn tables_align_columns_and_do_not_pad_the_last() {
    let t = table(&["A", "LONGER"], &[vec!["xyz", "1"], vec!["q", "22"]]);
    assert_eq!(t, "A    LONGER\nxyz  1\nq    22\n");
    assert_eq!(table::<&str>(&["A", "B"], &[]), "A  B\n");
}

#[test]
fn list_table_has_the_contract_columns() {
    let mut second = record();
    second.id = "alice-app-20260604T000000Z".into();
    second.destination = BackupDestination::Gcs.into();
    second.location = "gs://b/alice-app-20260604T000000Z.dump".into();
    second.last_verification = Some(verification(VerificationResult::Failed));
    let t = records_table(&[record(), second]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 3);
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, LIST_HEADERS);
    assert!(lines[1].starts_with(
        "alice-app-20260605T130405Z  alice  app       2026-06-05T13:04:07Z  40.3 KiB  local"
    ));
    assert!(lines[1].contains("  never  "), "{t}");
    assert!(
        lines[2].contains("  gcs    FAIL 2026-06-06T01:00:00Z  gs://b/"),
        "{t}"
    );
    // Columns line up: every row's DEST starts where the header's does.
    let col = lines[0].find("DEST").unwrap();
    assert_eq!(&lines[1][col..col + 5], "local");
    assert_eq!(&lines[2][col..col + 3], "gcs");
}

#[test]
fn detail_shows_every_field_and_dashes_for_unset() {
    let mut r = record();
    r.relation_count = None;
    r.sha256 = String::new();
    let d = record_detail(&r);
    for want in [
        "id:          alice-app-20260605T130405Z\n",
        "user:        alice\n",
        "database:    app\n",
        "created:     2026-06-05T13:04:07Z\n",
        "size:        40.3 KiB (41231 bytes)\n",
        "sha256:      -\n",
        "destination: local\n",
        "location:    /var/lib/containarium/backups/alice-app-20260605T130405Z.dump\n",
        "engine:      postgres\n",
        "relations:   -\n",
        "stages:      -\n",
        "encryption:  -\n",
        "locked:      -\n",
        "verified:    never\n",
        "globals:     -\n",
    ] {
        assert!(d.contains(want), "missing {want:?} in\n{d}");
    }
    assert_eq!(d.lines().count(), 15);
    r.kind = "globals".into();
    assert!(record_detail(&r).contains("database:    (globals)\n"));
    r.stages = vec!["zstd".into(), "age".into()];
    r.encryption = "age".into();
    r.recipients = vec!["age1x".into()];
    let d = record_detail(&r);
    assert!(d.contains("stages:      zstd → age\n"), "{d}");
    assert!(d.contains("encryption:  age → age1x\n"), "{d}");
}

#[test]
fn detail_includes_the_verification_and_its_checks() {
    let mut r = record();
    r.last_verification = Some(verification(VerificationResult::Failed));
    let d = record_detail(&r);
    assert!(d.contains("relations:   42\n"), "{d}");
    assert!(
        d.contains("verified:    FAIL 2026-06-06T01:00:00Z\n"),
        "{d}"
    );
    assert!(d.contains("  target:      bob\n"), "{d}");
    assert!(d.contains("  scratch db:  verify_x\n"), "{d}");
    assert!(d.contains("  duration:    1234 ms\n"), "{d}");
    assert!(d.contains("  verified by: ops\n"), "{d}");
    assert!(d.contains("  error:       -\n"), "{d}");
    assert!(
        d.contains("  checks:\n    pass  integrity  sha256 matches\n    FAIL  restore    -\n"),
        "{d}"
    );
}

#[test]
fn json_is_proto3_json() {
    let resp = proto::ListBackupsResponse {
        records: vec![record()],
        warnings: vec![],
        next_page_token: String::new(),
    };
    let v: serde_json::Value = serde_json::from_str(&json(&resp).unwrap()).unwrap();
    let r = &v["records"][0];
    assert_eq!(r["id"], "alice-app-20260605T130405Z");
    assert_eq!(r["createdAt"], "2026-06-05T13:04:07Z");
    assert_eq!(r["sizeBytes"], "41231");
    assert_eq!(r["destination"], "BACKUP_DESTINATION_LOCAL");
    assert_eq!(r["engine"], "BACKUP_ENGINE_POSTGRES");
    assert_eq!(r["relationCount"], "42");
    assert!(r.get("size_bytes").is_none());
    assert_eq!(v["warnings"], serde_json::json!([]));
    // And it reads back into the same message.
    let back: proto::ListBackupsResponse = serde_json::from_value(v).unwrap();
    assert_eq!(back, resp);
}
