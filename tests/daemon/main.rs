//! The real daemon on port 0 against real tenant clusters: every RPC over
//! gRPC (tonic) and REST (HTTP, JSON checked against the contract and the
//! served OpenAPI document), the authorization matrix, audit, shutdown.

#![allow(clippy::many_single_char_names)] // short names for tenants, daemons, records

#[path = "../support/mod.rs"]
mod support;

mod audit_chain;
mod authz;
mod binary;
mod boundary;
mod contract_rules;
mod globals;
mod hostile_clients;
mod load;
mod metrics;
mod notify;
mod paging;
mod rest;
mod tenant_names;
mod ui;

use containarium::proto;
use support::daemon::{TestDaemon, authed};
use support::{Tenant, config_for, fingerprint, seed, with_scratch};
use tonic::Code;

fn local(username: &str, database: &str) -> proto::CreateBackupRequest {
    proto::CreateBackupRequest {
        username: username.into(),
        connection: Some(proto::PgConnection {
            database: database.into(),
            ..Default::default()
        }),
        destination: proto::BackupDestination::Local.into(),
        gcs_bucket: String::new(),
        all_tenants: false,
    }
}

type Client = proto::backup_service_client::BackupServiceClient<tonic::transport::Channel>;

/// Backs up one database over gRPC and returns its record.
async fn backup_one(
    c: &mut Client,
    req: proto::CreateBackupRequest,
    token: &str,
) -> proto::BackupRecord {
    c.create_backup(authed(req, token))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap()
}

/// Restore-tests `id` into `target` over gRPC.
async fn verify_into(
    c: &mut Client,
    id: &str,
    target: &str,
    token: &str,
) -> Result<proto::VerifyBackupResponse, tonic::Status> {
    let req = proto::VerifyBackupRequest {
        id: id.into(),
        target_username: target.into(),
        connection: None,
    };
    c.verify_backup(authed(req, token))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rpc_over_grpc() {
    let (t, scratch) = (Tenant::start(), Tenant::start());
    t.create_db("app");
    seed(&t, "app", "alice");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&with_scratch(
        config_for(dir.path(), &[("alice", &t), ("bob", &scratch)]),
        "bob",
    ))
    .await;
    let mut c = d.grpc_client().await;
    let tok = d.token("alice", &[], None);

    let created = c
        .create_backup(authed(local("alice", "app"), &tok))
        .await
        .unwrap()
        .into_inner();
    let rec = created.record.clone().unwrap();
    assert_eq!(created.records, vec![rec.clone()]);
    assert!(created.failures.is_empty());
    assert_eq!(rec.username, "alice");
    assert_eq!(rec.destination(), proto::BackupDestination::Local);
    assert_eq!(rec.engine(), proto::BackupEngine::Postgres);
    assert_eq!(rec.relation_count, Some(5));
    assert!(rec.created_at.ends_with('Z'));
    assert!(rec.last_verification.is_none());

    let all = c
        .create_backup(authed(local("alice", ""), &tok))
        .await
        .unwrap()
        .into_inner();
    assert!(
        all.record.is_none(),
        "record is set only when one database was named"
    );
    assert_eq!(all.records.len(), 3, "the globals, app and postgres");

    let list = c
        .list_backups(authed(proto::ListBackupsRequest::default(), &tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.records.len(), 4);
    assert!(
        list.records
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );

    let got = c
        .get_backup(authed(proto::GetBackupRequest { id: rec.id.clone() }, &tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.record.unwrap(), rec);

    let restore = proto::RestoreBackupRequest {
        id: rec.id.clone(),
        connection: Some(proto::PgConnection {
            database: "copy".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let msg = c
        .restore_backup(authed(restore, &tok))
        .await
        .unwrap()
        .into_inner()
        .message;
    assert!(msg.contains("restored"), "{msg}");
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));

    let verify = proto::VerifyBackupRequest {
        id: rec.id.clone(),
        target_username: "bob".into(),
        connection: None,
    };
    // alice may not send her data to bob's container; the admin may.
    let e = c
        .verify_backup(authed(verify.clone(), &tok))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let v = c
        .verify_backup(authed(verify, &d.admin()))
        .await
        .unwrap()
        .into_inner();
    let ver = v.verification.unwrap();
    assert_eq!(ver.result(), proto::VerificationResult::Passed, "{ver:?}");
    assert_eq!(ver.verified_by, "root");
    assert_eq!(ver.checks.len(), 6);
    assert_eq!(v.record.unwrap().last_verification, Some(ver));

    let msg = c
        .delete_backup(authed(
            proto::DeleteBackupRequest { id: rec.id.clone() },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner()
        .message;
    assert!(msg.contains("deleted"));
    let e = c
        .get_backup(authed(proto::GetBackupRequest { id: rec.id.clone() }, &tok))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Errors carry the right codes.
    let e = c
        .get_backup(authed(proto::GetBackupRequest { id: "../x".into() }, &tok))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let mut bad = local("alice", "app");
    bad.destination = 0;
    let e = c.create_backup(authed(bad, &tok)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .create_backup(authed(local("alice", "nope"), &tok))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("does not exist"), "{}", e.message());
    d.stop().await;
}
