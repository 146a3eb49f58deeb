//! Alerts reach a real HTTP receiver from the real daemon binary: a failed
//! create, a failed restore test, tenants past their freshness threshold,
//! and the recovery of each; a receiver that is down gets them once it comes
//! back; an `events` filter and the Slack format hold; the webhook's secret
//! path never appears in a log line or in `--print-config`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::binary::{BIN, Daemon, config_file, token};
use crate::support::{Tenant, seed};

/// A webhook receiver on 127.0.0.1:0 that answers 503 while "down".
#[derive(Clone, Default)]
struct Receiver {
    up: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    got: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    /// Serves under `/hook/<secret>`; returns the full URL.
    async fn start(self, secret: &str) -> String {
        let app = axum::Router::new()
            .route(&format!("/hook/{secret}"), axum::routing::post(receive))
            .with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook/{secret}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn got(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (bounded) until an alert satisfies `pred`; returns it.
    async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            if let Some(v) = self.got().into_iter().find(|v| pred(v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "never received {what}: {:?}",
                self.got()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn receive(State(r): State<Receiver>, body: axum::Json<Value>) -> StatusCode {
    if !r.up.load(Ordering::SeqCst) {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    r.got.lock().unwrap().push(body.0);
    StatusCode::OK
}

fn is(v: &Value, event: &str, tenant: &str, database: &str) -> bool {
    v["event"] == event && v["tenant"] == tenant && v["database"] == database
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_staleness_and_recoveries_reach_a_receiver_that_was_down() {
    let (alice, bob) = (Tenant::start(), Tenant::start());
    // Restore tests go only into a container declared scratch; bob stays a
    // plain tenant so that its staleness is watched.
    let scratch = Tenant::start();
    alice.create_db("app");
    seed(&alice, "app", "alice");
    let (all, slack) = (Receiver::default(), Receiver::default());
    slack.up.store(true, Ordering::SeqCst);
    let all_url = all.clone().start("T0-sekrit-path-1").await;
    let slack_url = slack.clone().start("T0-sekrit-path-2").await;

    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[[notify]]\nurl = \"{all_url}\"\n\
         [[notify]]\nurl = \"{slack_url}\"\nformat = \"slack\"\nevents = [\"stale\", \"recovered\"]\n\
         [freshness]\nmax-age = \"26h\"\ncheck-interval-secs = 1\n\
         [tenants.bob]\ndriver = \"netns\"\ncontainer = \"{}\"\n\
         [tenants.scratch]\ndriver = \"netns\"\ncontainer = \"{}\"\nscratch = true\n",
        bob.netns, scratch.netns
    );
    let cfg = config_file(dir.path(), &alice.netns, &extra);
    let printed = Command::new(BIN)
        .args(["daemon", "--print-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let printed = String::from_utf8(printed.stdout).unwrap();
    assert!(printed.contains("[[notify]]"), "{printed}");
    assert!(!printed.contains("sekrit"), "{printed}");

    let d = Daemon::start(&cfg);
    let admin = token("root", &["admin"]);
    let http = reqwest::Client::new();
    let post = |path: String, body: Value| {
        http.post(format!("http://{}{path}", d.http))
            .bearer_auth(&admin)
            .body(body.to_string())
            .send()
    };
    let create = |tenant: &str, database: &str| {
        post(
            "/v1/backups".into(),
            json!({"username": tenant, "connection": {"database": database}, "destination": 1}),
        )
    };

    // Neither tenant was ever backed up: both are stale at the first check.
    let text = slack
        .wait_for("alice stale (slack)", |v| {
            v["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("containarium stale: alice — never backed up"))
        })
        .await;
    assert_eq!(text.as_object().unwrap().len(), 1, "{text}");
    // The other receiver is down: it is asked, answers 503, is asked again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while all.refused.load(Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "the down receiver was not retried"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(all.got().is_empty());
    all.up.store(true, Ordering::SeqCst);
    let stale = all
        .wait_for("alice stale after coming back", |v| {
            is(v, "stale", "alice", "")
        })
        .await;
    assert_eq!(stale["message"], "never backed up");
    all.wait_for("bob stale", |v| is(v, "stale", "bob", ""))
        .await;

    // A failed create, then a good one: alice recovers from staleness.
    let r = create("alice", "nope").await.unwrap();
    assert_eq!(r.status(), 400);
    let failed = all
        .wait_for("create-failed", |v| is(v, "create-failed", "alice", "nope"))
        .await;
    assert!(
        failed["message"].as_str().unwrap().contains("nope"),
        "{failed}"
    );
    let r = create("alice", "app").await.unwrap();
    assert_eq!(r.status(), 200);
    let rec: Value = r.json().await.unwrap();
    let id = rec["record"]["id"].as_str().unwrap().to_string();
    all.wait_for("alice recovered", |v| is(v, "recovered", "alice", ""))
        .await;
    slack
        .wait_for("alice recovered (slack)", |v| {
            v["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("containarium recovered: alice — "))
        })
        .await;

    // bob's database fails until it exists; its first good backup recovers it.
    assert_eq!(create("bob", "flaky").await.unwrap().status(), 400);
    all.wait_for("bob create-failed", |v| {
        is(v, "create-failed", "bob", "flaky")
    })
    .await;
    bob.create_db("flaky");
    assert_eq!(create("bob", "flaky").await.unwrap().status(), 200);
    let back = all
        .wait_for("bob/flaky recovered", |v| {
            is(v, "recovered", "bob", "flaky")
        })
        .await;
    assert_eq!(back["message"], "backups succeed again");

    // A dump damaged at rest: the restore test fails, and says so.
    let dump = dir.path().join(format!("backups/{id}.dump"));
    let mut bytes = std::fs::read(&dump).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&dump, bytes).unwrap();
    let r = post(
        format!("/v1/backups/{id}/verify"),
        json!({"targetUsername": "scratch"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let v = all
        .wait_for("verify-failed", |v| is(v, "verify-failed", "alice", "app"))
        .await;
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("integrity check failed"),
        "{v}"
    );

    // The failures are listed with the operations, to their tenant only.
    let listed: Value = http
        .get(format!("http://{}/v1/operations", d.http))
        .bearer_auth(token("alice", &[]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failures: Vec<(&str, &str)> = listed["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["event"].as_str().unwrap(),
                f["database"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        failures,
        [("verify-failed", "app"), ("create-failed", "nope")],
        "{listed}"
    );

    // The slack receiver asked only for stale and recovered.
    for v in slack.got() {
        let t = v["text"].as_str().unwrap();
        assert!(
            t.starts_with("containarium stale: ") || t.starts_with("containarium recovered: "),
            "{t}"
        );
    }
    d.signal("-TERM");
    let (status, logs) = d.wait();
    assert!(status.success());
    assert!(
        logs.iter()
            .any(|l| l.contains("alert not delivered; retrying")),
        "the retries are logged"
    );
    let leaked: Vec<_> = logs.iter().filter(|l| l.contains("sekrit")).collect();
    assert!(leaked.is_empty(), "webhook secrets in the log: {leaked:?}");
}
