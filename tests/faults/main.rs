//! The fault matrix: the real daemon (the `containarium` binary), real
//! tenant clusters and a real S3 emulator, a fault injected at a named phase
//! (the daemon killed, Postgres stopped, the tenant's namespace removed, the
//! bucket cut or failing, the disk full, a directory fsync failing). After
//! each, the daemon starts again over the same directory and one function,
//! [`invariants::check`], proves nothing was lost or left half-done.

#[path = "../support/mod.rs"]
mod support;

mod bucket;
mod disk;
mod drift;
mod fsync;
mod invariants;
mod kill;
mod postgres;
mod restore;
mod sync;
mod world;
