//! Proto messages as JSON Schema (OpenAPI 3.1), following the proto3 JSON
//! mapping the REST surface speaks (pbjson): lowerCamelCase names, int64 as
//! strings, enums by name, unset message fields as `null`, unknown fields
//! rejected. Requests and responses differ: a response always carries every
//! field but proto3 `optional` ones; a request may leave any field out.

use prost_types::FieldDescriptorProto;
use prost_types::field_descriptor_proto::{Label, Type};
use serde_json::{Map, Value, json};

use crate::rest::descriptor::{Contract, json_name, short};

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// The component name of `message` travelling `dir`.
pub fn component(message: &str, dir: Direction, both: &[String]) -> String {
    if dir == Direction::Request && both.iter().any(|m| m == message) {
        format!("{message}Input")
    } else {
        message.to_string()
    }
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The schema of one field's value (before `repeated`).
fn scalar(c: &Contract, f: &FieldDescriptorProto, dir: Direction, both: &[String]) -> Value {
    match f.r#type() {
        Type::String => json!({ "type": "string" }),
        Type::Bool => json!({ "type": "boolean" }),
        Type::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
            json!({ "type": "integer", "format": "int32",
                    "minimum": i32::MIN, "maximum": i32::MAX })
        }
        Type::Uint32 | Type::Fixed32 => {
            json!({ "type": "integer", "format": "int32", "minimum": 0, "maximum": u32::MAX })
        }
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
            json!({ "type": "string", "pattern": "^-?[0-9]+$", "format": "int64",
                    "description": "int64, as a JSON string" })
        }
        Type::Uint64 | Type::Fixed64 => {
            json!({ "type": "string", "pattern": "^[0-9]+$", "format": "int64",
                    "description": "uint64, as a JSON string" })
        }
        Type::Double | Type::Float => json!({ "type": "number" }),
        Type::Enum => {
            let name = short(f.type_name());
            match dir {
                Direction::Response => reference(name),
                // pbjson also accepts an enum's number.
                Direction::Request => {
                    let numbers: Vec<i32> = c
                        .enums
                        .get(name)
                        .map(|v| v.iter().map(|(_, n)| *n).collect())
                        .unwrap_or_default();
                    json!({ "anyOf": [reference(name),
                                      { "type": "integer", "enum": numbers }] })
                }
            }
        }
        Type::Message | Type::Group => {
            let name = component(short(f.type_name()), dir, both);
            json!({ "anyOf": [reference(&name), { "type": "null" }] })
        }
    }
}

/// The schema of one field, `repeated` included.
pub fn field(c: &Contract, f: &FieldDescriptorProto, dir: Direction, both: &[String]) -> Value {
    if f.label() == Label::Repeated {
        let item = match scalar(c, f, dir, both) {
            // A repeated message's items are never null.
            Value::Object(mut m) if m.contains_key("anyOf") && is_message(f) => m
                .remove("anyOf")
                .and_then(|a| a.get(0).cloned())
                .unwrap_or(Value::Null),
            other => other,
        };
        json!({ "type": "array", "items": item })
    } else {
        scalar(c, f, dir, both)
    }
}

fn is_message(f: &FieldDescriptorProto) -> bool {
    matches!(f.r#type(), Type::Message | Type::Group)
}

/// The schema of `message` travelling `dir`, without constraints.
pub fn message(c: &Contract, message: &str, dir: Direction, both: &[String]) -> Value {
    let Some(m) = c.message(message) else {
        return json!({});
    };
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in &m.field {
        let name = json_name(f);
        let mut schema = field(c, f, dir, both);
        let doc = c.comment(&format!("{message}.{}", f.name()));
        if let Some(o) = schema.as_object_mut().filter(|_| !doc.is_empty()) {
            o.insert("description".into(), doc.into());
        }
        props.insert(name.clone(), schema);
        if dir == Direction::Response && !f.proto3_optional() {
            required.push(Value::String(name));
        }
    }
    let mut schema = json!({
        "type": "object",
        "properties": props,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    let doc = c.comment(message);
    if !doc.is_empty() {
        schema["description"] = doc.into();
    }
    schema
}

/// An enum as the names it is written with.
pub fn enumeration(c: &Contract, name: &str) -> Value {
    let names: Vec<&str> = c
        .enums
        .get(name)
        .map(|v| v.iter().map(|(n, _)| n.as_str()).collect())
        .unwrap_or_default();
    json!({ "type": "string", "enum": names })
}
