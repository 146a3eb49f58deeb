//! Network clients that attack the listeners rather than the API: silent
//! TLS clients, a client that dribbles its request head, an unauthenticated
//! flood, and a web page reaching a dev-mode daemon. Each test runs the real
//! daemon and real clients, and bounds every wait.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use containarium::auth::Authenticator;
use containarium::proto;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::certs::certificates;
use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silent_tls_clients_cannot_stall_rest_or_mcp() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let mut config = config_for(dir.path(), &[]);
    config.server.tls_cert = Some(cert);
    config.server.tls_key = Some(key);
    // Long enough that the silent clients are still there throughout.
    config.server.header_timeout_secs = 60;
    let d = TestDaemon::start(&config).await;

    // Several clients open the TLS port and never send a ClientHello.
    let mut silent = Vec::new();
    for _ in 0..6 {
        silent.push(TcpStream::connect(d.http).await.unwrap());
    }

    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let url = format!("https://{}/v1/backups", d.http);
    let resp = timeout(
        Duration::from_secs(10),
        http.get(&url).bearer_auth(d.admin()).send(),
    )
    .await
    .expect("REST must answer while silent clients hold TLS connections open")
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["records"], json!([]));

    // The real MCP client (Python SDK) over the same port.
    let job = json!({"token": d.admin(), "ca": ca, "calls": [{"list_tools": true}]});
    let mcp = format!("https://{}/mcp", d.http);
    let (out, stderr) = timeout(
        Duration::from_secs(30),
        crate::support::mcp_client::run_client(&[mcp], &job),
    )
    .await
    .expect("MCP must answer while silent clients hold TLS connections open");
    let tools = out["results"][0]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{out} {stderr}"));
    assert!(tools.iter().any(|t| t["name"] == "list_backups"), "{out}");

    // The silent clients were not refused: they are merely waiting.
    for s in &silent {
        let mut b = [0u8; 1];
        assert!(s.try_read(&mut b).is_err(), "still open, nothing sent");
    }
    d.stop().await;
}

/// Reads until the server closes the connection or sends something.
async fn closed_or_answered(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = [0u8; 1024];
    match s.read(&mut buf).await {
        Ok(n) => buf[..n].to_vec(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_header_and_silent_clients_are_cut_off_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[]);
    config.server.header_timeout_secs = 2;
    let d = TestDaemon::start(&config).await;

    let mut silent = TcpStream::connect(d.http).await.unwrap();
    let mut slow = TcpStream::connect(d.http).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    // One more header byte every 200 ms: never a complete request head.
    let answer = timeout(Duration::from_secs(15), async {
        loop {
            tokio::select! {
                got = closed_or_answered(&mut slow) => break got,
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if slow.write_all(b"a").await.is_err() {
                        break Vec::new();
                    }
                }
            }
        }
    })
    .await
    .expect("a client dribbling its request head must be cut off");
    let took = started.elapsed();
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        took >= Duration::from_millis(1500),
        "cut at the deadline, not before: {took:?}"
    );

    let gone = timeout(Duration::from_secs(15), closed_or_answered(&mut silent))
        .await
        .expect("a client that sends nothing must be cut off");
    assert!(gone.is_empty(), "nothing served to a silent client");

    // The daemon keeps serving everyone else.
    let ok = reqwest::get(d.url("/healthz")).await.unwrap();
    assert_eq!(ok.status(), 200);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unauthenticated_flood_is_counted_but_audited_once_per_source_per_minute() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[]);
    let d = TestDaemon::start(&config).await;
    let local = reqwest::Client::new();
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut sent = 0;
    for i in 0..30 {
        let mut req = local.get(d.url("/v1/backups"));
        if i % 3 == 0 {
            req = req.bearer_auth("not.a.jwt");
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
        sent += 1;
    }
    let mut c = d.grpc_client().await;
    for _ in 0..10 {
        let e = c
            .list_backups(authed(proto::ListBackupsRequest::default(), ""))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        sent += 1;
    }
    for _ in 0..10 {
        let r = local
            .post(d.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        sent += 1;
    }
    for _ in 0..5 {
        let r = other.get(d.url("/v1/backups")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        sent += 1;
    }

    // One audit line per source, each naming it.
    let audit = std::fs::read_to_string(config.audit_log()).unwrap();
    let mut per_source: BTreeMap<String, usize> = BTreeMap::new();
    for line in audit.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        if e.get("marker").is_some() {
            continue;
        }
        assert_eq!(e["outcome"], "denied", "{line}");
        *per_source
            .entry(e["source"].as_str().unwrap_or("<none>").to_string())
            .or_default() += 1;
    }
    assert_eq!(
        per_source,
        BTreeMap::from([("127.0.0.1".to_string(), 1), ("127.0.0.2".to_string(), 1)]),
        "{audit}"
    );

    // The metric counts every one of them.
    let text = local
        .get(d.url("/metrics"))
        .bearer_auth(d.admin())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = text
        .lines()
        .find_map(|l| l.strip_prefix("containarium_unauthenticated_requests_total "))
        .unwrap_or_else(|| panic!("no unauthenticated counter in\n{text}"));
    assert_eq!(counted, sent.to_string());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn insecure_no_auth_refuses_cross_site_bodies_and_foreign_hosts() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("alice", &t)]);
    let d = TestDaemon::start_with(&config, Authenticator::Disabled).await;
    let http = reqwest::Client::new();
    let create = json!({"username": "alice", "connection": {"database": "app"},
                        "destination": "BACKUP_DESTINATION_LOCAL"})
    .to_string();
    let listed = async || -> Value {
        http.get(d.url("/v1/backups"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };

    // A web page's "simple" cross-site POST: text/plain needs no preflight.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = http.post(d.url("/v1/backups")).body(create.clone());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "{content_type:?}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["message"].as_str().unwrap().contains("application/json"),
            "{v}"
        );
    }
    // DNS rebinding: the right address under a foreign name.
    for (method, body) in [
        (reqwest::Method::POST, create.clone()),
        (reqwest::Method::GET, String::new()),
    ] {
        let r = http
            .request(method.clone(), d.url("/v1/backups"))
            .header("host", format!("rebind.example:{}", d.http.port()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{method}");
        let v: Value = r.json().await.unwrap();
        assert!(v["message"].as_str().unwrap().contains("loopback"), "{v}");
    }
    assert_eq!(listed().await["records"], json!([]), "nothing was created");

    // The same create as JSON to a loopback name is served.
    let r = http
        .post(d.url("/v1/backups"))
        .header("content-type", "application/json")
        .body(create)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(listed().await["records"].as_array().unwrap().len(), 1);
    d.stop().await;
}
