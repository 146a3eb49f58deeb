//! Backup ids and the names they are made of. An id becomes a file name and
//! an object key, so everything arriving from outside is checked here before
//! it is joined to any path.

use chrono::{DateTime, Utc};

use crate::{Error, Result};

const MAX_NAME: usize = 63;
const MAX_ID: usize = 200;

fn plain_component(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !s.contains("..")
}

/// Checks a tenant or database name that will become part of an id.
///
/// # Errors
/// InvalidArgument naming `what` and the rule.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    if name.len() > MAX_NAME || !plain_component(name) {
        return Err(Error::invalid(format!(
            "{what} {name:?} cannot form a safe backup id: use at most {MAX_NAME} ASCII letters, \
             digits, '_', '-' or '.', starting with a letter, digit or '_'"
        )));
    }
    Ok(())
}

/// Checks an id from a request: a plain file-name component, nothing else.
///
/// # Errors
/// InvalidArgument.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid("backup id must not be empty"));
    }
    if id.len() > MAX_ID || !plain_component(id) {
        return Err(Error::invalid(format!(
            "{:?} is not a backup id (expected <tenant>-<database>-<yyyymmddThhmmssZ>)",
            id.escape_debug().to_string()
        )));
    }
    Ok(())
}

/// `<tenant>-<database>-<UTC yyyymmddThhmmssZ>`, with `-N` appended for the
/// N-th backup of the same database in the same second (N ≥ 2).
///
/// A `-` inside a name is written twice, so a single `-` only ever separates:
/// tenant `a` + database `b-c` is `a-b--c-…`, tenant `a-b` + database `c` is
/// `a--b-c-…`. Names never start with `-`, so a run of dashes reads one way
/// only (even: inside a name; odd: a separator after the name's own dashes).
/// Names without `-` give the ids daemons always wrote; older ids of names
/// with `-` are still read, listed and deleted as they are (nothing parses
/// an id: the record names its tenant and database).
pub fn make_id(tenant: &str, database: &str, at: &DateTime<Utc>, n: u32) -> String {
    let esc = |s: &str| s.replace('-', "--");
    let base = format!(
        "{}-{}-{}",
        esc(tenant),
        esc(database),
        at.format("%Y%m%dT%H%M%SZ")
    );
    if n <= 1 { base } else { format!("{base}-{n}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_contract_shape() {
        let at = "2026-06-05T13:04:05.9Z".parse().unwrap();
        assert_eq!(
            make_id("alice", "app", &at, 1),
            "alice-app-20260605T130405Z"
        );
        assert_eq!(
            make_id("alice", "app", &at, 3),
            "alice-app-20260605T130405Z-3"
        );
    }

    #[test]
    fn dashes_in_names_cannot_forge_another_tenants_id() {
        let at = "2026-06-05T13:04:05Z".parse().unwrap();
        let a = make_id("a", "b-c", &at, 1);
        let ab = make_id("a-b", "c", &at, 1);
        assert_ne!(a, ab);
        assert_eq!(a, "a-b--c-20260605T130405Z");
        assert_eq!(ab, "a--b-c-20260605T130405Z");
        assert_eq!(make_id("a-", "b", &at, 1), "a---b-20260605T130405Z");
        validate_id(&a).unwrap();
        validate_id(&make_id("a-", "b", &at, 2)).unwrap();
    }

    #[test]
    fn hostile_ids_are_rejected() {
        for bad in [
            "",
            "..",
            "../etc/passwd",
            "a/b",
            "a\\b",
            "a\0b",
            ".hidden",
            "a..b",
            "-rf",
            "a b",
            "é",
            &"x".repeat(201),
        ] {
            let e = validate_id(bad).unwrap_err();
            assert_eq!(e.code, crate::Code::InvalidArgument, "{bad:?}");
        }
        validate_id("alice-app-20260605T130405Z-2").unwrap();
    }

    #[test]
    fn names_that_cannot_form_an_id_are_rejected() {
        for bad in ["", "a/b", "my db", "x=y", ".", "a..b", &"n".repeat(64)] {
            assert!(validate_name("database", bad).is_err(), "{bad:?}");
        }
        validate_name("database", "app_2.v1").unwrap();
    }
}
