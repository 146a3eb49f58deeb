//! grpc-gateway JSON on the way in and out. The proto types' serde impls
//! (pbjson) already give lowerCamelCase output, both spellings on input,
//! enum names and int64 as strings; they skip unknown fields so that a
//! client decodes a newer daemon's answers. This file adds what a server
//! needs: unknown input fields rejected, the body limit, query parameters as
//! request fields, the error shape, and `null` for every unset message field
//! (read from the proto, so a new message field needs nothing here).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prost_types::field_descriptor_proto::Type;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use futures::StreamExt;

use super::descriptor::{Contract, contract, is_single_message, json_name, short};
use super::error::ApiError;
use crate::{Error, proto};

/// A request body in proto3 JSON; an empty body is the default message.
/// A body that cannot be read or parsed is kept as the error, so the
/// handler can authenticate the caller before telling them what is wrong
/// with it.
pub struct Body<T>(pub Result<T, ApiError>);

impl<S: Send + Sync, T: DeserializeOwned + Serialize + Default> FromRequest<S> for Body<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = match Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(r) => {
                let status = r.status();
                let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "request body is too large".to_string()
                } else {
                    format!("cannot read the request body: {}", r.body_text())
                };
                return Ok(Self(Err(ApiError(Error::invalid(msg), Some(status)))));
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Ok(T::default())));
        }
        Ok(Self(parse(&bytes)))
    }
}

/// A body as message `T`, refusing fields `T` does not have.
pub(crate) fn parse<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<T, ApiError> {
    let invalid = |e: String| ApiError::from(Error::invalid(format!("invalid request body: {e}")));
    let mut input: Value = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    whole_numbers(&mut input);
    let msg: T = serde_json::from_value(input.clone()).map_err(|e| invalid(e.to_string()))?;
    let known = serde_json::to_value(&msg).map_err(|e| invalid(e.to_string()))?;
    reject_unknown(&input, &known).map_err(invalid)?;
    Ok(msg)
}

/// Numbers written with a zero fraction (`3.0`) as the integers they are:
/// JSON (and JSON Schema's `integer`) does not tell `3.0` from `3`, and
/// protobuf's own JSON parsers take both for an integer field; pbjson
/// takes only the second. A real fraction is left for pbjson to refuse.
fn whole_numbers(v: &mut Value) {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                // Exact: |f| < 2^53, so the cast neither rounds nor saturates.
                #[allow(clippy::cast_possible_truncation)]
                let whole = f as i64;
                *v = Value::from(whole);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(m) => m.values_mut().for_each(whole_numbers),
        _ => {}
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

/// Query parameters as the fields of request `message` (grpc-gateway: any
/// field not bound by the path), in either spelling; unknown or repeated
/// parameters are refused.
///
/// # Errors
/// InvalidArgument naming the parameter.
pub fn from_query<T: DeserializeOwned>(
    message: &str,
    pairs: Vec<(String, String)>,
) -> Result<T, ApiError> {
    let c = contract();
    let mut obj = Map::new();
    for (k, v) in pairs {
        let Some(f) = c.field(message, &k) else {
            return Err(Error::invalid(format!("unknown query parameter {k:?}")).into());
        };
        let key = json_name(f);
        if obj.contains_key(&key) {
            return Err(Error::invalid(format!("query parameter {k:?} is given twice")).into());
        }
        let value = match (f.r#type(), v.as_str()) {
            (Type::Bool, "true") => Value::Bool(true),
            (Type::Bool, "false") => Value::Bool(false),
            (Type::Bool, _) => {
                return Err(Error::invalid(format!("{k} must be true or false")).into());
            }
            // pbjson reads numbers and enum names from strings; `3.0` is
            // the integer 3, as in a body.
            (
                Type::Int32
                | Type::Int64
                | Type::Uint32
                | Type::Uint64
                | Type::Sint32
                | Type::Sint64
                | Type::Fixed32
                | Type::Fixed64
                | Type::Sfixed32
                | Type::Sfixed64,
                _,
            ) => {
                let mut n = serde_json::from_str::<Value>(&v).unwrap_or(Value::Null);
                whole_numbers(&mut n);
                if n.is_i64() || n.is_u64() {
                    Value::String(n.to_string())
                } else {
                    Value::String(v)
                }
            }
            _ => Value::String(v),
        };
        obj.insert(key, value);
    }
    serde_json::from_value(Value::Object(obj))
        .map_err(|e| Error::invalid(format!("invalid query parameters: {e}")).into())
}

/// Puts an explicit `null` for every unset single message field of
/// `message`, and of every message inside it.
fn null_unset(c: &Contract, message: &str, v: &mut Value) {
    let (Some(d), Value::Object(m)) = (c.message(message), v) else {
        return;
    };
    for f in d.field.iter().filter(|f| f.r#type() == Type::Message) {
        let inner = short(f.type_name());
        match m.get_mut(&json_name(f)) {
            None if is_single_message(f) => {
                m.insert(json_name(f), Value::Null);
            }
            None => {}
            Some(Value::Array(items)) => items.iter_mut().for_each(|i| null_unset(c, inner, i)),
            Some(value) => null_unset(c, inner, value),
        }
    }
}

/// A response message (of proto type `message`) as grpc-gateway JSON.
pub fn reply<T: Serialize>(message: &str, msg: &T) -> Response {
    match gateway_value(message, msg) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `msg` (of proto type `message`) as the JSON value grpc-gateway sends.
fn gateway_value<T: Serialize>(message: &str, msg: &T) -> crate::Result<Value> {
    let mut v = serde_json::to_value(msg)
        .map_err(|e| Error::internal(format!("encoding the response: {e}")))?;
    null_unset(contract(), message, &mut v);
    Ok(v)
}

/// A ListBackups answer sent as its parts arrive ([`crate::api::ListStream`]):
/// the first part's fields around one `records` array that every part's
/// records are appended to, so the body is the same JSON as the whole
/// answer's, and the daemon holds one part at a time however long the list
/// is. A part that fails after the first cuts the body short (the status is
/// sent by then): the client sees a broken body, never a partial list
/// passed off as whole.
pub fn streamed_list(first: proto::ListBackupsResponse, rest: crate::api::ListStream) -> Response {
    let message = "ListBackupsResponse";
    let records_type = contract()
        .field(message, "records")
        .map_or("BackupRecord", |f| short(f.type_name()));
    let record_json = move |r: &proto::BackupRecord| -> crate::Result<Vec<u8>> {
        Ok(serde_json::to_vec(&gateway_value(records_type, r)?)?)
    };
    let mut envelope = first;
    let records = std::mem::take(&mut envelope.records);
    let (head, tail) = match gateway_value(message, &envelope) {
        Ok(Value::Object(fields)) => around(&fields, "records"),
        Ok(_) => {
            return ApiError::from(Error::internal("a list is not a JSON object")).into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut started = false;
    let mut chunk = move |records: &[proto::BackupRecord]| -> crate::Result<Bytes> {
        let mut out = Vec::with_capacity(records.len() * 512);
        for r in records {
            if started {
                out.push(b',');
            }
            started = true;
            out.extend(record_json(r)?);
        }
        Ok(Bytes::from(out))
    };
    let first_chunk = chunk(&records);
    let body = futures::stream::once(async move { Ok(Bytes::from(head)) })
        .chain(futures::stream::once(async move { first_chunk }))
        .chain(rest.map(move |part| part.and_then(|p| chunk(&p.records))))
        .chain(futures::stream::once(async move { Ok(Bytes::from(tail)) }))
        .map(|c| {
            c.map_err(|e| {
                tracing::error!(error = %e, "an unpaged list was cut short");
                std::io::Error::other(e.message)
            })
        });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// The JSON text of object `fields` before and after the value of `key`
/// (an array, brackets included): `{"a":1,"key":[` and `],"b":2}`.
fn around(fields: &Map<String, Value>, key: &str) -> (String, String) {
    let member = |(k, v): (&String, &Value)| format!("{}:{v}", Value::String(k.clone()));
    let at = fields.keys().position(|k| k == key).unwrap_or(fields.len());
    let before: Vec<String> = fields.iter().take(at).map(member).collect();
    let after: Vec<String> = fields.iter().skip(at + 1).map(member).collect();
    let key = Value::String(key.to_string());
    let head = if before.is_empty() {
        format!("{{{key}:[")
    } else {
        format!("{{{},{key}:[", before.join(","))
    };
    let tail = if after.is_empty() {
        "]}".to_string()
    } else {
        format!("],{}}}", after.join(","))
    };
    (head, tail)
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
            ..Default::default()
        };
        let body = reply("ListBackupsResponse", &resp);
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
    fn query_parameters_are_request_fields_in_either_spelling() {
        let q = |pairs: &[(&str, &str)]| {
            from_query::<proto::CheckBackupsRequest>(
                "CheckBackupsRequest",
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
            )
        };
        let r = q(&[("maxAge", "26h"), ("require_verified_within", "8d")]).unwrap();
        assert_eq!(
            (r.max_age.as_str(), r.require_verified_within.as_str()),
            ("26h", "8d")
        );
        let unknown = q(&[("bogus", "1")]).err().unwrap();
        assert!(
            unknown
                .0
                .message
                .contains("unknown query parameter \"bogus\""),
            "{}",
            unknown.0.message
        );
        let twice = q(&[("maxAge", "1h"), ("max_age", "2h")]).err().unwrap();
        assert!(
            twice.0.message.contains("given twice"),
            "{}",
            twice.0.message
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
        let check = |body: &str| parse::<proto::CreateBackupRequest>(body.as_bytes()).map(|_| ());
        let e = check(r#"{"username":"a","bogus":1}"#).unwrap_err();
        assert!(
            e.0.message.contains("unknown field `bogus`"),
            "{}",
            e.0.message
        );
        let e = check(r#"{"connection":{"database":"d","sneaky":"x"}}"#).unwrap_err();
        assert!(
            e.0.message.contains("unknown field `sneaky`"),
            "{}",
            e.0.message
        );
        check(r#"{"gcs_bucket":"gs://b","connection":{"database":"d"},"all_tenants":true}"#)
            .unwrap();
    }

    #[test]
    fn whole_numbers_written_as_floats_are_integers() {
        let r: proto::PruneBackupsRequest =
            parse(br#"{"keepMonthly": 39473.0, "keepLast": 2}"#).unwrap();
        assert_eq!((r.keep_monthly, r.keep_last), (39473, 2));
        let r: proto::ListBackupsRequest = from_query(
            "ListBackupsRequest",
            vec![("pageSize".into(), "10.0".into())],
        )
        .unwrap();
        assert_eq!(r.page_size, 10);
        for bad in [r#"{"keepLast": 1.5}"#, r#"{"keepLast": 1e300}"#] {
            let e = parse::<proto::PruneBackupsRequest>(bad.as_bytes()).unwrap_err();
            assert!(
                e.0.message.contains("invalid request body"),
                "{bad}: {}",
                e.0.message
            );
        }
        let e = from_query::<proto::ListBackupsRequest>(
            "ListBackupsRequest",
            vec![("pageSize".into(), "2.5".into())],
        )
        .unwrap_err();
        assert!(
            e.0.message.contains("invalid query parameters"),
            "{}",
            e.0.message
        );
    }

    #[test]
    fn a_client_decodes_a_newer_daemons_fields() {
        let r: proto::ListBackupsResponse = serde_json::from_str(
            r#"{"records":[{"id":"a-b-1","sizeBytes":"3","kindOfTheFuture":"x"}],"warnings":[],"shardHint":"t"}"#,
        )
        .unwrap();
        assert_eq!(r.records[0].id, "a-b-1");
    }
}
