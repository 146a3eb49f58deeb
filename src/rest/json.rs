//! grpc-gateway JSON on the way in and out. The proto types' serde impls
//! (pbjson) already give lowerCamelCase output, both spellings on input,
//! enum names and int64 as strings; they skip unknown fields so that a
//! client decodes a newer daemon's answers. This file adds what a server
//! needs: unknown input fields rejected, the body limit, the error shape,
//! and `null` for unset message fields.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use crate::Error;

/// A request body in proto3 JSON; an empty body is the default message.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Serialize + Default> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            let status = r.status();
            let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "request body is too large".to_string()
            } else {
                format!("cannot read the request body: {}", r.body_text())
            };
            ApiError(Error::invalid(msg), Some(status))
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        let invalid =
            |e: String| ApiError::from(Error::invalid(format!("invalid request body: {e}")));
        let input: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        let msg: T = serde_json::from_value(input.clone()).map_err(|e| invalid(e.to_string()))?;
        let known = serde_json::to_value(&msg).map_err(|e| invalid(e.to_string()))?;
        reject_unknown(&input, &known).map_err(invalid)?;
        Ok(Self(msg))
    }
}

/// Every key of `input` must be a field of the message it was parsed into:
/// `known` is that message re-encoded (every field emitted, camelCase), so a
/// key is known when it, or its camelCase form, is there. Nested messages
/// and lists are walked alike. A `null` value sets nothing and is let be.
fn reject_unknown(input: &Value, known: &Value) -> Result<(), String> {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, value) in i {
                if value.is_null() {
                    continue;
                }
                let Some(field) = k.get(key).or_else(|| k.get(&camel(key))) else {
                    return Err(format!("unknown field `{key}`"));
                };
                reject_unknown(value, field)?;
            }
            Ok(())
        }
        (Value::Array(i), Value::Array(k)) => {
            i.iter().zip(k).try_for_each(|(a, b)| reject_unknown(a, b))
        }
        _ => Ok(()),
    }
}

/// `gcs_bucket` → `gcsBucket`, as proto3 JSON names fields.
fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Gives every `BackupRecord` (recognisable by its always-emitted `sha256`)
/// an explicit `lastVerification: null` when it has none.
fn null_unset_verifications(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key("sha256") {
                m.entry("lastVerification").or_insert(Value::Null);
            }
            m.values_mut().for_each(null_unset_verifications);
        }
        Value::Array(a) => a.iter_mut().for_each(null_unset_verifications),
        _ => {}
    }
}

/// A response message as grpc-gateway JSON. `messages` names this
/// response's own message-typed fields (absent = unset = `null`).
pub fn reply<T: Serialize>(msg: &T, messages: &[&str]) -> Response {
    let mut v = match serde_json::to_value(msg) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::from(Error::internal(format!("encoding the response: {e}")))
                .into_response();
        }
    };
    if let Value::Object(m) = &mut v {
        for f in messages {
            m.entry(*f).or_insert(Value::Null);
        }
    }
    null_unset_verifications(&mut v);
    axum::Json(v).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto;

    #[test]
    fn output_follows_the_gateway_conventions() {
        let resp = proto::ListBackupsResponse {
            records: vec![proto::BackupRecord {
                id: "alice-app-20260605T130405Z".into(),
                size_bytes: 41231,
                destination: proto::BackupDestination::Local.into(),
                engine: proto::BackupEngine::Postgres.into(),
                relation_count: Some(42),
                ..Default::default()
            }],
            warnings: vec![],
        };
        let body = reply(&resp, &[]);
        let bytes =
            futures::executor::block_on(axum::body::to_bytes(body.into_body(), 1 << 20)).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let r = &v["records"][0];
        assert_eq!(r["sizeBytes"], "41231");
        assert_eq!(r["relationCount"], "42");
        assert_eq!(r["destination"], "BACKUP_DESTINATION_LOCAL");
        assert_eq!(r["engine"], "BACKUP_ENGINE_POSTGRES");
        assert_eq!(r["lastVerification"], Value::Null);
        assert_eq!(r["sha256"], "", "zero values are emitted");
        assert_eq!(r["createdAt"], "");

        let unset = proto::BackupRecord::default();
        let v = serde_json::to_value(&unset).unwrap();
        assert!(
            v.get("relationCount").is_none(),
            "unset optional scalars are omitted"
        );
    }

    #[test]
    fn input_accepts_both_spellings_and_rejects_unknown_fields() {
        let snake: proto::CreateBackupRequest = serde_json::from_str(
            r#"{"username":"a","gcs_bucket":"gs://b","destination":"BACKUP_DESTINATION_GCS"}"#,
        )
        .unwrap();
        let camel: proto::CreateBackupRequest =
            serde_json::from_str(r#"{"username":"a","gcsBucket":"gs://b","destination":2}"#)
                .unwrap();
        assert_eq!(snake, camel);
        let check = |body: &str| {
            let input: Value = serde_json::from_str(body).unwrap();
            let msg: proto::CreateBackupRequest = serde_json::from_value(input.clone()).unwrap();
            reject_unknown(&input, &serde_json::to_value(&msg).unwrap())
        };
        assert_eq!(
            check(r#"{"username":"a","bogus":1}"#).unwrap_err(),
            "unknown field `bogus`"
        );
        assert_eq!(
            check(r#"{"connection":{"database":"d","sneaky":"x"}}"#).unwrap_err(),
            "unknown field `sneaky`"
        );
        check(r#"{"gcs_bucket":"gs://b","connection":{"database":"d"},"all_tenants":true}"#)
            .unwrap();
    }

    #[test]
    fn a_client_decodes_a_newer_daemons_fields() {
        let r: proto::ListBackupsResponse = serde_json::from_str(
            r#"{"records":[{"id":"a-b-1","sizeBytes":"3","kindOfTheFuture":"x"}],"warnings":[],"nextPageToken":"t"}"#,
        )
        .unwrap();
        assert_eq!(r.records[0].id, "a-b-1");
    }
}
