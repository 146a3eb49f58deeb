//! The SQL the engine sends, and quoting for the few names spliced into it
//! (names are validated before they get here; quoting is the second fence).

pub const LIST_DATABASES: &str = "SELECT datname FROM pg_database \
     WHERE NOT datistemplate AND datallowconn ORDER BY datname";

/// Ordinary and partitioned tables outside the system schemas.
pub const RELATION_COUNT: &str = "SELECT count(*) FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
       AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'";

/// Exact row count of every ordinary table (partitions count as their own
/// tables, so parents are not counted twice), as `schema.table<TAB>count`.
/// Tables an extension creates are left out, as the archive's manifest
/// leaves them out: their rows come from the extension's script as well as
/// from the dump, so no count taken from the dump can match them.
pub const ROW_COUNTS: &str = "SELECT format('%I.%I', n.nspname, c.relname) || E'\\t' || \
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', \
         n.nspname, c.relname), false, true, '')))[1]::text \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind = 'r' \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
       AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
         AND d.objid = c.oid AND d.deptype = 'e') \
     ORDER BY 1";

/// A quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A quoted string literal.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(super::ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(super::literal("it's"), "'it''s'");
    }
}
