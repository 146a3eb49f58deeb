//! The real MCP client (the Python SDK in the repo's venv) driven from Rust
//! tests: `tests/mcp/client.py` reads a JSON job on stdin, prints JSON.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// Runs `tests/mcp/client.py TARGET…` (a URL, or `--` and a command to
/// launch over stdio) on `job`; its JSON output and its stderr.
pub async fn run_client(target: &[String], job: &Value) -> (Value, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/setup.sh to create the venv with the MCP SDK",
        python.display()
    );
    let mut child = tokio::process::Command::new(&python)
        .arg(root.join("tests/mcp/client.py"))
        .args(target)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(job.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the MCP client failed: {stderr}");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the MCP client printed no JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (json, stderr)
}
