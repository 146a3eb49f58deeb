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
