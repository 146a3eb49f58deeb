//! The byte path's stages against real tenants: zstd and age dumps restore
//! through the daemon and by hand with the Debian CLIs, old records still
//! restore, a wrong or missing key fails before any database is touched.

use std::path::{Path, PathBuf};
use std::process::Command;

use containarium::Code;
use containarium::catalog::{Record, VerifyResult};
use containarium::config::Config;
use containarium::service::VerifyRequest;
use containarium::stream::{Compression, DumpConfig};

use crate::support::{Harness, Tenant, config_for, conn, fingerprint, none, restore_req, seed};

const MARKER: &str = "PLAINTEXT-MARKER-4d1e";

/// A fresh age identity made by the real `age-keygen`; returns the key
/// file and its public key.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen is installed by scripts/setup.sh");
    assert!(out.status.success(), "{out:?}");
    let public = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap();
    assert!(public.status.success(), "{public:?}");
    (
        key,
        String::from_utf8(public.stdout).unwrap().trim().to_string(),
    )
}

/// A second service over `first`'s backup directory with another config:
/// what a restarted (or reconfigured) daemon sees.
fn reopen(first: &Harness, edit: impl FnOnce(&mut Config)) -> Harness {
    let mut config = first.config.clone();
    edit(&mut config);
    Harness::with_config(tempfile::tempdir().unwrap(), config)
}

fn dump_of<'a>(config: &'a mut Config, tenant: &str) -> &'a mut DumpConfig {
    config
        .tenants
        .get_mut(tenant)
        .unwrap()
        .dump
        .get_or_insert_with(DumpConfig::default)
}

/// `sh -c` a hand restore (`… | pg_restore`) into a new `database`.
fn hand_restore(t: &Tenant, pipeline: &str, database: &str) {
    t.create_db(database);
    let sh = format!(
        "set -o pipefail; {pipeline} | pg_restore --exit-on-error -h {} -p 5432 -U postgres -d {database}",
        t.sock().display()
    );
    let out = Command::new("bash").args(["-c", &sh]).output().unwrap();
    assert!(out.status.success(), "{sh}: {out:?}");
}

/// Adds `rows` × 6.4 KB of incompressible rows to alice's `app`, then backs
/// it up and returns the error that must follow.
pub(crate) async fn grow_and_back_up(h: &Harness, t: &Tenant, rows: u32) -> containarium::Error {
    t.psql(
        "app",
        &format!(
            "CREATE TABLE blob AS SELECT g, decode(string_agg(md5(g::text || '.' || x), ''), 'hex') b \
             FROM generate_series(1, {rows}) g, generate_series(1, 400) x GROUP BY g"
        ),
    );
    h.service
        .create(none(), crate::support::create_req("alice", "app"))
        .await
        .unwrap_err()
}

fn stored(r: &Record) -> Vec<u8> {
    std::fs::read(&r.location).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zstd_dumps_restore_and_a_zlib_record_of_older_code_still_restores() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", MARKER);
    let zlib = Harness::new(&[("alice", &t)]);
    let old = zlib.backup("alice", "app").await;
    // Exactly what code before stages wrote: none of the new keys.
    let meta = zlib.backup_dir().join(format!("{}.meta.json", old.id));
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    for k in [
        "stages",
        "compression",
        "raw_size_bytes",
        "encryption",
        "recipients",
    ] {
        json.as_object_mut().unwrap().remove(k);
    }
    std::fs::write(&meta, serde_json::to_vec(&json).unwrap()).unwrap();

    let h = reopen(&zlib, |c| {
        dump_of(c, "alice").compression = Some(Compression::Zstd);
    });
    let z = h.backup("alice", "app").await;
    assert_eq!(z.encoding.stages, ["zstd"]);
    assert_eq!(z.encoding.compression.as_deref(), Some("zstd"));
    let raw = z.encoding.raw_size_bytes.unwrap();
    assert!(raw > z.size_bytes, "raw {raw} vs stored {}", z.size_bytes);
    assert_eq!(&stored(&z)[..4], [0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");

    h.service
        .restore(none(), restore_req(&z.id, "zcopy"))
        .await
        .unwrap();
    assert_eq!(fingerprint(&t, "zcopy"), fingerprint(&t, "app"));

    let back = h.service.get(none(), old.id.clone()).await.unwrap();
    assert!(back.encoding.stages.is_empty() && back.encoding.compression.is_none());
    h.service
        .restore(none(), restore_req(&old.id, "oldcopy"))
        .await
        .unwrap();
    assert_eq!(fingerprint(&t, "oldcopy"), fingerprint(&t, "app"));

    // The README's hand restore.
    hand_restore(&t, &format!("zstd -d < {}", z.location), "hand");
    assert_eq!(fingerprint(&t, "hand"), fingerprint(&t, "app"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn encrypted_dumps_hold_no_plaintext_and_coexist_with_clear_ones() {
    let (alice, bob, scratch) = (Tenant::start(), Tenant::start(), Tenant::start());
    for t in [&alice, &bob] {
        t.create_db("app");
        seed(t, "app", MARKER);
    }
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = keygen(keys.path(), "alice.txt");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(
        dir.path(),
        &[("alice", &alice), ("bob", &bob), ("scratch", &scratch)],
    );
    config.tenants.get_mut("scratch").unwrap().scratch = true;
    *dump_of(&mut config, "alice") = DumpConfig {
        compression: Some(Compression::Zstd),
        recipients: Some(vec![public.clone()]),
        identity_file: Some(key.clone()),
        ..DumpConfig::default()
    };
    // bob: -Z0 and no stage, so his marker is visible in the clear.
    dump_of(&mut config, "bob").compression = Some(Compression::None);
    let h = Harness::with_config(dir, config);

    let a = h.backup("alice", "app").await;
    let b = h.backup("bob", "app").await;
    assert_eq!(a.encoding.stages, ["zstd", "age"]);
    assert_eq!(a.encoding.encryption.as_deref(), Some("age"));
    assert_eq!(a.encoding.recipients, [public]);
    assert!(stored(&a).starts_with(b"age-encryption.org/v1\n"));
    let has_marker = |bytes: &[u8]| bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes());
    assert!(
        !has_marker(&stored(&a)),
        "no plaintext in the encrypted dump"
    );
    assert!(has_marker(&stored(&b)), "the clear dump shows the marker");
    assert!(b.encoding.stages.is_empty() && b.encoding.encryption.is_none());

    let listed = h.service.list(none(), None).await.unwrap();
    assert_eq!(listed.records.len(), 2);
    for (r, t) in [(&a, &alice), (&b, &bob)] {
        h.service
            .restore(none(), restore_req(&r.id, "copy"))
            .await
            .unwrap();
        assert_eq!(fingerprint(t, "copy"), fingerprint(t, "app"));
    }

    let (_, v) = h.service.verify(none(), verify_req(&a.id)).await.unwrap();
    assert_eq!(v.result, VerifyResult::Passed, "{v:#?}");
    let decode = v.checks.iter().find(|c| c.name == "decode").unwrap();
    assert!(
        decode.passed && decode.detail.contains("zstd"),
        "{decode:?}"
    );

    // The README's hand restore with the Debian age and zstd CLIs.
    hand_restore(
        &alice,
        &format!("age -d -i {} < {} | zstd -d", key.display(), a.location),
        "hand",
    );
    assert_eq!(fingerprint(&alice, "hand"), fingerprint(&alice, "app"));
}

/// An OpenSSH ed25519 key pair made by the real `ssh-keygen`, without a
/// passphrase unless one is given; returns the private key file and the
/// `.pub` line (with its comment).
fn ssh_keygen(dir: &Path, name: &str, passphrase: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-C",
            "alice@laptop",
            "-N",
            passphrase,
            "-f",
        ])
        .arg(&key)
        .output()
        .expect("ssh-keygen is installed by scripts/setup.sh");
    assert!(out.status.success(), "{out:?}");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ssh_ed25519_key_encrypts_restores_and_decrypts_by_hand() {
    let alice = Tenant::start();
    alice.create_db("app");
    seed(&alice, "app", MARKER);
    let keys = tempfile::tempdir().unwrap();
    let (key, line) = ssh_keygen(keys.path(), "id_ed25519", "");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &alice)]);
    *dump_of(&mut config, "alice") = DumpConfig {
        recipients: Some(vec![line.clone()]),
        identity_file: Some(key.clone()),
        ..DumpConfig::default()
    };
    let h = Harness::with_config(dir, config);

    let a = h.backup("alice", "app").await;
    // The record names the key, not the laptop it came from.
    let without_comment = line.trim_end_matches(" alice@laptop");
    assert!(without_comment.starts_with("ssh-ed25519 "), "{line}");
    assert_eq!(a.encoding.recipients, [without_comment]);
    assert_eq!(a.encoding.encryption.as_deref(), Some("age"));
    let bytes = stored(&a);
    assert!(bytes.starts_with(b"age-encryption.org/v1\n-> ssh-ed25519 "));
    assert!(!bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()));

    h.service
        .restore(none(), restore_req(&a.id, "copy"))
        .await
        .unwrap();
    assert_eq!(fingerprint(&alice, "copy"), fingerprint(&alice, "app"));
    // The README's hand restore: age reads OpenSSH keys as identities.
    hand_restore(
        &alice,
        &format!("age -d -i {} < {}", key.display(), a.location),
        "hand",
    );
    assert_eq!(fingerprint(&alice, "hand"), fingerprint(&alice, "app"));

    // A daemon cannot type a passphrase: a protected key is refused, by name,
    // before anything is restored.
    let (locked, _) = ssh_keygen(keys.path(), "id_locked", "secret words");
    let h2 = reopen(&h, |c| {
        dump_of(c, "alice").identity_file = Some(locked.clone());
    });
    let e = h2
        .service
        .restore(none(), restore_req(&a.id, "never"))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("protected by a passphrase"),
        "{}",
        e.message
    );
    assert!(
        !alice.databases().iter().any(|d| d == "never"),
        "nothing was restored"
    );
}

fn verify_req(id: &str) -> VerifyRequest {
    VerifyRequest {
        id: id.into(),
        target_tenant: "scratch".into(),
        connection: conn(""),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_or_missing_identity_fails_before_any_database_is_touched() {
    let (alice, scratch) = (Tenant::start(), Tenant::start());
    alice.create_db("app");
    seed(&alice, "app", MARKER);
    let keys = tempfile::tempdir().unwrap();
    let (_, public) = keygen(keys.path(), "right.txt");
    let (wrong, _) = keygen(keys.path(), "wrong.txt");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &alice), ("scratch", &scratch)]);
    config.tenants.get_mut("scratch").unwrap().scratch = true;
    *dump_of(&mut config, "alice") = DumpConfig {
        recipients: Some(vec![public]),
        identity_file: Some(wrong),
        ..DumpConfig::default()
    };
    let h = Harness::with_config(dir, config);
    let r = h.backup("alice", "app").await;

    alice.create_db("target");
    alice.psql(
        "target",
        "CREATE TABLE keep(x int); INSERT INTO keep VALUES (42)",
    );
    let before = fingerprint(&alice, "target");
    for db in ["target", "fresh"] {
        let mut req = restore_req(&r.id, db);
        req.options.clean = true;
        let e = h.service.restore(none(), req).await.unwrap_err();
        assert_eq!(e.code, Code::FailedPrecondition);
        assert!(e.message.contains("cannot decrypt"), "{}", e.message);
    }
    assert_eq!(fingerprint(&alice, "target"), before, "target untouched");
    assert!(!alice.databases().contains(&"fresh".to_string()));

    let scratch_dbs = scratch.databases();
    let (_, v) = h.service.verify(none(), verify_req(&r.id)).await.unwrap();
    assert_eq!(v.result, VerifyResult::Failed);
    let names: Vec<_> = v
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.passed))
        .collect();
    assert_eq!(names, [("integrity", true), ("decode", false)]);
    assert!(v.error.starts_with("decode: cannot decrypt"), "{}", v.error);
    assert_eq!(scratch.databases(), scratch_dbs, "no scratch database made");

    // An encrypt-only host: recipients, no identity.
    let only = reopen(&h, |c| dump_of(c, "alice").identity_file = None);
    let e = only
        .service
        .restore(none(), restore_req(&r.id, "fresh"))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::FailedPrecondition);
    assert!(e.message.contains("encrypt-only"), "{}", e.message);
    let hint = format!("age -d -i key.txt < {} | pg_restore", r.location);
    assert!(e.message.contains(&hint), "{}", e.message);
    assert!(!alice.databases().contains(&"fresh".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dump_growing_past_max_dump_bytes_is_aborted_and_leaves_nothing() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", MARKER);
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &t)]);
    dump_of(&mut config, "alice").max_dump_bytes = Some(1024 * 1024);
    let h = Harness::with_config(dir, config);
    let earlier = h.backup("alice", "app").await;
    let files = h.backup_files();

    // The tenant grows its database past the limit.
    let e = grow_and_back_up(&h, &t, 400).await;
    assert_eq!(e.code, Code::FailedPrecondition);
    assert!(
        e.message.contains("max-dump-bytes = 1048576"),
        "{}",
        e.message
    );
    assert_eq!(h.backup_files(), files, "no dump, no record, no temp file");
    assert_eq!(h.service.list(none(), None).await.unwrap().records.len(), 1);
    h.service
        .restore(none(), restore_req(&earlier.id, "copy"))
        .await
        .unwrap();
    let audit = std::fs::read_to_string(h.backup_dir().join("audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"action\":\"create\"") && l.contains("max-dump-bytes")),
        "{audit}"
    );
}
