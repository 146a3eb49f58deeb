//! The load test's readers: one connection each over gRPC, REST (the
//! crate's own clients) or MCP (rmcp's client), rounds of a paged listing
//! and a get, every answer checked against what the tenant must see, and
//! the latency of every call kept for the percentiles.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use containarium::api::Api;
use containarium::auth::Credentials;
use containarium::client::{GrpcClient, RestClient};
use containarium::proto;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use tokio::sync::{Barrier, Mutex};

use super::{CALLERS, RESTORES, WRITERS};

/// Rounds (a paged listing, then a get) each reader makes at least; it goes
/// on while the creates and restores still run.
pub(super) const MIN_ROUNDS: usize = 2;
/// Records per listed page: one, so every listing is several pages (the
/// two source backups exist throughout) and its tokens cross the records
/// the creates commit meanwhile.
const PAGE: i32 = 1;
/// A reader's pause between rounds: 200 pollers, not 200 loops that would
/// leave a debug build's two cores nothing for the writes.
const THINK: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Surface {
    Grpc,
    Rest,
    Mcp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Op {
    /// Opening the connection: MCP's initialize, or gRPC's and REST's first
    /// call (a get) on their lazily opened connection.
    Connect,
    ListPage,
    Get,
}

/// One reader's connection: the crate's client for gRPC or REST, or an MCP
/// client session.
enum Reader {
    Api(Arc<dyn Api>, Credentials),
    Mcp(RunningService<RoleClient, ()>),
}

impl Reader {
    async fn connect(surface: Surface, d: &Addrs, tok: &str) -> Result<Self, String> {
        let creds = Credentials::Bearer(tok.to_string());
        let api = |r: containarium::Result<Arc<dyn Api>>| {
            r.map(|a| Self::Api(a, creds.clone()))
                .map_err(|e| e.to_string())
        };
        match surface {
            Surface::Grpc => {
                api(GrpcClient::new(&format!("http://{}", d.grpc), None).map(|c| Arc::new(c) as _))
            }
            Surface::Rest => {
                api(RestClient::new(&format!("http://{}", d.http), None).map(|c| Arc::new(c) as _))
            }
            Surface::Mcp => {
                let config =
                    StreamableHttpClientTransportConfig::with_uri(format!("http://{}/mcp", d.http))
                        .auth_header(tok);
                ().serve(StreamableHttpClientTransport::from_config(config))
                    .await
                    .map(Self::Mcp)
                    .map_err(|e| format!("MCP initialize: {e}"))
            }
        }
    }

    async fn list(&self, page_token: String) -> Result<proto::ListBackupsResponse, String> {
        let req = proto::ListBackupsRequest {
            page_size: PAGE,
            page_token,
            ..Default::default()
        };
        match self {
            Self::Api(a, c) => a.list_backups(c, req).await.map_err(|e| e.to_string()),
            Self::Mcp(m) => {
                let args = json!({"page_size": req.page_size, "page_token": req.page_token});
                tool(m, "list_backups", args).await
            }
        }
    }

    async fn get(&self, id: &str) -> Result<proto::GetBackupResponse, String> {
        match self {
            Self::Api(a, c) => {
                let req = proto::GetBackupRequest { id: id.into() };
                a.get_backup(c, req).await.map_err(|e| e.to_string())
            }
            Self::Mcp(m) => tool(m, "get_backup", json!({ "id": id })).await,
        }
    }
}

/// Calls an MCP tool and decodes its structured content, which is the REST
/// body (proto3 JSON) of the same response.
async fn tool<T: serde::de::DeserializeOwned>(
    m: &RunningService<RoleClient, ()>,
    name: &'static str,
    args: serde_json::Value,
) -> Result<T, String> {
    let serde_json::Value::Object(args) = args else {
        unreachable!("arguments are an object")
    };
    let r = m
        .call_tool(CallToolRequestParams::new(name).with_arguments(args))
        .await
        .map_err(|e| format!("MCP {name}: {e}"))?;
    if r.is_error == Some(true) {
        return Err(format!("MCP {name} failed: {:?}", r.content));
    }
    let content = r
        .structured_content
        .ok_or_else(|| format!("MCP {name}: no structured content"))?;
    serde_json::from_value(content).map_err(|e| format!("MCP {name}: {e}"))
}

pub(super) struct Addrs {
    pub(super) grpc: String,
    pub(super) http: String,
}

/// What every reader must see.
pub(super) struct Expect {
    /// The source backup as a read-only tenant caller sees it.
    pub(super) record: proto::BackupRecord,
    /// The databases whose backups may be listed.
    pub(super) databases: BTreeSet<String>,
}

#[derive(Default)]
pub(super) struct Tally {
    /// (surface, op, latency, whether the writes were still running)
    pub(super) samples: Vec<(Surface, Op, Duration, bool)>,
    pub(super) errors: Vec<String>,
}

/// One reader: connects, waits at `ready` for the others, then makes rounds
/// of a paged listing and a get on `surface` until `done` (and at least
/// [`MIN_ROUNDS`]), every answer checked.
pub(super) async fn reader(
    n: usize,
    addrs: Arc<Addrs>,
    tok: String,
    expect: Arc<Expect>,
    ready: Arc<Barrier>,
    done: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) {
    let surface = [Surface::Grpc, Surface::Rest, Surface::Mcp][n % 3];
    let fail = |e: String| format!("reader {n} ({surface:?}): {e}");
    let connect = async {
        let r = Reader::connect(surface, &addrs, &tok).await?;
        if let Reader::Api(..) = r {
            check_get(r.get(&expect.record.id).await, &expect)?;
        }
        Ok::<_, String>(r)
    };
    let connected = sampled(&tally, surface, Op::Connect, &done, connect).await;
    ready.wait().await;
    let r = match connected {
        Ok(r) => r,
        Err(e) => return tally.lock().await.errors.push(fail(e)),
    };
    let mut rounds = 0;
    while rounds < MIN_ROUNDS || !done.load(Ordering::Relaxed) {
        let mut listed: Vec<proto::BackupRecord> = Vec::new();
        let mut page_token = String::new();
        loop {
            let call = r.list(page_token);
            let answer = sampled(&tally, surface, Op::ListPage, &done, call).await;
            let page = match answer.and_then(|p| check_page(p, listed.len())) {
                Ok(p) => p,
                Err(e) => {
                    let e = fail(format!("list after {}: {e}", listed.len()));
                    tally.lock().await.errors.push(e);
                    break;
                }
            };
            listed.extend(page.records);
            page_token = page.next_page_token;
            if page_token.is_empty() {
                if let Err(e) = check_listing(&listed, &expect) {
                    tally.lock().await.errors.push(fail(e));
                }
                break;
            }
        }
        let call = r.get(&expect.record.id);
        if let Err(e) = check_get(
            sampled(&tally, surface, Op::Get, &done, call).await,
            &expect,
        ) {
            tally.lock().await.errors.push(fail(e));
        }
        rounds += 1;
        tokio::time::sleep(THINK).await;
    }
    if let Reader::Mcp(m) = r {
        let _ = m.cancel().await;
    }
}

/// Times one call and keeps the sample, noting whether the writes still ran.
async fn sampled<T>(
    tally: &Mutex<Tally>,
    surface: Surface,
    op: Op,
    done: &AtomicBool,
    call: impl Future<Output = T>,
) -> T {
    let (out, took) = super::timed(call).await;
    let during = !done.load(Ordering::Relaxed);
    tally.lock().await.samples.push((surface, op, took, during));
    out
}

/// A get answers the source record exactly as the tenant sees it.
fn check_get(
    answer: Result<proto::GetBackupResponse, String>,
    expect: &Expect,
) -> Result<(), String> {
    match answer {
        Ok(g) if g.record.as_ref() == Some(&expect.record) => Ok(()),
        Ok(g) => Err(format!("get answered {:?}", g.record)),
        Err(e) => Err(format!("get: {e}")),
    }
}

/// One page: full unless it is the last, no unreadable sidecars, and no more
/// records than there are backups.
fn check_page(
    p: proto::ListBackupsResponse,
    before: usize,
) -> Result<proto::ListBackupsResponse, String> {
    let full = p.records.len() == usize::try_from(PAGE).unwrap();
    let too_many = before + p.records.len() > RESTORES.len() + WRITERS.len();
    if !p.warnings.is_empty() || (!p.next_page_token.is_empty() && !full) || too_many {
        return Err(format!("bad page: {p:?}"));
    }
    Ok(p)
}

/// A whole listing: newest first, every record once, only the tenant's own
/// backups of the known databases, the source backup exactly as recorded.
fn check_listing(listed: &[proto::BackupRecord], expect: &Expect) -> Result<(), String> {
    let ids: BTreeSet<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    let ordered = listed
        .windows(2)
        .all(|w| (&w[0].created_at, &w[0].id) >= (&w[1].created_at, &w[1].id));
    let ours = listed
        .iter()
        .all(|r| r.username == "alice" && expect.databases.contains(&r.database));
    let source: Vec<_> = listed.iter().filter(|r| r.id == expect.record.id).collect();
    if ids.len() != listed.len() || !ordered || !ours || source != [&expect.record] {
        return Err(format!("listing is wrong: {listed:?}"));
    }
    Ok(())
}

/// The nearest-rank percentile `p` (0..=1) of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Prints p50/p99/max per surface and operation, and checks every surface
/// and operation was exercised. Connecting is apart: 200 clients open their
/// connections at once, and that burst is not a list's or a get's latency.
pub(super) fn report(samples: &[(Surface, Op, Duration, bool)]) {
    let mut by: BTreeMap<(Surface, Op), Vec<Duration>> = BTreeMap::new();
    for (s, o, d, _) in samples {
        by.entry((*s, *o)).or_default().push(*d);
    }
    println!(
        "{:<6} {:<9} {:>7} {:>9} {:>9} {:>9}",
        "", "", "calls", "p50", "p99", "max"
    );
    for s in [Surface::Grpc, Surface::Rest, Surface::Mcp] {
        for o in [Op::Connect, Op::ListPage, Op::Get] {
            let mut l = by.remove(&(s, o)).unwrap_or_default();
            l.sort();
            let least = CALLERS / 3 * if o == Op::Connect { 1 } else { MIN_ROUNDS };
            assert!(l.len() >= least, "{s:?} {o:?}: {} calls", l.len());
            println!(
                "{:<6} {:<9} {:>7} {:>7.1}ms {:>7.1}ms {:>7.1}ms",
                format!("{s:?}"),
                format!("{o:?}"),
                l.len(),
                ms(percentile(&l, 0.5)),
                ms(percentile(&l, 0.99)),
                ms(*l.last().unwrap())
            );
        }
    }
}
