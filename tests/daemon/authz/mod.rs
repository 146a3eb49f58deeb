//! The authorization matrix: every kind of caller × every RPC × every
//! transport, each cell asserted — allowed, or the right denial with nothing
//! written and no way to tell another tenant's id from a missing one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use containarium::Code;
use containarium::auth::jwt::Keys;
use containarium::proto;
use serde_json::{Value, json};

use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for, with_scratch};
use calls::{call, mcp_call, mcp_code};

mod before_decode;
mod calls;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    /// An admin token minted before scopes existed: still everything.
    AdminNoScopesClaim,
    Own,
    Other,
    /// A tenant token without a `scopes` claim: nothing (scopes fail closed).
    NoScopesClaim,
    ReadOnly,
    WrongScope,
    Expired,
    Refresh,
    WrongKey,
    WrongAudience,
    AlgNone,
    NoToken,
}

const EVERYONE: [Who; 13] = [
    Who::Admin,
    Who::AdminNoScopesClaim,
    Who::Own,
    Who::Other,
    Who::NoScopesClaim,
    Who::ReadOnly,
    Who::WrongScope,
    Who::Expired,
    Who::Refresh,
    Who::WrongKey,
    Who::WrongAudience,
    Who::AlgNone,
    Who::NoToken,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpc {
    Create,
    List,
    Get,
    Restore,
    Verify,
    Delete,
    Prune,
    Check,
    RebuildIndex,
    ListOperations,
}

const RPCS: [Rpc; 10] = [
    Rpc::Create,
    Rpc::List,
    Rpc::Get,
    Rpc::Restore,
    Rpc::Verify,
    Rpc::Delete,
    Rpc::Prune,
    Rpc::Check,
    Rpc::RebuildIndex,
    Rpc::ListOperations,
];

impl Rpc {
    /// The proto name, as the route table and the proto service spell it.
    fn name(self) -> &'static str {
        match self {
            Self::Create => "CreateBackup",
            Self::List => "ListBackups",
            Self::Get => "GetBackup",
            Self::Restore => "RestoreBackup",
            Self::Verify => "VerifyBackup",
            Self::Delete => "DeleteBackup",
            Self::Prune => "PruneBackups",
            Self::Check => "CheckBackups",
            Self::RebuildIndex => "RebuildIndex",
            Self::ListOperations => "ListOperations",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Rest,
}

/// What a cell must answer: `None` = allowed.
fn expected(who: Who, rpc: Rpc) -> Option<Code> {
    use Rpc::{Check, Create, Delete, ListOperations, Prune, RebuildIndex, Restore, Verify};
    use Who::{
        Admin, AdminNoScopesClaim, AlgNone, Expired, NoScopesClaim, NoToken, Other, Own, ReadOnly,
        Refresh, WrongAudience, WrongKey, WrongScope,
    };
    match (who, rpc) {
        (Expired | Refresh | WrongAudience | WrongKey | AlgNone | NoToken, _) => {
            Some(Code::Unauthenticated)
        }
        // Missing scope; an admin-only RPC; acting on another tenant;
        // verifying into a target (bob) that is not alice's to receive her data.
        (WrongScope | NoScopesClaim, _)
        | (ReadOnly, Create | Restore | Verify | Delete | Prune | RebuildIndex)
        | (Own | Other, RebuildIndex)
        | (Other, Create | Prune | Check | ListOperations)
        | (Own, Verify) => Some(Code::PermissionDenied),
        // Past the admin gate, the daemon has no bucket to rebuild from.
        (Admin | AdminNoScopesClaim, RebuildIndex) => Some(Code::FailedPrecondition),
        (Other, Rpc::Get | Restore | Verify | Delete) => Some(Code::NotFound),
        (Admin | AdminNoScopesClaim | Own | ReadOnly | Other, _) => None,
    }
}

/// The matrix's RPCs are the contract's: a new RPC fails here until it has
/// its row.
#[test]
fn the_matrix_covers_every_rpc() {
    let mut ours: Vec<&str> = RPCS.iter().map(|r| r.name()).collect();
    let mut contract: Vec<&str> = containarium::rest::routes::ROUTES
        .iter()
        .map(|r| r.rpc)
        .collect();
    ours.sort_unstable();
    contract.sort_unstable();
    assert_eq!(ours, contract);
}

fn token(d: &TestDaemon, who: Who) -> String {
    let rw: &[&str] = &["backups:read", "backups:write"];
    let mut c = TestDaemon::claims("alice", &[], Some(rw));
    match who {
        Who::Admin => return d.token("root", &["admin"], Some(&["*"])),
        Who::Own => {}
        Who::Other => return d.token("bob", &[], Some(rw)),
        Who::NoScopesClaim => return d.token_without_scopes("alice", &[]),
        Who::AdminNoScopesClaim => return d.token_without_scopes("root", &["admin"]),
        Who::ReadOnly => return d.token("alice", &[], Some(&["backups:read"])),
        Who::WrongScope => return d.token("alice", &[], Some(&["metrics:read"])),
        Who::Expired => {
            c.exp -= 7200;
            c.nbf -= 7200;
            c.iat -= 7200;
        }
        Who::Refresh => c.tt = "refresh".into(),
        Who::WrongKey => {
            let other = Keys::new(b"a-completely-different-secret-of-40-bytes").unwrap();
            return other.mint(&c).unwrap();
        }
        Who::WrongAudience => c.aud = "someone-else".into(),
        Who::AlgNone => {
            let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
            return format!("{h}.{p}.");
        }
        Who::NoToken => return String::new(),
    }
    d.keys.mint(&c).unwrap()
}

fn state(dir: &std::path::Path, t: &Tenant) -> (Vec<String>, Vec<String>) {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "audit.jsonl" && n != ".spool" && n != ".index")
        .collect();
    files.sort();
    (files, t.databases())
}

/// alice (with a table in "app") and bob in two clusters, and the daemon
/// over both; returns the backup directory to watch for writes.
async fn matrix_daemon() -> (
    Tenant,
    Tenant,
    tempfile::TempDir,
    std::path::PathBuf,
    TestDaemon,
) {
    let (t, bob) = (Tenant::start(), Tenant::start());
    t.create_db("app");
    t.psql("app", "CREATE TABLE x(i int); INSERT INTO x VALUES (1)");
    let dir = tempfile::tempdir().unwrap();
    let config = with_scratch(
        config_for(dir.path(), &[("alice", &t), ("bob", &bob)]),
        "bob",
    );
    let backups = config.backup_dir.clone();
    let d = TestDaemon::start(&config).await;
    (t, bob, dir, backups, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_caller_every_rpc_every_transport() {
    let (t, _bob, _dir, backups, d) = matrix_daemon().await;
    let admin = d.admin();
    let mut c = d.grpc_client().await;
    let alice_id = c
        .create_backup(authed(crate::local("alice", "app"), &admin))
        .await
        .unwrap()
        .into_inner()
        .records[0]
        .id
        .clone();
    let missing_id = "alice-app-19990101T000000Z";

    let mut cells = 0;
    for transport in [Transport::Grpc, Transport::Rest] {
        for who in EVERYONE {
            let tok = token(&d, who);
            for rpc in RPCS {
                let want = expected(who, rpc);
                // An allowed delete gets a backup of its own to delete.
                let id = if rpc == Rpc::Delete && want.is_none() {
                    c.create_backup(authed(crate::local("alice", "app"), &admin))
                        .await
                        .unwrap()
                        .into_inner()
                        .records[0]
                        .id
                        .clone()
                } else {
                    alice_id.clone()
                };
                let db = format!("r_{who:?}_{transport:?}").to_lowercase();
                let before = state(&backups, &t);
                let got = call(&d, transport, &tok, rpc, &id, &db).await;
                let cell = format!("{transport:?} × {who:?} × {rpc:?}");
                match want {
                    None => {
                        let users =
                            got.unwrap_or_else(|e| panic!("{cell}: expected success, got {e:?}"));
                        shows_only_alice(&cell, who, rpc, &users);
                        if rpc == Rpc::Prune {
                            assert_eq!(state(&backups, &t), before, "{cell}: a dry run");
                        }
                        if rpc == Rpc::Restore {
                            assert!(t.databases().contains(&db), "{cell}: restored");
                        }
                    }
                    Some(code) => {
                        let (got_code, msg) = got.expect_err(&cell);
                        assert_eq!(got_code, code, "{cell}: {msg}");
                        assert_eq!(state(&backups, &t), before, "{cell}: nothing written");
                        if who == Who::Other && code == Code::NotFound {
                            let (_, missing) = call(&d, transport, &tok, rpc, missing_id, &db)
                                .await
                                .expect_err(&cell);
                            assert_eq!(
                                msg.replace(&id, "ID"),
                                missing.replace(missing_id, "ID"),
                                "{cell}: no existence oracle"
                            );
                        }
                        assert!(
                            !msg.contains(&tok) || tok.is_empty(),
                            "{cell}: token echoed"
                        );
                    }
                }
                cells += 1;
            }
        }
    }
    assert_eq!(cells, 2 * EVERYONE.len() * RPCS.len());
    // The fixture backup survived every denied delete.
    c.get_backup(authed(proto::GetBackupRequest { id: alice_id }, &admin))
        .await
        .unwrap();
    d.stop().await;
}

/// What an allowed call may show: a list is the caller's own tenant's (every
/// tenant's for an admin: bob has none, so his list is empty); prune and check
/// name alice and show her backups; running operations are alice's if any.
fn shows_only_alice(cell: &str, who: Who, rpc: Rpc, users: &[String]) {
    let only = |u: &str| users.iter().all(|x| x == u);
    match rpc {
        Rpc::List if who == Who::Other => {
            assert!(
                users.is_empty(),
                "{cell}: bob has no backups, saw {users:?}"
            );
        }
        Rpc::List if matches!(who, Who::Admin | Who::AdminNoScopesClaim) => {
            assert!(!users.is_empty(), "{cell}");
        }
        Rpc::List | Rpc::Prune | Rpc::Check => {
            assert!(!users.is_empty() && only("alice"), "{cell}: saw {users:?}");
        }
        Rpc::ListOperations => assert!(only("alice"), "{cell}: saw {users:?}"),
        _ => {}
    }
}

/// The same matrix over MCP at the daemon's `/mcp`. A token that does not
/// authenticate is refused with 401 before any MCP session exists; every
/// other caller gets each tool's answer from the same service.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_caller_every_tool_over_mcp() {
    let (t, _bob, _dir, backups, d) = matrix_daemon().await;
    let admin = d.admin();
    let mut c = d.grpc_client().await;
    let mut fresh = async || {
        c.create_backup(authed(crate::local("alice", "app"), &admin))
            .await
            .unwrap()
            .into_inner()
            .records[0]
            .id
            .clone()
    };
    let alice_id = fresh().await;
    let missing_id = "alice-app-19990101T000000Z";
    let url = d.url("/mcp");
    let mut cells = 0;
    // The RPCs an agent has a tool for.
    let tooled: Vec<Rpc> = RPCS
        .into_iter()
        .filter(|r| mcp_call(*r, "", "").is_some())
        .collect();

    for who in EVERYONE {
        let tok = token(&d, who);
        if expected(who, Rpc::List) == Some(Code::Unauthenticated) {
            for rpc in tooled.iter().copied() {
                let call = mcp_call(rpc, &alice_id, "x").unwrap();
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                  "params": {"name": call["tool"], "arguments": call["args"]}});
                let mut req = reqwest::Client::new()
                    .post(&url)
                    .header("accept", "application/json, text/event-stream")
                    .body(body.to_string());
                if !tok.is_empty() {
                    req = req.bearer_auth(&tok);
                }
                let resp = req.send().await.unwrap();
                assert_eq!(resp.status(), 401, "MCP × {who:?} × {rpc:?}");
                let v: Value = resp.json().await.unwrap();
                assert_eq!(v["code"], 16, "{v}");
                cells += 1;
            }
            continue;
        }
        let db = format!("m_{who:?}").to_lowercase();
        let delete_id = if expected(who, Rpc::Delete).is_none() {
            fresh().await
        } else {
            alice_id.clone()
        };
        let mut tools: Vec<Value> = tooled
            .iter()
            .filter_map(|rpc| {
                mcp_call(
                    *rpc,
                    if *rpc == Rpc::Delete {
                        &delete_id
                    } else {
                        &alice_id
                    },
                    &db,
                )
            })
            .collect();
        // The same tools on an id that does not exist, for the oracle check.
        tools.extend(
            [Rpc::Get, Rpc::Restore, Rpc::Verify, Rpc::Delete]
                .map(|r| mcp_call(r, missing_id, &db).unwrap()),
        );
        let before = state(&backups, &t);
        let job = json!({"token": tok, "calls": tools});
        let (out, _) =
            crate::support::mcp_client::run_client(std::slice::from_ref(&url), &job).await;
        let results = out["results"].as_array().unwrap();
        for (i, rpc) in tooled.iter().enumerate() {
            let cell = format!("MCP × {who:?} × {rpc:?}");
            let r = &results[i];
            let text = r["content"][0]["text"].as_str().unwrap_or_default();
            match expected(who, *rpc) {
                None => {
                    assert_eq!(r["isError"], false, "{cell}: {text}");
                    let shown = &r["structuredContent"];
                    let users: Vec<String> = ["records", "operations"]
                        .iter()
                        .flat_map(|k| shown[k].as_array().cloned().unwrap_or_default())
                        .map(|x| x["username"].as_str().unwrap().to_string())
                        .collect();
                    shows_only_alice(&cell, who, *rpc, &users);
                }
                Some(code) => {
                    assert_eq!(r["isError"], true, "{cell}: {r}");
                    assert_eq!(mcp_code(text), code, "{cell}: {text}");
                    if who == Who::Other && code == Code::NotFound {
                        let j = [Rpc::Get, Rpc::Restore, Rpc::Verify, Rpc::Delete]
                            .iter()
                            .position(|x| x == rpc)
                            .unwrap();
                        let missing = results[tooled.len() + j]["content"][0]["text"]
                            .as_str()
                            .unwrap();
                        assert_eq!(
                            text.replace(&alice_id, "ID"),
                            missing.replace(missing_id, "ID"),
                            "{cell}: no oracle"
                        );
                    }
                }
            }
            cells += 1;
        }
        if tooled.iter().all(|rpc| {
            matches!(rpc, Rpc::List | Rpc::Get | Rpc::ListOperations)
                || expected(who, *rpc).is_some()
        }) {
            assert_eq!(
                state(&backups, &t),
                before,
                "MCP × {who:?}: nothing written"
            );
        }
    }
    assert_eq!(cells, EVERYONE.len() * tooled.len());
    d.stop().await;
}
