//! Tool results: readable text for people and models, plus the response's
//! proto3 JSON (the REST body) as `structured_content` for programs. Errors
//! are tool errors (`is_error`), not protocol errors, so the caller sees why.

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

use crate::{Error, Result, proto};

/// A short human-readable rendering of a response.
pub trait Summary {
    fn summary(&self) -> String;
}

/// The tool result for an [`crate::api::Api`] call's outcome.
pub fn reply<T: Serialize + Summary>(outcome: Result<T>) -> CallToolResult {
    let response = match outcome {
        Ok(r) => r,
        Err(e) => return failure(&e),
    };
    match serde_json::to_value(&response) {
        Ok(json) => {
            // The JSON is repeated as text for clients that ignore
            // structured content, as the MCP spec recommends.
            let mut r = CallToolResult::success(vec![
                ContentBlock::text(response.summary()),
                ContentBlock::text(json.to_string()),
            ]);
            r.structured_content = Some(json);
            r
        }
        Err(e) => failure(&Error::internal(format!("encoding the response: {e}"))),
    }
}

/// `<code>: <message>`, with the code in the same snake_case name the
/// audit log uses, and both as structured content.
fn failure(e: &Error) -> CallToolResult {
    let code = serde_json::to_value(e.code).unwrap_or_default();
    let name = code.as_str().unwrap_or("internal");
    let mut r = CallToolResult::error(vec![ContentBlock::text(format!("{name}: {}", e.message))]);
    r.structured_content = Some(serde_json::json!({ "code": code, "message": e.message }));
    r
}

fn record_line(r: &proto::BackupRecord) -> String {
    format!(
        "{}  tenant={} database={} size={}B created={} at {}",
        r.id, r.username, r.database, r.size_bytes, r.created_at, r.location
    )
}

fn lines<'a>(head: String, records: impl IntoIterator<Item = &'a proto::BackupRecord>) -> String {
    records
        .into_iter()
        .fold(head, |s, r| s + "\n- " + &record_line(r))
}

impl Summary for proto::CreateBackupResponse {
    fn summary(&self) -> String {
        let s = lines(self.message.clone(), &self.records);
        self.failures.iter().fold(s, |s, f| s + "\n! failed: " + f)
    }
}

impl Summary for proto::ListBackupsResponse {
    fn summary(&self) -> String {
        let s = lines(format!("{} backups", self.records.len()), &self.records);
        let s = self
            .warnings
            .iter()
            .fold(s, |s, w| s + "\n! unreadable: " + w);
        if self.next_page_token.is_empty() {
            s
        } else {
            s + "\nnext page token: " + &self.next_page_token
        }
    }
}

impl Summary for proto::GetBackupResponse {
    fn summary(&self) -> String {
        let Some(r) = &self.record else {
            return "no record".into();
        };
        let verified = r.last_verification.as_ref().map_or_else(
            || "never verified".to_string(),
            |v| {
                format!(
                    "last verified {} ({})",
                    v.verified_at,
                    result_name(v.result)
                )
            },
        );
        format!("{}\nsha256={} {verified}", record_line(r), r.sha256)
    }
}

impl Summary for proto::RestoreBackupResponse {
    fn summary(&self) -> String {
        self.message.clone()
    }
}

impl Summary for proto::VerifyBackupResponse {
    fn summary(&self) -> String {
        match &self.verification {
            Some(v) => v.checks.iter().fold(self.message.clone(), |s, c| {
                let mark = if c.passed { "ok" } else { "FAILED" };
                s + &format!("\n- {} {mark}: {}", c.name, c.detail)
            }),
            None => self.message.clone(),
        }
    }
}

impl Summary for proto::DeleteBackupResponse {
    fn summary(&self) -> String {
        self.message.clone()
    }
}

fn result_name(v: i32) -> &'static str {
    match proto::VerificationResult::try_from(v) {
        Ok(proto::VerificationResult::Passed) => "passed",
        Ok(proto::VerificationResult::Failed) => "failed",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_lead_with_the_code_name() {
        let r = reply::<proto::DeleteBackupResponse>(Err(Error::denied("no write scope")));
        assert_eq!(r.is_error, Some(true));
        let text = r.content[0].as_text().unwrap().text.clone();
        assert_eq!(text, "permission_denied: no write scope");
        let s = r.structured_content.unwrap();
        assert_eq!(s["code"], "permission_denied");
    }

    #[test]
    fn success_carries_text_and_proto_json() {
        let resp = proto::ListBackupsResponse {
            records: vec![proto::BackupRecord {
                id: "alice-app-20260605T130405Z".into(),
                size_bytes: 41231,
                ..Default::default()
            }],
            warnings: vec![],
            next_page_token: String::new(),
        };
        let r = reply(Ok(resp));
        assert_eq!(r.is_error, Some(false));
        assert!(
            r.content[0]
                .as_text()
                .unwrap()
                .text
                .contains("alice-app-20260605T130405Z")
        );
        let s = r.structured_content.unwrap();
        assert_eq!(s["records"][0]["sizeBytes"], "41231");
    }
}
