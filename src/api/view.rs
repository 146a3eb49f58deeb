//! What a non-admin is shown: no host path. A tenant learns its backups and
//! why an operation failed, never where the daemon keeps files (the backup
//! directory, the spool, a socket on the host). Admins see everything as is.
//! Applied once, to every response and error of the in-process [`super::Api`].

use crate::{Error, proto};

/// Rewrites a response for a caller who is not an admin.
pub trait ForTenant {
    fn for_tenant(&mut self);
}

/// `s` with each absolute path replaced by its last component (the file
/// name says which backup without saying where it lives). A path is a `/`
/// at the start or after a space, quote, bracket, `=` or `,`; `gs://…` and
/// `s3://…` are left alone (their `/` follows `:`).
pub fn without_host_paths(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let starts = c == '/'
            && prev.is_none_or(|p| {
                p.is_whitespace() || matches!(p, '\'' | '"' | '(' | '[' | '=' | ',')
            });
        if !starts {
            out.push(c);
            prev = Some(c);
            continue;
        }
        let mut end = s.len();
        while let Some(&(j, d)) = chars.peek() {
            if d.is_whitespace() || matches!(d, '\'' | '"' | ')' | ']' | ',' | ':' | ';') {
                end = j;
                break;
            }
            chars.next();
        }
        let path = &s[i..end];
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        out.push_str(if last.is_empty() { "<path>" } else { last });
        prev = path.chars().last();
    }
    out
}

/// An error as a non-admin sees it.
pub fn error_for_tenant(mut e: Error) -> Error {
    e.message = without_host_paths(&e.message);
    e
}

fn text(s: &mut String) {
    *s = without_host_paths(s);
}

impl ForTenant for proto::BackupRecord {
    fn for_tenant(&mut self) {
        text(&mut self.location);
        if let Some(v) = self.last_verification.as_mut() {
            v.for_tenant();
        }
    }
}

impl ForTenant for proto::BackupVerification {
    fn for_tenant(&mut self) {
        text(&mut self.error);
        for c in &mut self.checks {
            text(&mut c.detail);
        }
    }
}

impl<T: ForTenant> ForTenant for Option<T> {
    fn for_tenant(&mut self) {
        if let Some(v) = self {
            v.for_tenant();
        }
    }
}

impl<T: ForTenant> ForTenant for Vec<T> {
    fn for_tenant(&mut self) {
        for v in self {
            v.for_tenant();
        }
    }
}

impl ForTenant for String {
    fn for_tenant(&mut self) {
        text(self);
    }
}

impl ForTenant for proto::PruneDecision {
    fn for_tenant(&mut self) {
        self.record.for_tenant();
    }
}

impl ForTenant for proto::FreshnessStatus {
    fn for_tenant(&mut self) {
        text(&mut self.problem);
    }
}

impl ForTenant for proto::RecentFailure {
    fn for_tenant(&mut self) {
        text(&mut self.message);
    }
}

/// Names, phases and byte counts: nothing that carries a path.
impl ForTenant for proto::Operation {
    fn for_tenant(&mut self) {}
}

/// Responses: each names the fields that can carry a path.
macro_rules! for_tenant {
    ($($ty:ident: $($field:ident),*;)*) => {
        $(impl ForTenant for proto::$ty {
            fn for_tenant(&mut self) {
                $(self.$field.for_tenant();)*
            }
        })*
    };
}

for_tenant! {
    CreateBackupResponse: message, record, records, failures;
    ListBackupsResponse: records, warnings;
    GetBackupResponse: record;
    RestoreBackupResponse: message;
    VerifyBackupResponse: message, verification, record;
    DeleteBackupResponse: message;
    PruneBackupsResponse: message, kept, removed, failures;
    CheckBackupsResponse: statuses;
    RebuildIndexResponse: message, added;
    ListOperationsResponse: operations, failures;
}

#[cfg(test)]
mod tests {
    use super::without_host_paths as w;

    #[test]
    fn host_paths_become_file_names() {
        assert_eq!(
            w("/var/lib/containarium/backups/alice-app-20260101T000000Z.dump"),
            "alice-app-20260101T000000Z.dump"
        );
        assert_eq!(
            w("reading /srv/b/x.meta.json: No such file (\"/run/pg/.s.PGSQL.5432\")"),
            "reading x.meta.json: No such file (\".s.PGSQL.5432\")"
        );
        assert_eq!(w("gs://bucket/prefix/x.dump"), "gs://bucket/prefix/x.dump");
        assert_eq!(w("s3://b/k and host=/tmp/sock/"), "s3://b/k and host=sock");
        assert_eq!(w("a / b"), "a <path> b");
        assert_eq!(w("1/2 done"), "1/2 done");
    }
}
