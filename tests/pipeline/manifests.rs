//! Row manifests counted in the archive as it streams: exact under
//! concurrent writes, in every compression mode, with extension tables left
//! out on both sides, and absent (not failed) for a hostile archive.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use containarium::catalog::VerifyResult;
use containarium::service::VerifyRequest;
use containarium::stream::{Compression, DumpConfig};

use crate::support::{Harness, Tenant, config_for, conn, none, restore_req, seed, with_scratch};

/// Exact rows of every ordinary user table an extension did not create.
fn counts(t: &Tenant, database: &str) -> BTreeMap<String, i64> {
    let tables = t.psql(
        database,
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg_toast%' AND NOT EXISTS (SELECT 1 FROM pg_depend d \
         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')",
    );
    tables
        .lines()
        .map(|tbl| {
            let n = t.psql(database, &format!("SELECT count(*) FROM {tbl}"));
            (tbl.to_string(), n.parse().unwrap())
        })
        .collect()
}

fn verify_req(id: &str) -> VerifyRequest {
    VerifyRequest {
        id: id.into(),
        target_tenant: "scratch".into(),
        connection: conn(""),
    }
}

/// Verifies `id` into the scratch tenant; the row check must pass on counts.
async fn verify_passes_on_rows(h: &Harness, id: &str) {
    let (_, v) = h.service.verify(none(), verify_req(id)).await.unwrap();
    assert_eq!(v.result, VerifyResult::Passed, "{v:#?}");
    let rows = v.checks.iter().find(|c| c.name == "row_counts").unwrap();
    assert!(rows.detail.contains("as at dump time"), "{rows:?}");
}

/// Names pg_dump must quote, a keyword, blank-string and NULL rows, an empty
/// table and an unlogged one, on top of [`seed`]'s partitions and large
/// objects.
const AWKWARD: &str = r#"
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."t""q"(a int); INSERT INTO "My Schema"."t""q" VALUES (1), (2);
CREATE TABLE "select"(a int); INSERT INTO "select" VALUES (1);
CREATE TABLE "User"(x text); INSERT INTO "User" VALUES (E'a\nb'), (E'\\.'), ('.'), (E'c\r');
CREATE TABLE blanks(s text); INSERT INTO blanks VALUES (''), (''), (NULL);
CREATE TABLE empty(a int);
CREATE UNLOGGED TABLE ul(a int); INSERT INTO ul VALUES (5);
CREATE MATERIALIZED VIEW mv AS SELECT 1 AS one;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_compression_mode_gives_an_exact_manifest() {
    let (src, scratch) = (Tenant::start(), Tenant::start());
    src.create_db("app");
    seed(&src, "app", "alice");
    src.psql("app", AWKWARD);
    let want = counts(&src, "app");
    assert_eq!(want.len(), 10, "{want:?}");
    assert_eq!(want["public.blanks"], 3);

    for mode in [Compression::Zlib, Compression::Zstd, Compression::None] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = with_scratch(
            config_for(dir.path(), &[("alice", &src), ("scratch", &scratch)]),
            "scratch",
        );
        config.tenants.get_mut("alice").unwrap().dump = Some(DumpConfig {
            compression: Some(mode),
            ..DumpConfig::default()
        });
        let h = Harness::with_config(dir, config);
        let r = h.backup("alice", "app").await;
        assert_eq!(r.row_counts.as_ref(), Some(&want), "{mode:?}");
        verify_passes_on_rows(&h, &r.id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manifest_taken_while_writes_run_equals_the_restored_rows() {
    let (src, scratch) = (Tenant::start(), Tenant::start());
    src.create_db("app");
    seed(&src, "app", "alice");
    // Large enough that pg_dump runs for a while after its snapshot.
    src.psql(
        "app",
        "CREATE TABLE big(id bigint, pad text); \
         INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 300000) g; \
         CREATE TABLE ticks(n int, at timestamptz DEFAULT now())",
    );
    // A writer committing rows into the dumped table and another one, one
    // transaction per row, until it is killed.
    let mut writer = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(src.sock())
        .args(["-p", "5432", "-U", "postgres", "-d", "app", "-c"])
        .arg(
            "DO $$ BEGIN FOR i IN 1..10000000 LOOP \
               INSERT INTO ticks(n) VALUES (i); INSERT INTO big VALUES (-i, 'w'); COMMIT; \
               PERFORM pg_sleep(0.0005); END LOOP; END $$",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while src.psql("app", "SELECT count(*) FROM ticks") == "0" {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let h = Harness::with_scratch_tenant(&[("alice", &src), ("scratch", &scratch)], "scratch");
    let r = h.backup("alice", "app").await;
    let during: i64 = src
        .psql("app", "SELECT count(*) FROM ticks")
        .parse()
        .unwrap();
    writer.kill().unwrap();
    writer.wait().unwrap();

    let manifest = r.row_counts.clone().expect("a row manifest");
    let ticks = manifest["public.ticks"];
    assert!(
        ticks > 0 && ticks < during,
        "the writer ran before and after the snapshot: {ticks} in the dump, {during} by its end"
    );
    assert_eq!(
        manifest["public.big"],
        300_000 + ticks,
        "both tables in one snapshot"
    );
    h.service
        .restore(none(), restore_req(&r.id, "copy"))
        .await
        .unwrap();
    assert_eq!(
        manifest,
        counts(&src, "copy"),
        "the manifest is what was restored"
    );
    verify_passes_on_rows(&h, &r.id).await;
}

/// An extension owning a configuration table (pg_dump dumps its rows, the
/// extension's script adds its own) and a plain table (not dumped at all).
struct ConfigExtension(String);

impl ConfigExtension {
    fn install() -> Self {
        let name = format!("ctn_cfg_ext_{}", std::process::id());
        let dir = std::path::Path::new("/usr/share/postgresql/15/extension");
        std::fs::write(
            dir.join(format!("{name}.control")),
            "default_version = '1.0'\nrelocatable = false\nschema = public\ntrusted = true\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{name}--1.0.sql")),
            "CREATE TABLE ext_cfg(k text);\n\
             SELECT pg_catalog.pg_extension_config_dump('ext_cfg', '');\n\
             GRANT ALL ON ext_cfg TO PUBLIC;\n\
             INSERT INTO ext_cfg VALUES ('from the extension');\n\
             CREATE TABLE ext_only(a int); INSERT INTO ext_only VALUES (1), (2);\n",
        )
        .unwrap();
        Self(name)
    }
}

impl Drop for ConfigExtension {
    fn drop(&mut self) {
        let dir = std::path::Path::new("/usr/share/postgresql/15/extension");
        let _ = std::fs::remove_file(dir.join(format!("{}.control", self.0)));
        let _ = std::fs::remove_file(dir.join(format!("{}--1.0.sql", self.0)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn extension_tables_stay_out_of_the_manifest_and_verify_passes() {
    let (src, scratch) = (Tenant::start(), Tenant::start());
    src.create_db("app");
    let ext = ConfigExtension::install();
    src.psql(
        "app",
        &format!(
            "CREATE EXTENSION {}; INSERT INTO ext_cfg VALUES ('by the user'); \
             CREATE TABLE mine(a int); INSERT INTO mine VALUES (1), (2), (3)",
            ext.0
        ),
    );
    let h = Harness::with_scratch_tenant(&[("alice", &src), ("scratch", &scratch)], "scratch");
    let r = h.backup("alice", "app").await;
    assert_eq!(
        r.row_counts,
        Some([("public.mine".to_string(), 3)].into()),
        "ext_cfg's dumped rows are not what a restore holds; ext_only is not dumped"
    );
    verify_passes_on_rows(&h, &r.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_archive_is_stored_without_a_row_manifest() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let real = Command::new("pg_dump")
        .args(["-Fc", "-h"])
        .arg(t.sock())
        .args(["-p", "5432", "-U", "postgres", "app"])
        .output()
        .unwrap();
    assert!(real.status.success());
    // The first half of a genuine archive (header, table of contents, part
    // of the data) followed by bytes that read as a block claiming a 2 GiB
    // chunk, and 1 MiB of noise; and a genuine header followed by noise.
    let mut cut = real.stdout[..real.stdout.len() / 2].to_vec();
    cut.extend_from_slice(&[1, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]);
    cut.extend(std::iter::repeat_n(0xa5, 1 << 20));
    let mut noise = real.stdout[..11].to_vec();
    noise.extend(std::iter::repeat_n(0xff, 4 << 20));
    for archive in [cut, noise] {
        let (tools, _) = crate::support::hostile_tool("pg_dump", &archive);
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_for(dir.path(), &[("alice", &t)]);
        config.tenants.get_mut("alice").unwrap().tool_path =
            Some(tools.path().display().to_string());
        let h = Harness::with_config(dir, config);
        let r = h.backup("alice", "app").await;
        assert_eq!(
            r.size_bytes,
            i64::try_from(archive.len()).unwrap(),
            "stored whole"
        );
        assert_eq!(std::fs::read(&r.location).unwrap(), archive);
        assert_eq!(r.row_counts, None, "not counted");
        assert_eq!(r.relation_count, Some(5), "the catalog query still ran");
    }
}
