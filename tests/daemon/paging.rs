//! The catalog's index and pages through the real daemon, over gRPC and
//! REST: every record exactly once while backups come and go between pages,
//! sidecars another process drops into the directory, page tokens that try
//! to cross tenants, page sizes out of range.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use containarium::catalog::{Record, encode};
use containarium::proto;
use serde_json::Value;

use super::local;
use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for, synthetic_record};

#[derive(Clone, Copy, Debug)]
enum Wire {
    Grpc,
    Rest,
}

/// One page as (ids, next token), or the refusal as (gRPC code, message).
type Answer = Result<(Vec<String>, String), (i32, String)>;

async fn page(d: &TestDaemon, wire: Wire, token: &str, req: proto::ListBackupsRequest) -> Answer {
    match wire {
        Wire::Grpc => {
            let mut c = d.grpc_client().await;
            match c.list_backups(authed(req, token)).await {
                Ok(r) => {
                    let r = r.into_inner();
                    Ok((
                        r.records.into_iter().map(|r| r.id).collect(),
                        r.next_page_token,
                    ))
                }
                Err(s) => Err((s.code() as i32, s.message().to_string())),
            }
        }
        Wire::Rest => {
            let mut url = reqwest::Url::parse(&d.url("/v1/backups")).unwrap();
            if !req.username.is_empty() {
                url.query_pairs_mut().append_pair("username", &req.username);
            }
            if req.page_size != 0 {
                url.query_pairs_mut()
                    .append_pair("pageSize", &req.page_size.to_string());
            }
            if !req.page_token.is_empty() {
                url.query_pairs_mut()
                    .append_pair("pageToken", &req.page_token);
            }
            rest_get(url.as_str(), token).await
        }
    }
}

async fn rest_get(url: &str, token: &str) -> Answer {
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let ok = resp.status().is_success();
    let v: Value = resp.json().await.unwrap();
    if !ok {
        return Err((
            i32::try_from(v["code"].as_i64().unwrap()).unwrap(),
            v["message"].as_str().unwrap().to_string(),
        ));
    }
    let ids = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    Ok((ids, v["nextPageToken"].as_str().unwrap().to_string()))
}

fn req(username: &str, size: i32, token: &str) -> proto::ListBackupsRequest {
    proto::ListBackupsRequest {
        username: username.into(),
        page_size: size,
        page_token: token.into(),
    }
}

fn record(dir: &Path, tenant: &str, at: DateTime<Utc>, n: u32) -> Record {
    synthetic_record(dir, tenant, "app", at, n)
}

/// Another process writes the sidecar: staged beside the directory, then
/// moved in by `mv`, as an atomic writer does.
fn drop_sidecar(dir: &Path, r: &Record) {
    let staged = dir.with_file_name(format!("staged-{}", r.id));
    std::fs::write(&staged, encode(r).unwrap()).unwrap();
    let target = dir.join(format!("{}.meta.json", r.id));
    let mv = std::process::Command::new("mv")
        .arg(&staged)
        .arg(&target)
        .status()
        .unwrap();
    assert!(mv.success());
}

/// 12 alice and 8 bob backups, one an hour back from a fixed instant, with
/// two alice backups in the same second (the id decides their order).
fn seed_catalog(dir: &Path) -> Vec<Record> {
    let end = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let mut out = Vec::new();
    for i in 0..20 {
        let tenant = if i % 5 < 3 { "alice" } else { "bob" };
        out.push(record(dir, tenant, end - Duration::hours(i), 1));
    }
    out.push(record(dir, "alice", end - Duration::hours(4), 2));
    for r in &out {
        drop_sidecar(dir, r);
    }
    out
}

async fn daemon(tenants: &[(&str, &Tenant)]) -> (tempfile::TempDir, TestDaemon) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), tenants);
    std::fs::create_dir_all(&config.backup_dir).unwrap();
    let d = TestDaemon::start(&config).await;
    (dir, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paging_returns_every_record_once_while_backups_come_and_go() {
    let alice = Tenant::start();
    alice.create_db("app");
    let (_dir, d) = daemon(&[("alice", &alice)]).await;
    let backups = d.service.catalog().dir().to_path_buf();
    let seeded = seed_catalog(&backups);
    let admin = d.admin();
    let mut grpc = d.grpc_client().await;

    for wire in [Wire::Grpc, Wire::Rest] {
        // The order is documented: created_at, then id, newest first.
        let (everything, none_left) = page(&d, wire, &admin, req("", 0, "")).await.unwrap();
        assert!(
            none_left.is_empty(),
            "{wire:?}: an unpaged list has no next page"
        );
        let listed: Vec<Record> = everything
            .iter()
            .map(|id| d.service.catalog().get(id).unwrap())
            .collect();
        assert!(
            listed
                .windows(2)
                .all(|w| (w[0].created_at, &w[0].id) > (w[1].created_at, &w[1].id)),
            "{wire:?}: newest created_at first, then id descending: {everything:?}"
        );
        let before: BTreeSet<String> = everything.into_iter().collect();

        let mut seen: Vec<String> = Vec::new();
        let mut deleted = BTreeSet::new();
        let mut added = BTreeSet::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let (ids, next) = page(&d, wire, &admin, req("", 3, &token)).await.unwrap();
            assert!(ids.len() <= 3);
            seen.extend(ids);
            pages += 1;
            if next.is_empty() {
                break;
            }
            token = next;
            // Between pages: a real backup (newest), a sidecar from another
            // process in the middle of the order, and deletions of one
            // record already listed and one not listed yet.
            if pages % 2 == 1 {
                let made = grpc
                    .create_backup(authed(local("alice", "app"), &admin))
                    .await
                    .unwrap()
                    .into_inner();
                added.insert(made.record.unwrap().id);
                let middle = record(
                    &backups,
                    "bob",
                    Utc.with_ymd_and_hms(2026, 3, 1, 2, 30, 0).unwrap() + Duration::seconds(pages),
                    1,
                );
                drop_sidecar(&backups, &middle);
                added.insert(middle.id);
            } else {
                let listed_already = seen
                    .iter()
                    .find(|id| !deleted.contains(*id) && before.contains(*id));
                let not_yet = before
                    .iter()
                    .rev()
                    .find(|id| !seen.contains(id) && !deleted.contains(*id));
                for id in [listed_already.cloned(), not_yet.cloned()]
                    .into_iter()
                    .flatten()
                {
                    grpc.delete_backup(authed(
                        proto::DeleteBackupRequest { id: id.clone() },
                        &admin,
                    ))
                    .await
                    .unwrap();
                    deleted.insert(id);
                }
            }
            assert!(pages < 50, "{wire:?}: the listing never ends");
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for id in &seen {
            *counts.entry(id.as_str()).or_default() += 1;
        }
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "{wire:?}: listed more than once: {twice:?}"
        );
        for id in before.difference(&deleted) {
            assert!(
                counts.contains_key(id.as_str()),
                "{wire:?}: {id} existed throughout but was never listed"
            );
        }
        for id in &seen {
            assert!(
                before.contains(id) || added.contains(id),
                "{wire:?}: {id} is neither seeded nor added"
            );
        }
        assert!(
            !deleted.is_empty() && !added.is_empty(),
            "{wire:?}: the catalog changed between pages"
        );
    }
    assert!(seeded.len() > 20);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sidecar_another_process_drops_in_shows_up_in_list() {
    let (_dir, d) = daemon(&[]).await;
    let backups = d.service.catalog().dir().to_path_buf();
    let admin = d.admin();
    let r = record(&backups, "carol", Utc::now(), 1);
    for wire in [Wire::Grpc, Wire::Rest] {
        assert!(
            page(&d, wire, &admin, req("", 0, ""))
                .await
                .unwrap()
                .0
                .is_empty()
        );
    }
    drop_sidecar(&backups, &r);
    for wire in [Wire::Grpc, Wire::Rest] {
        let (ids, _) = page(&d, wire, &admin, req("carol", 0, "")).await.unwrap();
        assert_eq!(
            ids,
            vec![r.id.clone()],
            "{wire:?}: the dropped-in sidecar is listed"
        );
    }
    let rm = std::process::Command::new("rm")
        .arg(backups.join(format!("{}.meta.json", r.id)))
        .status()
        .unwrap();
    assert!(rm.success());
    let (ids, _) = page(&d, Wire::Rest, &admin, req("", 0, "")).await.unwrap();
    assert!(
        ids.is_empty(),
        "a sidecar removed by another process is gone: {ids:?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_token_cannot_reveal_another_tenants_backups() {
    let (_dir, d) = daemon(&[]).await;
    let backups = d.service.catalog().dir().to_path_buf();
    let seeded = seed_catalog(&backups);
    let alice_ids: BTreeSet<&str> = seeded
        .iter()
        .filter(|r| r.username == "alice")
        .map(|r| r.id.as_str())
        .collect();
    let (admin, alice, bob) = (
        d.admin(),
        d.token("alice", &[], None),
        d.token("bob", &[], None),
    );

    for wire in [Wire::Grpc, Wire::Rest] {
        let (_, admins) = page(&d, wire, &admin, req("", 2, "")).await.unwrap();
        let (_, alices) = page(&d, wire, &alice, req("", 2, "")).await.unwrap();
        let (_, for_alice) = page(&d, wire, &admin, req("alice", 2, "")).await.unwrap();
        // Bob replays tokens of listings he may not make, and forges one
        // that claims the every-tenant listing.
        let forged = hex::encode(br#"{"u":null,"t":"2030-01-01T00:00:00Z","i":"zzz"}"#);
        for stolen in [&admins, &alices, &for_alice, &forged] {
            for username in ["", "alice", "bob"] {
                let refused = page(&d, wire, &bob, req(username, 2, stolen))
                    .await
                    .unwrap_err();
                assert_eq!(
                    refused.0,
                    tonic::Code::InvalidArgument as i32,
                    "{wire:?}: {refused:?}"
                );
                assert!(
                    refused.1.contains("another listing"),
                    "{wire:?}: {}",
                    refused.1
                );
            }
        }
        // A token bob forges for his own listing moves only within it.
        let own = hex::encode(br#"{"u":"bob","t":"2030-01-01T00:00:00Z","i":"zzz"}"#);
        let (ids, _) = page(&d, wire, &bob, req("alice", 1000, &own))
            .await
            .unwrap();
        assert_eq!(
            ids.len(),
            8,
            "{wire:?}: all of bob's, from the forged start"
        );
        assert!(
            ids.iter().all(|id| !alice_ids.contains(id.as_str())),
            "{wire:?}: {ids:?}"
        );
        // Bob paging through what he may see never meets alice's backups.
        let mut token = String::new();
        loop {
            let (ids, next) = page(&d, wire, &bob, req("", 3, &token)).await.unwrap();
            assert!(
                ids.iter().all(|id| !alice_ids.contains(id.as_str())),
                "{wire:?}: {ids:?}"
            );
            if next.is_empty() {
                break;
            }
            token = next;
        }
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn page_sizes_out_of_range_are_refused_clearly() {
    let (_dir, d) = daemon(&[]).await;
    let admin = d.admin();
    for wire in [Wire::Grpc, Wire::Rest] {
        for size in [-1, 1001, i32::MAX, i32::MIN] {
            let (code, message) = page(&d, wire, &admin, req("", size, "")).await.unwrap_err();
            assert_eq!(code, tonic::Code::InvalidArgument as i32, "{wire:?} {size}");
            assert!(
                message.contains(&format!("page_size {size} is out of range: use 1 to 1000")),
                "{wire:?}: {message}"
            );
        }
        let (code, message) = page(&d, wire, &admin, req("", 5, "not-a-token"))
            .await
            .unwrap_err();
        assert_eq!(code, tonic::Code::InvalidArgument as i32);
        assert!(
            message.contains("not a token this daemon issued"),
            "{message}"
        );
    }
    for bad in ["abc", "1.5", "99999999999"] {
        let url = d.url(&format!("/v1/backups?pageSize={bad}"));
        let (code, message) = rest_get(&url, &admin).await.unwrap_err();
        assert_eq!(code, tonic::Code::InvalidArgument as i32);
        assert!(message.contains("invalid query parameters"), "{message}");
    }
    // snake_case is accepted too, as the gateway does.
    let url = d.url("/v1/backups?page_size=0&page_token=");
    assert!(rest_get(&url, &admin).await.is_ok());
    d.stop().await;
}

/// The ids of every page of the whole listing `token` may see, fetched
/// over REST in pages of 1000, in order.
async fn all_pages(d: &TestDaemon, token: &str) -> Vec<String> {
    let (mut ids, mut next) = (Vec::new(), String::new());
    loop {
        let (page_ids, token_after) = page(d, Wire::Rest, token, req("", 1000, &next))
            .await
            .unwrap();
        ids.extend(page_ids);
        if token_after.is_empty() {
            return ids;
        }
        next = token_after;
    }
}

/// An unpaged REST list is streamed in parts of 500 records: over 1 203
/// records it is the same list, in the same order, as its pages, and a
/// tenant's holds only theirs. A restarted daemon takes its index from the
/// snapshot beside the sidecars and still sees what changed while it was
/// stopped: a rewritten sidecar, a removed one, a lost dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unpaged_list_streams_every_record_and_a_restart_sees_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[]);
    let backups = config.backup_dir.clone();
    std::fs::create_dir_all(&backups).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let records: Vec<Record> = (0..1203)
        .map(|i| {
            let tenant = if i % 3 == 0 { "alice" } else { "bob" };
            record(&backups, tenant, end - Duration::minutes(i), 1)
        })
        .collect();
    let sidecar = |r: &Record| backups.join(format!("{}.meta.json", r.id));
    for r in &records {
        std::fs::write(sidecar(r), encode(r).unwrap()).unwrap();
        std::fs::write(&r.location, b"").unwrap();
    }

    let d = TestDaemon::start(&config).await;
    let admin = d.admin();
    let paged = all_pages(&d, &admin).await;
    assert_eq!(paged.len(), 1203);
    let (unpaged, next) = page(&d, Wire::Rest, &admin, req("", 0, "")).await.unwrap();
    assert!(next.is_empty(), "an unpaged list has no next page");
    assert_eq!(unpaged, paged, "the streamed list is the pages, in order");
    let (grpc, _) = page(&d, Wire::Grpc, &admin, req("", 0, "")).await.unwrap();
    assert_eq!(grpc, paged, "gRPC's unpaged answer is the same list");
    let alice = d.token("alice", &[], None);
    let (mine, _) = page(&d, Wire::Rest, &alice, req("", 0, "")).await.unwrap();
    let theirs: Vec<String> = paged
        .iter()
        .filter(|id| id.starts_with("alice-"))
        .cloned()
        .collect();
    assert_eq!(mine, theirs, "a tenant's unpaged list holds only theirs");
    d.stop().await;
    assert!(
        backups.join(".index").exists(),
        "the daemon keeps a snapshot of its index"
    );

    let mut changed = records[5].clone();
    changed.size_bytes = 4242;
    std::fs::write(sidecar(&changed), encode(&changed).unwrap()).unwrap();
    std::fs::remove_file(sidecar(&records[6])).unwrap();
    std::fs::remove_file(&records[7].location).unwrap();

    let d = TestDaemon::start(&config).await;
    let (again, _) = page(&d, Wire::Rest, &admin, req("", 0, "")).await.unwrap();
    let expected: Vec<String> = paged
        .iter()
        .filter(|id| **id != records[6].id && **id != records[7].id)
        .cloned()
        .collect();
    assert_eq!(
        again, expected,
        "the removed sidecar and the lost dump are not listed"
    );
    let catalog = d.service.catalog();
    assert_eq!(
        catalog.get(&changed.id).unwrap().size_bytes,
        4242,
        "the rewritten sidecar was read"
    );
    let lost = catalog.get(&records[7].id).unwrap_err();
    assert!(lost.message.contains("is missing"), "{}", lost.message);
    d.stop().await;
}
