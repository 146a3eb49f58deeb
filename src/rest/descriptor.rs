//! The wire contract as data: the compiled proto (`proto::DESCRIPTORS`) read
//! once, so the OpenAPI document, query parsing and the `null`s of unset
//! message fields all follow the `.proto` file and cannot drift from it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

use crate::proto;

const PACKAGE: &str = "containarium.v1";
const SERVICE: &str = "BackupService";

/// One RPC of `BackupService`: its name and its message names (unqualified).
#[derive(Debug, Clone)]
pub struct Rpc {
    pub name: String,
    pub input: String,
    pub output: String,
    pub comment: String,
}

/// The parsed contract.
#[derive(Debug)]
pub struct Contract {
    pub rpcs: Vec<Rpc>,
    pub messages: BTreeMap<String, DescriptorProto>,
    /// Enum name → its (value name, number) pairs, in declaration order.
    pub enums: BTreeMap<String, Vec<(String, i32)>>,
    /// "Message" or "Message.field" → the comment above it in the `.proto`.
    pub comments: BTreeMap<String, String>,
}

/// The contract compiled into this binary.
pub fn contract() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| {
        let fds = FileDescriptorSet::decode(proto::DESCRIPTORS)
            .expect("build.rs wrote a valid FileDescriptorSet");
        Contract::from_set(&fds)
    })
}

/// `.containarium.v1.Foo` → `Foo`.
pub fn short(type_name: &str) -> &str {
    type_name.rsplit('.').next().unwrap_or(type_name)
}

/// The proto3 JSON name of a field (`size_bytes` → `sizeBytes`).
pub fn json_name(f: &FieldDescriptorProto) -> String {
    if let Some(n) = f.json_name.as_deref().filter(|n| !n.is_empty()) {
        return n.to_string();
    }
    let mut out = String::new();
    let mut upper = false;
    for c in f.name().chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a field holds one message (not repeated): unset is `null` on the wire.
pub fn is_single_message(f: &FieldDescriptorProto) -> bool {
    f.r#type() == Type::Message && f.label() != Label::Repeated
}

impl Contract {
    fn from_set(fds: &FileDescriptorSet) -> Self {
        let mut c = Self {
            rpcs: Vec::new(),
            messages: BTreeMap::new(),
            enums: BTreeMap::new(),
            comments: BTreeMap::new(),
        };
        for file in fds.file.iter().filter(|f| f.package() == PACKAGE) {
            let comment = |path: &[i32]| -> String {
                file.source_code_info
                    .as_ref()
                    .and_then(|i| i.location.iter().find(|l| l.path == path))
                    .and_then(|l| l.leading_comments.as_deref())
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            };
            for (mi, m) in (0i32..).zip(&file.message_type) {
                c.comments.insert(m.name().to_string(), comment(&[4, mi]));
                for (fi, f) in (0i32..).zip(&m.field) {
                    c.comments.insert(
                        format!("{}.{}", m.name(), f.name()),
                        comment(&[4, mi, 2, fi]),
                    );
                }
                c.messages.insert(m.name().to_string(), m.clone());
            }
            for e in &file.enum_type {
                let values = e
                    .value
                    .iter()
                    .map(|v| (v.name().to_string(), v.number()))
                    .collect();
                c.enums.insert(e.name().to_string(), values);
            }
            for (si, s) in (0i32..).zip(&file.service) {
                if s.name() != SERVICE {
                    continue;
                }
                for (ri, m) in (0i32..).zip(&s.method) {
                    c.rpcs.push(Rpc {
                        name: m.name().to_string(),
                        input: short(m.input_type()).to_string(),
                        output: short(m.output_type()).to_string(),
                        comment: comment(&[6, si, 2, ri]),
                    });
                }
            }
        }
        c
    }

    pub fn rpc(&self, name: &str) -> Option<&Rpc> {
        self.rpcs.iter().find(|r| r.name == name)
    }

    pub fn message(&self, name: &str) -> Option<&DescriptorProto> {
        self.messages.get(name)
    }

    /// The field of `message` called `key` in either JSON spelling.
    pub fn field(&self, message: &str, key: &str) -> Option<&FieldDescriptorProto> {
        self.message(message)?
            .field
            .iter()
            .find(|f| f.name() == key || json_name(f) == key)
    }

    pub fn comment(&self, key: &str) -> &str {
        self.comments.get(key).map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_contract_is_readable() {
        let c = contract();
        let create = c.rpc("CreateBackup").expect("CreateBackup");
        assert_eq!(create.input, "CreateBackupRequest");
        assert_eq!(create.output, "CreateBackupResponse");
        let f = c.field("BackupRecord", "sizeBytes").expect("size_bytes");
        assert_eq!(f.name(), "size_bytes");
        assert_eq!(json_name(f), "sizeBytes");
        assert!(c.comment("BackupRecord.sha256").contains("SHA-256"));
        assert_eq!(c.enums["BackupDestination"][0].1, 0);
    }
}
