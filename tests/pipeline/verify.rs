//! Restore tests (verify) between real tenant clusters.

use containarium::Code;
use containarium::catalog::VerifyResult;
use containarium::service::VerifyRequest;

use crate::support::{Harness, Tenant, none, seed};

/// alice's "app" seeded in one cluster, a second cluster as the scratch
/// tenant, and a service over both.
fn seeded_pair() -> (Tenant, Tenant, Harness) {
    let (src, dst) = (Tenant::start(), Tenant::start());
    src.create_db("app");
    seed(&src, "app", "alice");
    let h = Harness::with_scratch_tenant(&[("alice", &src), ("scratch", &dst)], "scratch");
    (src, dst, h)
}

fn verify_req(id: &str, target: &str) -> VerifyRequest {
    VerifyRequest {
        id: id.into(),
        target_tenant: target.into(),
        ..VerifyRequest::default()
    }
}

fn names(v: &containarium::catalog::Verification) -> Vec<(&str, bool)> {
    v.checks
        .iter()
        .map(|c| (c.name.as_str(), c.passed))
        .collect()
}

fn verify_databases(t: &Tenant) -> Vec<String> {
    t.databases()
        .into_iter()
        .filter(|d| d.starts_with("containarium_verify_"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_good_dump_passes_every_check_and_leaves_nothing() {
    let (src, dst) = (Tenant::start(), Tenant::start());
    src.create_db("app");
    seed(&src, "app", "alice");
    src.psql(
        "app",
        "CREATE ROLE app_owner; ALTER TABLE people OWNER TO app_owner",
    ); // absent on the target
    let h = Harness::with_scratch_tenant(&[("alice", &src), ("scratch", &dst)], "scratch");
    let r = h.backup("alice", "app").await;
    assert_eq!(r.row_counts.as_ref().unwrap()["public.people"], 500);

    let (rec, v) = h
        .service
        .verify(none(), verify_req(&r.id, "scratch"))
        .await
        .unwrap();
    assert_eq!(v.result, VerifyResult::Passed, "{v:#?}");
    assert_eq!(
        names(&v),
        [
            ("integrity", true),
            ("scratch_database", true),
            ("restore", true),
            ("relation_count", true),
            ("row_counts", true),
            ("cleanup", true)
        ]
    );
    assert!(
        v.scratch_database.starts_with("containarium_verify_") && v.scratch_database.len() <= 63
    );
    assert_eq!(v.target_container, format!("netns:{}", dst.netns));
    assert_eq!(v.verified_by, "dev-mode");
    assert!(v.error.is_empty());
    assert_eq!(rec.last_verification.as_ref(), Some(&v));
    // Written atomically to the sidecar and shown by get/list.
    let got = h.service.get(none(), r.id.clone()).await.unwrap();
    assert_eq!(got.last_verification, Some(v));
    assert!(
        verify_databases(&dst).is_empty(),
        "scratch database dropped"
    );
    assert!(verify_databases(&src).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manifest_that_differs_fails_the_comparison() {
    let (_src, dst, h) = seeded_pair();
    let r = h.backup("alice", "app").await;
    // The manifest says more tables and rows than the dump holds (tables
    // dropped between counting and dumping).
    let path = h.backup_dir().join(format!("{}.meta.json", r.id));
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    meta["relation_count"] = serde_json::json!(6);
    meta["row_counts"]["public.dropped_later"] = serde_json::json!(12);
    std::fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();

    let (_, v) = h
        .service
        .verify(none(), verify_req(&r.id, "scratch"))
        .await
        .unwrap();
    assert_eq!(v.result, VerifyResult::Failed);
    let by_name = |n: &str| v.checks.iter().find(|c| c.name == n).unwrap();
    assert!(by_name("restore").passed && by_name("cleanup").passed);
    assert!(!by_name("relation_count").passed);
    assert!(
        by_name("relation_count")
            .detail
            .contains("restored 5 relations; the manifest recorded 6")
    );
    assert!(
        by_name("row_counts")
            .detail
            .contains("public.dropped_later: manifest 12 restored missing")
    );
    assert!(v.error.starts_with("relation_count:"), "{}", v.error);
    assert!(verify_databases(&dst).is_empty());
}

/// A throwaway extension installed for the source only, then removed, so
/// the target's server cannot create it.
struct FakeExtension(String);

impl FakeExtension {
    fn install() -> Self {
        let name = format!("ctn_test_ext_{}", std::process::id());
        let dir = std::path::Path::new("/usr/share/postgresql/15/extension");
        std::fs::write(
            dir.join(format!("{name}.control")),
            "default_version = '1.0'\nrelocatable = true\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{name}--1.0.sql")),
            "CREATE FUNCTION ctn_answer() RETURNS int LANGUAGE sql AS 'SELECT 42';\n",
        )
        .unwrap();
        Self(name)
    }
}

impl Drop for FakeExtension {
    fn drop(&mut self) {
        let dir = std::path::Path::new("/usr/share/postgresql/15/extension");
        let _ = std::fs::remove_file(dir.join(format!("{}.control", self.0)));
        let _ = std::fs::remove_file(dir.join(format!("{}--1.0.sql", self.0)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_without_the_extension_fails_the_restore_check() {
    let (src, dst) = (Tenant::start(), Tenant::start());
    src.create_db("app");
    let ext = FakeExtension::install();
    src.psql(
        "app",
        &format!(
            "CREATE EXTENSION {}; CREATE TABLE t(x int DEFAULT ctn_answer())",
            ext.0
        ),
    );
    let h = Harness::with_scratch_tenant(&[("alice", &src), ("scratch", &dst)], "scratch");
    let r = h.backup("alice", "app").await;
    drop(ext); // the target's server no longer has it

    let (_, v) = h
        .service
        .verify(none(), verify_req(&r.id, "scratch"))
        .await
        .unwrap();
    assert_eq!(v.result, VerifyResult::Failed);
    assert_eq!(
        names(&v),
        [
            ("integrity", true),
            ("scratch_database", true),
            ("restore", false),
            ("cleanup", true)
        ]
    );
    let restore = &v.checks[2].detail;
    assert!(
        restore.contains("extension") && restore.contains("ctn_test_ext"),
        "pg_restore's own words: {restore}"
    );
    assert!(
        verify_databases(&dst).is_empty(),
        "scratch dropped even after a failed restore"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_byte_fails_integrity_before_anything_is_created() {
    let (_src, dst, h) = seeded_pair();
    let r = h.backup("alice", "app").await;
    let path = h.backup_dir().join(format!("{}.dump", r.id));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x80;
    std::fs::write(&path, bytes).unwrap();
    let before = dst.databases();

    let (_, v) = h
        .service
        .verify(none(), verify_req(&r.id, "scratch"))
        .await
        .unwrap();
    assert_eq!(v.result, VerifyResult::Failed);
    assert_eq!(names(&v), [("integrity", false)]);
    assert!(v.error.contains("integrity check failed"), "{}", v.error);
    assert_eq!(dst.databases(), before, "nothing created on the target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refusals_happen_before_anything_runs() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    // Two tenant names, one container: the target resolves to the source.
    let mut config = crate::support::with_scratch(
        crate::support::config_for(dir.path(), &[("alice", &t), ("alias", &t)]),
        "alias",
    );
    config.max_concurrent = 2;
    let h = Harness::with_config(dir, config);
    let r = h.backup("alice", "app").await;
    let before = t.databases();

    let e = h
        .service
        .verify(none(), verify_req(&r.id, "alias"))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::FailedPrecondition);
    assert!(e.message.contains("own container"), "{}", e.message);
    let e = h
        .service
        .verify(none(), verify_req(&r.id, ""))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::InvalidArgument);
    let e = h
        .service
        .verify(none(), verify_req(&r.id, "nobody"))
        .await
        .unwrap_err();
    // About the target, not a NotFound that would read as a missing backup.
    assert_eq!(e.code, Code::FailedPrecondition);
    assert!(
        e.message
            .contains("nobody is not declared `scratch = true`"),
        "{}",
        e.message
    );
    assert_eq!(t.databases(), before);
    assert!(
        h.service
            .get(none(), r.id.clone())
            .await
            .unwrap()
            .last_verification
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_racing_delete_never_resurrects_the_record() {
    let (_src, dst, h) = seeded_pair();
    for _ in 0..3 {
        let r = h.backup("alice", "app").await;
        let (v, d) = tokio::join!(
            h.service.verify(none(), verify_req(&r.id, "scratch")),
            h.service.delete(none(), r.id.clone())
        );
        d.unwrap();
        if let Err(e) = v {
            assert_eq!(
                e.code,
                Code::NotFound,
                "verify lost the race cleanly: {}",
                e.message
            );
        }
        let e = h.service.get(none(), r.id.clone()).await.unwrap_err();
        assert_eq!(e.code, Code::NotFound, "deleted stays deleted");
        assert!(!h.backup_dir().join(format!("{}.meta.json", r.id)).exists());
    }
    assert!(verify_databases(&dst).is_empty());
}
