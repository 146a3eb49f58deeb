//! REST in grpc-gateway JSON, checked field by field and against the
//! OpenAPI document the daemon serves.

use serde_json::{Value, json};

use crate::support::daemon::TestDaemon;
use crate::support::{Tenant, config_for, fingerprint, seed, with_scratch};

struct Rest {
    http: reqwest::Client,
    d: TestDaemon,
    openapi: Value,
}

impl Rest {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.d.url(path));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        (status, v)
    }

    /// Asserts `v` matches the named schema of the served OpenAPI document.
    fn conforms(&self, v: &Value, schema: &str) {
        let root = json!({
            "$ref": format!("#/components/schemas/{schema}"),
            "components": self.openapi["components"],
        });
        let validator = jsonschema::validator_for(&root).unwrap();
        let errors: Vec<String> = validator.iter_errors(v).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{schema} does not match the OpenAPI document: {errors:?}\n{v:#}"
        );
    }
}

fn error_shape(v: &Value, code: i64) {
    assert_eq!(v["code"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert_eq!(v["details"], json!([]));
    assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
}

/// Every documented route that needs a token is served, and answers a
/// caller without one 401 (and a token without the scope 403) before it
/// reads the request: a malformed body, bad query parameters and an invalid
/// id teach such a caller nothing.
async fn authentication_comes_first(r: &Rest) {
    let read_only = r.d.token("alice", &[], Some(&["backups:read"]));
    let mut checked = 0;
    for (path, ops) in r.openapi["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if op["security"] == json!([]) {
                continue;
            }
            let url = format!("{}?bogus=1", path.replace("{id}", "..%2F..%2Fetc"));
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let send = |token: &str| {
                let mut req = r.http.request(m.clone(), r.d.url(&url)).body("{\"bogus\":");
                if !token.is_empty() {
                    req = req.bearer_auth(token);
                }
                req.send()
            };
            let resp = send("").await.unwrap();
            assert_eq!(resp.status(), 401, "{method} {path} without a token");
            error_shape(&resp.json().await.unwrap(), 16);
            let resp = send("not-a-jwt").await.unwrap();
            assert_eq!(resp.status(), 401, "{method} {path} with a forged token");
            if method != "get" {
                let resp = send(&read_only).await.unwrap();
                assert_eq!(
                    resp.status(),
                    403,
                    "{method} {path} without the write scope"
                );
                let v: Value = resp.json().await.unwrap();
                error_shape(&v, 7);
                assert!(
                    v["message"].as_str().unwrap().contains("backups:write"),
                    "{v}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} routes need a token");
}

const RECORD_KEYS: &[&str] = &[
    "id",
    "username",
    "database",
    "createdAt",
    "sizeBytes",
    "sha256",
    "destination",
    "location",
    "engine",
    "lastVerification",
    "relationCount",
    // Additive: how the stored bytes encode the archive (the byte path).
    "stages",
    "rawSizeBytes",
    "compression",
    "encryption",
    "recipients",
    "lockedUntil",
    // Additive: a database or the tenant's globals, and the globals taken
    // with a database by an all-databases create.
    "kind",
    "globalsId",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rpc_over_rest_in_gateway_json() {
    use reqwest::Method;
    let (t, scratch) = (Tenant::start(), Tenant::start());
    t.create_db("app");
    seed(&t, "app", "alice");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&with_scratch(
        config_for(dir.path(), &[("alice", &t), ("bob", &scratch)]),
        "bob",
    ))
    .await;
    let http = reqwest::Client::new();
    let health = http.get(d.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let openapi: Value = http
        .get(d.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");
    let r = Rest { http, d, openapi };
    authentication_comes_first(&r).await;
    let tok =
        r.d.token("alice", &[], Some(&["backups:read", "backups:write"]));

    // Create, with snake_case input.
    let (s, v) = r
        .call(
            Method::POST,
            "/v1/backups",
            &tok,
            Some(
                json!({"username": "alice", "connection": {"database": "app"},
                        "destination": "BACKUP_DESTINATION_LOCAL", "gcs_bucket": ""}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    r.conforms(&v, "CreateBackupResponse");
    let rec = v["record"].clone();
    let keys: Vec<&str> = rec
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = RECORD_KEYS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "exactly the contract's lowerCamelCase fields");
    assert!(
        rec["sizeBytes"].as_str().unwrap().parse::<i64>().unwrap() > 0,
        "int64 as a string"
    );
    assert_eq!(rec["relationCount"], "5");
    assert_eq!(rec["destination"], "BACKUP_DESTINATION_LOCAL");
    assert_eq!(rec["engine"], "BACKUP_ENGINE_POSTGRES");
    assert_eq!(rec["lastVerification"], Value::Null);
    assert_eq!(rec["username"], "alice");
    assert_eq!(rec["sha256"].as_str().unwrap().len(), 64);
    assert!(rec["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["failures"], json!([]));
    assert_eq!(v["records"][0], rec);
    let id = rec["id"].as_str().unwrap().to_string();

    // camelCase input and an enum given by number are accepted too.
    let (s, v) = r
        .call(
            Method::POST,
            "/v1/backups",
            &tok,
            Some(
                json!({"username": "alice", "connection": {"database": "postgres", "port": 5432},
                        "destination": 1, "gcsBucket": ""}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    let (s, v) = r.call(Method::GET, "/v1/backups", &tok, None).await;
    assert_eq!(s, 200);
    r.conforms(&v, "ListBackupsResponse");
    assert_eq!(v["records"].as_array().unwrap().len(), 2);
    assert_eq!(v["records"][1], rec, "newest first");
    let (s, v) = r
        .call(Method::GET, "/v1/backups?username=alice", &tok, None)
        .await;
    assert_eq!((s, v["records"].as_array().unwrap().len()), (200, 2));

    let (s, v) = r
        .call(Method::GET, &format!("/v1/backups/{id}"), &tok, None)
        .await;
    assert_eq!(s, 200);
    r.conforms(&v, "GetBackupResponse");
    assert_eq!(v["record"], rec);

    let (s, v) = r
        .call(
            Method::POST,
            &format!("/v1/backups/{id}/restore"),
            &tok,
            Some(json!({"connection": {"database": "copy"}, "noOwner": true})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    r.conforms(&v, "RestoreBackupResponse");
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));

    let (s, v) = r
        .call(
            Method::POST,
            &format!("/v1/backups/{id}/verify"),
            &r.d.admin(),
            Some(json!({"target_username": "bob"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    r.conforms(&v, "VerifyBackupResponse");
    let ver = &v["verification"];
    assert_eq!(ver["result"], "VERIFICATION_RESULT_PASSED");
    assert!(
        ver["durationMs"].as_str().unwrap().parse::<i64>().is_ok(),
        "int64 as a string"
    );
    assert_eq!(
        ver["checks"][0],
        json!({"name": "integrity", "passed": true, "detail": ver["checks"][0]["detail"]})
    );
    assert_eq!(v["record"]["lastVerification"], *ver);
    let (_, got) = r
        .call(Method::GET, &format!("/v1/backups/{id}"), &tok, None)
        .await;
    // The tenant's get shows the same verification without the scratch
    // side's container, database and role names.
    let seen = &got["record"]["lastVerification"];
    assert_eq!(seen["result"], ver["result"], "get shows the verification");
    assert_eq!(seen["checks"].as_array().unwrap().len(), 6, "{seen}");
    assert_eq!(
        (
            seen["targetContainer"].as_str(),
            seen["scratchDatabase"].as_str()
        ),
        (Some(""), Some(""))
    );
    let shown = seen.to_string();
    for hidden in [&ver["targetContainer"], &ver["scratchDatabase"]] {
        assert!(!shown.contains(hidden.as_str().unwrap()), "{shown}");
    }

    // Errors: shape, gRPC code number and HTTP status.
    let (s, v) = r
        .call(
            Method::POST,
            "/v1/backups",
            &tok,
            Some(json!({"username": "alice", "bogus": 1})),
        )
        .await;
    assert_eq!(s, 400);
    error_shape(&v, 3);
    assert!(v["message"].as_str().unwrap().contains("bogus"));
    let (s, v) = r
        .call(Method::GET, "/v1/backups?user=alice", &tok, None)
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = r
        .call(
            Method::GET,
            "/v1/backups/alice-app-20000101T000000Z",
            &tok,
            None,
        )
        .await;
    assert_eq!(s, 404);
    error_shape(&v, 5);
    r.conforms(&v, "Error");
    let (s, v) = r.call(Method::GET, "/v1/backups", "", None).await;
    assert_eq!(s, 401);
    error_shape(&v, 16);
    let ro = r.d.token("alice", &[], Some(&["backups:read"]));
    let (s, v) = r
        .call(Method::DELETE, &format!("/v1/backups/{id}"), &ro, None)
        .await;
    assert_eq!(s, 403);
    error_shape(&v, 7);
    let (s, v) = r
        .call(
            Method::POST,
            "/v1/backups",
            &tok,
            Some(
                json!({"username": "alice", "connection": {"database": "nope"}, "destination": 1}),
            ),
        )
        .await;
    assert_eq!(s, 400);
    error_shape(&v, 9);
    let huge = json!({"username": "x".repeat(2 * 1024 * 1024)});
    let (s, v) = r.call(Method::POST, "/v1/backups", &tok, Some(huge)).await;
    assert_eq!(s, 413);
    error_shape(&v, 3);

    let (s, v) = r
        .call(Method::DELETE, &format!("/v1/backups/{id}"), &tok, None)
        .await;
    assert_eq!(s, 200);
    r.conforms(&v, "DeleteBackupResponse");
    let (s, _) = r
        .call(Method::GET, &format!("/v1/backups/{id}"), &tok, None)
        .await;
    assert_eq!(s, 404);
    r.d.stop().await;
}
