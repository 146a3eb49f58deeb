//! The README's "Reliability" table lists exactly the cases of this matrix:
//! a case added or removed without the table (or the reverse) fails here.

use std::collections::BTreeSet;

/// The `#[tokio::test]` functions in this binary's files (this one aside).
fn cases() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/faults");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "drift.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut test_attr = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[tokio::test") || line == "#[test]" {
                test_attr = true;
            } else if test_attr
                && let Some(rest) = line
                    .strip_prefix("async fn ")
                    .or_else(|| line.strip_prefix("fn "))
            {
                out.insert(rest.split('(').next().unwrap().to_string());
                test_attr = false;
            }
        }
    }
    out
}

/// The first column (a `name` in backticks) of every row of the table under
/// README's "## Reliability".
fn documented() -> BTreeSet<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Reliability")
        .nth(1)
        .expect("README has a \"## Reliability\" section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| l.split('`').next().unwrap().to_string())
        .collect()
}

#[test]
fn readme_reliability_table_lists_every_fault_case() {
    let (cases, documented) = (cases(), documented());
    assert!(cases.len() >= 15, "the matrix was read: {cases:?}");
    let undocumented: Vec<_> = cases.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&cases).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "README's Reliability table and tests/faults disagree: not in the table {undocumented:?}, \
         no such case {stale:?}"
    );
}
