//! grpc-gateway JSON on the way in and out. The proto types' serde impls
//! (pbjson) already give lowerCamelCase output, both spellings on input,
//! enum names, int64 as strings and unknown-field rejection; this file adds
//! the body limit, the error shape, and `null` for unset message fields.

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

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for Body<T> {
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
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| Error::invalid(format!("invalid request body: {e}")).into())
    }
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
            next_page_token: String::new(),
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
        assert!(
            serde_json::from_str::<proto::CreateBackupRequest>(r#"{"username":"a","bogus":1}"#)
                .is_err()
        );
    }
}
