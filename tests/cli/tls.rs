//! TLS on both ports: the CLI reaches the daemon over `https://` with
//! `--ca-cert`, through gRPC and REST; without the CA, or in plain text, it
//! does not get in.

use crate::support::certs::certificates;
use crate::support::daemon::TestDaemon;
use crate::support::{Tenant, config_for};
use crate::{BOTH, Cli, Transport, failed_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_speaks_tls_to_both_ports() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let mut config = config_for(dir.path(), &[("alice", &t)]);
    config.server.tls_cert = Some(cert);
    config.server.tls_key = Some(key);
    let d = TestDaemon::start(&config).await;
    let token = Some(d.admin());
    let ca = ca.display().to_string();

    for transport in BOTH {
        let addr = if transport == Transport::Grpc {
            d.grpc
        } else {
            d.http
        };
        let https = Cli::at(
            format!("https://{addr}"),
            transport == Transport::Rest,
            token.clone(),
        );
        let created = https
            .json(&["create", "alice", "--database", "app", "--ca-cert", &ca])
            .await;
        assert!(
            created["record"]["id"]
                .as_str()
                .unwrap()
                .starts_with("alice-app-")
        );
        let listed = https.json(&["list", "--ca-cert", &ca]).await;
        assert!(!listed["records"].as_array().unwrap().is_empty());

        // Without the CA the server is not trusted; plain text is not served.
        let line = failed_with(&https.run(&["list"]).await, "cannot reach");
        assert!(line.contains("certificate"), "{transport:?}: {line}");
        let plain = Cli::at(
            format!("http://{addr}"),
            transport == Transport::Rest,
            token.clone(),
        );
        failed_with(&plain.run(&["list"]).await, "cannot reach");
    }
    d.stop().await;
}
