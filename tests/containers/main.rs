//! The `lxd` and `podman` drivers on real container managers, through the
//! daemon, configured as in production: `pg_dump -Fc` runs inside the
//! tenant's container and streams out over `lxc exec` / `podman exec -i`.
//! Needs the tenants of `scripts/fixtures/containers.sh` (run
//! `./scripts/test-containers.sh`); without them every test fails loudly.

#[path = "../support/mod.rs"]
mod support;

mod fixture;
mod restore;
mod round_trip;
mod secrets;
mod staging;

use containarium::proto;
use containarium::proto::backup_service_client::BackupServiceClient;
use tonic::transport::Channel;

/// A local backup of `database` in `tenant` (every database when empty).
fn create(tenant: &str, connection: proto::PgConnection) -> proto::CreateBackupRequest {
    proto::CreateBackupRequest {
        username: tenant.into(),
        connection: Some(connection),
        destination: proto::BackupDestination::Local.into(),
        gcs_bucket: String::new(),
        all_tenants: false,
    }
}

/// A daemon configured on the fixture's containers, a gRPC client, and a
/// token of bob (the scram tenant) — what most tests start with.
struct Bob {
    dir: tempfile::TempDir,
    daemon: support::daemon::TestDaemon,
    client: BackupServiceClient<Channel>,
    token: String,
}

impl Bob {
    async fn start(fx: &fixture::Fixture) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let daemon = support::daemon::TestDaemon::start(&fx.daemon_config(dir.path())).await;
        let client = daemon.grpc_client().await;
        let token = daemon.token("bob", &[], None);
        Self {
            dir,
            daemon,
            client,
            token,
        }
    }

    /// A local backup of bob's `database` (with bob's password): its record.
    async fn backup(&mut self, fx: &fixture::Fixture, database: &str) -> proto::BackupRecord {
        let req = create("bob", fx.connection(database, Some(&fx.password)));
        self.client
            .create_backup(support::daemon::authed(req, &self.token))
            .await
            .unwrap()
            .into_inner()
            .record
            .unwrap()
    }

    /// Restores `id` into bob's `database` (empty: the record's own).
    async fn restore(
        &mut self,
        fx: &fixture::Fixture,
        id: &str,
        database: &str,
        edit: impl FnOnce(&mut proto::RestoreBackupRequest),
    ) -> Result<String, tonic::Status> {
        let mut req = proto::RestoreBackupRequest {
            id: id.into(),
            connection: Some(fx.connection(database, Some(&fx.password))),
            ..Default::default()
        };
        edit(&mut req);
        let res = self
            .client
            .restore_backup(support::daemon::authed(req, &self.token))
            .await?;
        Ok(res.into_inner().message)
    }
}
