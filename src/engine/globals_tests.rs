use std::collections::BTreeSet;

use super::*;

/// What pg_dumpall 15 writes for a cluster with an application role, a
/// read-only role that is a member of it, and the bootstrap superuser.
const DUMPALL: &str = r#"--
-- PostgreSQL database cluster dump
--

\restrict 3bzMqfAlW1xG9kYcT7dP2nHvR8sE4uJ6aLoQ0iZw

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE app;
ALTER ROLE app WITH NOSUPERUSER INHERIT NOCREATEROLE CREATEDB LOGIN NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5 VALID UNTIL '2030-01-01 00:00:00+00';
CREATE ROLE "Read Only";
ALTER ROLE "Read Only" WITH NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
COMMENT ON ROLE "Read Only" IS 'reads
everything, it''s said';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
ALTER ROLE app SET search_path TO 'app', 'public';

--
-- Role memberships
--

GRANT app TO "Read Only" GRANTED BY postgres;

\unrestrict 3bzMqfAlW1xG9kYcT7dP2nHvR8sE4uJ6aLoQ0iZw

--
-- PostgreSQL database cluster dump complete
--

"#;

/// The SQL's words, without the `;` that ends a statement.
fn words(sql: &str) -> Vec<&str> {
    sql.split_whitespace()
        .map(|w| w.trim_end_matches(';'))
        .collect()
}

fn same(s: &str) -> String {
    s.to_string()
}

#[test]
fn reads_what_pg_dumpall_writes() {
    let g = parse(DUMPALL.as_bytes()).unwrap();
    let names: Vec<_> = g.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["app", "Read Only", "postgres"]);
    let app = &g.roles[0];
    assert_eq!(app.connection_limit, Some(5));
    assert_eq!(app.valid_until.as_deref(), Some("2030-01-01 00:00:00+00"));
    assert!(app.flags.contains(&"CREATEDB") && app.flags.contains(&"LOGIN"));
    assert_eq!(
        g.roles[1].comment.as_deref(),
        Some("reads\neverything, it's said")
    );
    assert_eq!(g.memberships, [("app".into(), "Read Only".into())]);
    // The superuser's privileged attributes and the role settings are named.
    let skipped = g.skipped.join("\n");
    assert!(
        skipped.contains("role postgres: SUPERUSER, REPLICATION, BYPASSRLS not restored"),
        "{skipped}"
    );
    assert!(skipped.contains("settings of role app"), "{skipped}");
}

#[test]
fn generated_sql_quotes_names_and_skips_existing_roles() {
    let g = parse(DUMPALL.as_bytes()).unwrap();
    let existing: BTreeSet<String> = ["postgres".to_string()].into();
    let sql = g.sql(&existing, &same);
    assert!(sql.contains(
        "CREATE ROLE \"app\" NOSUPERUSER INHERIT NOCREATEROLE CREATEDB LOGIN NOREPLICATION \
         NOBYPASSRLS CONNECTION LIMIT 5 VALID UNTIL '2030-01-01 00:00:00+00';"
    ));
    assert!(sql.contains("COMMENT ON ROLE \"Read Only\" IS 'reads\neverything, it''s said';"));
    assert!(sql.contains("GRANT \"app\" TO \"Read Only\";"));
    assert!(!sql.contains("CREATE ROLE \"postgres\""), "{sql}");
    assert!(!words(&sql).contains(&"SUPERUSER"), "{sql}");
    assert!(!sql.contains("search_path"));
}

#[test]
fn hostile_statements_never_reach_the_generated_sql() {
    let text = "CREATE ROLE evil;\n\
        ALTER ROLE evil WITH SUPERUSER LOGIN;\n\
        ALTER ROLE postgres WITH PASSWORD 'x';\n\
        COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned';\n\
        CREATE ROLE pg_monitor2;\n\
        CREATE ROLE \"x\\! touch /tmp/pwned\";\n\
        DROP ROLE app;\n\
        GRANT pg_read_server_files TO evil;\n\
        CREATE ROLE \"a\"\"; DROP TABLE t; --\";\n";
    let g = parse(text.as_bytes()).unwrap();
    let sql = g.sql(&BTreeSet::new(), &same);
    // Every generated statement is one of the three kinds this file makes;
    // the odd name below is a single quoted identifier, not a statement.
    assert!(
        sql.lines()
            .all(|l| l.starts_with("CREATE ROLE ") || l.starts_with("GRANT ")),
        "{sql}"
    );
    assert!(!sql.contains("PROGRAM"), "{sql}");
    assert!(!words(&sql).contains(&"SUPERUSER"), "{sql}");
    assert!(!sql.contains('\\'), "{sql}");
    assert!(!sql.contains("pg_read_server_files"), "{sql}");
    // The tricky name stays one quoted identifier.
    assert!(
        sql.contains(r#"CREATE ROLE "a""; DROP TABLE t; --";"#),
        "{sql}"
    );
    let skipped = g.skipped.join("\n");
    for why in [
        "evil: SUPERUSER not restored",
        "attributes of undeclared role \"postgres\"",
        "a statement not taken over: COPY",
        "a reserved pg_ role",
        "backslash",
        "a statement not taken over: DROP ROLE",
        "memberships of roles the file does not declare",
    ] {
        assert!(skipped.contains(why), "{why} missing from {skipped}");
    }
}

#[test]
fn text_that_cannot_be_split_is_refused_whole() {
    for (text, why) in [
        ("CREATE ROLE a;\nCREATE ROLE 'b", "unterminated quote"),
        ("CREATE ROLE a;\n\\! id\n", "line 2: a psql meta-command"),
        (
            "\\restrict k; CREATE ROLE a;\n",
            "line 1: a psql meta-command",
        ),
        ("CREATE ROLE \\! id\n;", "line 1: unexpected '\\\\'"),
        ("CREATE ROLE a", "no final ';'"),
        (
            "ALTER ROLE a WITH CONNECTION LIMIT 99999999999999999999;",
            "out of range",
        ),
    ] {
        let e = parse(text.as_bytes()).unwrap_err();
        assert!(e.message.contains(why), "{text:?}: {}", e.message);
    }
    let big = vec![b' '; MAX_GLOBALS_BYTES + 1];
    assert!(parse(&big).unwrap_err().message.contains("more than"));
    assert!(parse(b"\xff;").unwrap_err().message.contains("not UTF-8"));
}

#[test]
fn scratch_names_are_applied_everywhere() {
    let g = parse(DUMPALL.as_bytes()).unwrap();
    let sql = g.sql(&BTreeSet::new(), &|n: &str| format!("v1_{}", g.index(n)));
    assert!(sql.contains("CREATE ROLE \"v1_0\""), "{sql}");
    assert!(sql.contains("GRANT \"v1_0\" TO \"v1_1\";"), "{sql}");
    assert!(!sql.contains("\"app\""), "{sql}");
}

#[test]
fn a_repeated_attribute_keeps_its_last_word() {
    let g = parse(b"CREATE ROLE a;\nALTER ROLE a WITH LOGIN NOLOGIN INHERIT;").unwrap();
    assert_eq!(g.roles[0].flags, ["NOLOGIN", "INHERIT"]);
}

#[test]
fn negative_connection_limits_parse() {
    let g = parse(b"CREATE ROLE a;\nALTER ROLE a WITH LOGIN CONNECTION LIMIT -1;").unwrap();
    assert_eq!(g.roles[0].connection_limit, Some(-1));
}
