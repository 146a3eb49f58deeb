//! The password never appears on any process's argv, in a log line, in the
//! audit trail or in an error message.

use std::io::Write;
use std::sync::{Arc, Mutex};

use containarium::engine::Password;

use crate::support::procs::ArgvWatcher;
use crate::support::{Harness, Tenant, create_req, fingerprint, none, restore_req};

const SECRET: &str = "s3cr3t-Tr0ub4dor-&3";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_password_is_on_no_argv_and_in_no_log() {
    let logs = Captured::default();
    let sink = logs.clone();
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .try_init();

    let t = Tenant::start_with_password(SECRET);
    t.create_db("app");
    // Big enough that pg_dump and pg_restore run for a while under the watcher.
    t.psql(
        "app",
        "CREATE TABLE big AS SELECT g, md5(g::text) AS h FROM generate_series(1, 300000) g",
    );
    let h = Harness::new(&[("alice", &t)]);
    let pw = Password::new(SECRET).unwrap();

    let watcher = ArgvWatcher::start(SECRET);
    let mut req = create_req("alice", "app");
    req.connection.password = pw.clone();
    let r = h
        .service
        .create(none(), req)
        .await
        .unwrap()
        .records
        .remove(0);
    let mut req = restore_req(&r.id, "copy");
    req.connection.password = pw.clone();
    h.service.restore(none(), req).await.unwrap();
    let scan = watcher.finish();

    assert!(
        scan.leaks.is_empty(),
        "password on an argv: {:?}",
        scan.leaks
    );
    assert!(
        scan.seen.iter().any(|c| c.contains("pg_dump -Fc")),
        "the watcher saw pg_dump run: {:?}",
        scan.seen
    );
    assert!(
        scan.seen.iter().any(|c| c.contains("pg_restore")),
        "the watcher saw pg_restore run: {:?}",
        scan.seen
    );
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));

    // A failure with a wrong password names no password either.
    let mut req = create_req("alice", "app");
    req.connection.password = Password::new(format!("{SECRET}-wrong")).unwrap();
    let e = h.service.create(none(), req).await.unwrap_err();
    assert!(!e.message.contains(SECRET), "{}", e.message);
    assert!(format!("{pw:?}").contains("redacted"));

    let audit = std::fs::read_to_string(h.backup_dir().join("audit.jsonl")).unwrap();
    assert!(audit.lines().count() >= 3, "{audit}");
    assert!(!audit.contains(SECRET));
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(
        logs.contains("backup committed"),
        "logs were captured: {logs}"
    );
    assert!(!logs.contains(SECRET));
}
