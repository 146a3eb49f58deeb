//! Pure renderings of responses for people: strings in, strings out, no I/O,
//! so every shape the CLI prints is unit-tested here.

use std::fmt::Write as _;

use serde::Serialize;

use crate::proto::{self, BackupDestination, BackupEngine, VerificationResult};

/// Columns of `backup list` (and of the records `backup create` made).
pub const LIST_HEADERS: [&str; 8] = [
    "ID", "USER", "DATABASE", "CREATED", "SIZE", "DEST", "VERIFIED", "LOCATION",
];

/// `41231` → `40.3 KiB`; below 1 KiB the exact count, `512 B`.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes.abs() < 1024 {
        return format!("{bytes} B");
    }
    // Precision loss above 2^53 bytes is invisible at one decimal.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value.abs() < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

/// `local`, `gcs`, `s3`; `-` when unspecified, `?N` for a number this client
/// does not know (a newer daemon).
pub fn destination(v: i32) -> String {
    match BackupDestination::try_from(v) {
        Ok(BackupDestination::Local) => "local".into(),
        Ok(BackupDestination::Gcs) => "gcs".into(),
        Ok(BackupDestination::S3) => "s3".into(),
        Ok(BackupDestination::Unspecified) => "-".into(),
        Err(_) => format!("?{v}"),
    }
}

fn engine(v: i32) -> String {
    match BackupEngine::try_from(v) {
        Ok(BackupEngine::Postgres) => "postgres".into(),
        Ok(BackupEngine::Unspecified) => "-".into(),
        Err(_) => format!("?{v}"),
    }
}

/// `pass`, `FAIL` (loud: it needs attention), or `?` for an unknown result.
fn result_word(v: i32) -> &'static str {
    match VerificationResult::try_from(v) {
        Ok(VerificationResult::Passed) => "pass",
        Ok(VerificationResult::Failed) => "FAIL",
        _ => "?",
    }
}

/// The VERIFIED column: `never`, `pass <when>` or `FAIL <when>`.
pub fn verified(v: Option<&proto::BackupVerification>) -> String {
    match v {
        None => "never".into(),
        Some(v) => format!("{} {}", result_word(v.result), dash(&v.verified_at)),
    }
}

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Left-aligned columns two spaces apart; the last column is not padded.
pub fn table<S: AsRef<str>>(headers: &[&str], rows: &[Vec<S>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.as_ref().chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            if i + 1 < widths.len() {
                out.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(AsRef::as_ref)));
    }
    out
}

/// One row of [`LIST_HEADERS`].
pub fn record_row(r: &proto::BackupRecord) -> Vec<String> {
    vec![
        r.id.clone(),
        r.username.clone(),
        database(r),
        dash(&r.created_at).to_string(),
        human_size(r.size_bytes),
        destination(r.destination),
        verified(r.last_verification.as_ref()),
        dash(&r.location).to_string(),
    ]
}

/// The database, `(globals)` for a backup of the tenant's roles.
fn database(r: &proto::BackupRecord) -> String {
    if r.kind == "globals" {
        "(globals)".into()
    } else {
        dash(&r.database).into()
    }
}

/// `age → age1…, age1…`, or `-` for a dump in clear.
fn encryption(r: &proto::BackupRecord) -> String {
    if r.encryption.is_empty() {
        "-".into()
    } else {
        format!("{} → {}", r.encryption, r.recipients.join(", "))
    }
}

/// The `backup list` table.
pub fn records_table(records: &[proto::BackupRecord]) -> String {
    let rows: Vec<_> = records.iter().map(record_row).collect();
    table(&LIST_HEADERS, &rows)
}

/// Every field of a record, one per line (`-` for unset), then its last
/// verification.
pub fn record_detail(r: &proto::BackupRecord) -> String {
    let relations = r
        .relation_count
        .map_or_else(|| "-".into(), |n| n.to_string());
    let fields = [
        ("id", r.id.clone()),
        ("user", dash(&r.username).into()),
        ("database", database(r)),
        ("globals", dash(&r.globals_id).into()),
        ("created", dash(&r.created_at).into()),
        (
            "size",
            format!("{} ({} bytes)", human_size(r.size_bytes), r.size_bytes),
        ),
        ("sha256", dash(&r.sha256).into()),
        ("destination", destination(r.destination)),
        ("location", dash(&r.location).into()),
        ("engine", engine(r.engine)),
        ("relations", relations),
        ("stages", dash(&r.stages.join(" → ")).to_string()),
        ("encryption", encryption(r)),
        ("locked", locked(&r.locked_until)),
        ("verified", verified(r.last_verification.as_ref())),
    ];
    let mut out = key_values(&fields, "");
    if let Some(v) = &r.last_verification {
        out.push_str(&verification_detail(v, "  "));
    }
    out
}

/// Until when the bucket keeps the backup immutable, or `-`.
fn locked(until: &str) -> String {
    if until.is_empty() {
        "-".into()
    } else {
        format!("until {until}")
    }
}

/// A verification's fields and its checks, each line prefixed by `indent`.
pub fn verification_detail(v: &proto::BackupVerification, indent: &str) -> String {
    let fields = [
        ("result", result_word(v.result).to_string()),
        ("verified at", dash(&v.verified_at).into()),
        ("verified by", dash(&v.verified_by).into()),
        ("target", dash(&v.target_container).into()),
        ("scratch db", dash(&v.scratch_database).into()),
        ("duration", format!("{} ms", v.duration_ms)),
        ("error", dash(&v.error).into()),
    ];
    let mut out = key_values(&fields, indent);
    if v.checks.is_empty() {
        let _ = writeln!(out, "{indent}checks:      -");
        return out;
    }
    let _ = writeln!(out, "{indent}checks:");
    let rows: Vec<Vec<&str>> = v
        .checks
        .iter()
        .map(|c| {
            vec![
                if c.passed { "pass" } else { "FAIL" },
                &c.name,
                dash(&c.detail),
            ]
        })
        .collect();
    for line in table(&["", "CHECK", "DETAIL"], &rows).lines().skip(1) {
        let _ = writeln!(out, "{indent}  {line}");
    }
    out
}

fn key_values(fields: &[(&str, String)], indent: &str) -> String {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut out = String::new();
    for (k, v) in fields {
        let _ = writeln!(out, "{indent}{:<width$} {v}", format!("{k}:"));
    }
    out
}

/// The proto3-JSON (pbjson) of a response, pretty-printed: the same encoding
/// the REST surface speaks, so scripts can switch between them.
///
/// # Errors
/// Only for an enum number the encoder cannot name.
pub fn json<T: Serialize>(value: &T) -> crate::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
