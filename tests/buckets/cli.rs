//! The CLI against bucket destinations: `create --dest gcs|s3 --bucket …`
//! on one host, `backup index rebuild` on a host that lost its index.

use containarium::catalog::Destination;
use serde_json::Value;

use crate::Bucket;
use crate::support::daemon::TestDaemon;
use crate::support::{Tenant, config_for};

async fn cli(d: &TestDaemon, args: &[&str]) -> (bool, Value, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_containarium"));
    c.arg("backup")
        .args(args)
        .args(["--output", "json", "--server"])
        .arg(format!("http://{}", d.grpc))
        .env("CONTAINARIUM_TOKEN", d.admin())
        .env_remove("CONTAINARIUM_SERVER");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_with_a_bucket_and_rebuild_the_index_from_the_cli() {
    let t = Tenant::start();
    t.create_db("app");
    let gcs = Bucket::start(Destination::Gcs, "vault");
    let s3 = Bucket::start(Destination::S3, "vault");
    let configure = |dir: &std::path::Path| {
        let mut c = config_for(dir, &[("alice", &t)]);
        gcs.configure(&mut c, "gs://vault/a", &[]);
        s3.configure(&mut c, "s3://vault/a", &[]); // any prefix of an allowed bucket
        c
    };
    let dir_a = tempfile::tempdir().unwrap();
    let a = TestDaemon::start(&configure(dir_a.path())).await;
    let (ok, gcs_made, err) = cli(
        &a,
        &["create", "alice", "--database", "app", "--dest", "gcs"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        gcs_made["record"]["location"]
            .as_str()
            .unwrap()
            .starts_with("gs://vault/a/")
    );
    let (ok, s3_made, err) = cli(
        &a,
        &[
            "create",
            "alice",
            "--database",
            "app",
            "--dest",
            "s3",
            "--bucket",
            "s3://vault/other",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        s3_made["record"]["location"]
            .as_str()
            .unwrap()
            .starts_with("s3://vault/other/")
    );
    let (ok, _, err) = cli(
        &a,
        &[
            "create",
            "alice",
            "--database",
            "app",
            "--dest",
            "s3",
            "--bucket",
            "s3://elsewhere",
        ],
    )
    .await;
    assert!(!ok && err.contains("elsewhere"), "{err}");
    a.stop().await;

    // Host B: no index; rebuild names the non-default bucket explicitly.
    let dir_b = tempfile::tempdir().unwrap();
    let b = TestDaemon::start(&configure(dir_b.path())).await;
    let (ok, v, err) = cli(&b, &["index", "rebuild"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        v["added"].as_array().unwrap().len(),
        1,
        "the default buckets hold the GCS backup: {v}"
    );
    let (ok, v, err) = cli(&b, &["index", "rebuild", "--bucket", "s3://vault/other"]).await;
    assert!(ok, "{err}");
    assert_eq!(v["added"][0]["id"], s3_made["record"]["id"]);
    let (_, listed, _) = cli(&b, &["list"]).await;
    assert_eq!(listed["records"].as_array().unwrap().len(), 2);
    b.stop().await;
}
