//! The status page in a real browser: headless Chromium over WebDriver
//! (`ui_browser.py`) against the real daemon. It loads `/ui`, signs in with
//! a pasted admin token, sees every tenant with a never-backed-up one shown
//! stale and the failures of the last days; a tenant's token sees only its
//! own rows; the token is in no URL and no cookie; a bad token is refused.
//! The admin view's screenshot is what `docs/status-page.png` shows.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

use crate::local;
use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for, seed};

async fn browse(job: &Value) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    for needed in [
        python.as_path(),
        "/usr/bin/chromium".as_ref(),
        "/usr/bin/chromedriver".as_ref(),
    ] {
        assert!(
            needed.exists(),
            "{} is missing: run ./scripts/setup.sh",
            needed.display()
        );
    }
    let mut child = tokio::process::Command::new(&python)
        .arg(root.join("tests/daemon/ui_browser.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(job.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(200),
        child.wait_with_output(),
    )
    .await
    .expect("the browser run finished in time")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser run failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

fn tenants(rows: &Value) -> Vec<(String, String, String)> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["tenant"].as_str().unwrap().to_string(),
                r["database"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_status_page_in_a_browser_shows_each_token_its_own_tenants() {
    let (alice, bob) = (Tenant::start(), Tenant::start());
    alice.create_db("app");
    seed(&alice, "app", "alice");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &alice), ("bob", &bob)])).await;
    let mut c = d.grpc_client().await;
    let admin = d.admin();
    for _ in 0..3 {
        c.create_backup(authed(local("alice", "app"), &admin))
            .await
            .unwrap();
    }
    // bob's database does not exist: a failure the page lists.
    let e = c
        .create_backup(authed(local("bob", "gone"), &admin))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);

    let profile = tempfile::tempdir().unwrap();
    let shot = dir.path().join("status.png");
    let seen = browse(&json!({
        "url": format!("http://{}", d.http),
        "admin": admin,
        "tenant": d.token("alice", &[], None),
        "screenshot": shot,
        "profile": profile.path(),
    }))
    .await;

    assert_eq!(seen["title"], "containarium status");
    assert_eq!(seen["sign_in_visible"], true);
    assert_eq!(seen["admin_who"], "Signed in as root (admin)");
    assert_eq!(
        tenants(&seen["admin_rows"]),
        [
            ("alice".into(), "app".into(), "fresh".into()),
            ("bob".into(), String::new(), "stale".into()),
        ],
        "{seen}"
    );
    let bob = &seen["admin_rows"][1];
    assert_eq!(bob["class"], "stale");
    assert!(
        bob["cells"][5]
            .as_str()
            .unwrap()
            .contains("never backed up"),
        "{bob}"
    );
    let alice_row = &seen["admin_rows"][0];
    assert_eq!(alice_row["trend_points"], 1, "a size trend: {alice_row}");
    assert_eq!(alice_row["cells"][3], "never", "no restore test yet");
    let failure = &seen["failures"][0];
    assert_eq!(failure[1], "create-failed", "{seen}");
    assert_eq!(failure[2], "bob");
    assert_eq!(failure[3], "gone");

    // The token stays in the tab: not in the URL, not in a cookie.
    assert_eq!(seen["url_after_sign_in"], format!("http://{}/ui", d.http));
    assert_eq!(seen["cookies"], json!([]));
    assert_eq!(seen["stored"], true);
    assert_eq!(seen["rows_after_reload"], 2);
    assert_eq!(seen["stored_after_sign_out"], false);

    // alice's own token: only alice.
    assert_eq!(seen["tenant_who"], "Signed in as alice");
    assert_eq!(
        tenants(&seen["tenant_rows"]),
        [("alice".into(), "app".into(), "fresh".into())]
    );

    assert!(
        seen["bad_token_error"]
            .as_str()
            .unwrap()
            .starts_with("Sign-in refused: invalid token"),
        "{seen}"
    );
    assert_eq!(seen["bad_token_table_shown"], false);

    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a screenshot was taken");
    if let Some(dest) = std::env::var_os("CONTAINARIUM_UI_SCREENSHOT") {
        std::fs::write(dest, png).unwrap();
    }
    d.stop().await;
}
