//! The systemd units and timers under deploy/ are ones systemd accepts:
//! `systemd-analyze verify` on each, with the installed paths pointed at this
//! build's binary and the repo's script (verify checks that they exist), and
//! any complaint at all (an unknown key is only a warning) fails the test.

use std::path::Path;
use std::process::Command;

#[test]
fn the_systemd_units_and_timers_verify_cleanly() {
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    assert!(
        analyze.is_ok_and(|o| o.status.success()),
        "systemd-analyze is missing: run ./scripts/setup.sh"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("deploy/verify-latest.sh");
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for entry in std::fs::read_dir(root.join("deploy/systemd")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".service") || name.ends_with(".timer")) {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(
                "/usr/local/bin/containarium",
                env!("CARGO_BIN_EXE_containarium"),
            )
            .replace(
                "/usr/local/lib/containarium/verify-latest.sh",
                &script.to_string_lossy(),
            );
        std::fs::write(dir.path().join(&name), text).unwrap();
        units.push(name);
    }
    units.sort();
    assert_eq!(
        units,
        [
            "containarium-backup.service",
            "containarium-backup.timer",
            "containarium-verify.service",
            "containarium-verify.timer",
            "containarium.service",
        ]
    );
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");

    // The check has teeth: a misspelt key is reported.
    std::fs::write(
        dir.path().join("containarium.service"),
        "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\nRestartt=always\n",
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "containarium.service"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("Restartt"));
}
