//! A tenant's globals (`pg_dumpall --globals-only`): the roles its databases'
//! objects belong to. The file is the tenant's SQL, so it is never executed:
//! it is parsed into roles, memberships and comments (anything else is
//! skipped and named), and the SQL that recreates them is generated here
//! from the parsed names, quoted. Attributes that reach outside a database
//! (SUPERUSER, REPLICATION, BYPASSRLS) are never recreated.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::sql::{ident, literal};
use crate::{Error, Result};

/// The most globals text this daemon parses (pg_dumpall writes about 200
/// bytes per role).
pub const MAX_GLOBALS_BYTES: usize = 16 << 20;

/// What the globals file declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Globals {
    pub roles: Vec<Role>,
    /// `(role, member)`: `GRANT role TO member`.
    pub memberships: Vec<(String, String)>,
    /// What was not taken over, one line each (shown to the operator).
    pub skipped: Vec<String>,
}

/// One role and the attributes that will be recreated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// Keywords such as `LOGIN`, `NOINHERIT`, `CREATEDB`, in file order.
    pub flags: Vec<&'static str>,
    pub connection_limit: Option<i64>,
    pub valid_until: Option<String>,
    /// A password verifier (only in dumps taken with role passwords).
    pub password: Option<String>,
    pub comment: Option<String>,
}

/// Attributes a restored role may carry, as pg_dumpall spells them.
const FLAGS: &[&str] = &[
    "LOGIN",
    "NOLOGIN",
    "INHERIT",
    "NOINHERIT",
    "CREATEDB",
    "NOCREATEDB",
    "CREATEROLE",
    "NOCREATEROLE",
    "NOSUPERUSER",
    "NOREPLICATION",
    "NOBYPASSRLS",
];
/// Attributes that are dropped (with a note): they reach beyond the
/// databases a tenant's backup restores.
const PRIVILEGED: &[&str] = &["SUPERUSER", "REPLICATION", "BYPASSRLS"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word, as written (keywords compare case-insensitively; a bare
    /// identifier folds to lower case).
    Word(String),
    /// A `"quoted"` identifier, unquoted.
    Quoted(String),
    /// A `'literal'`, unquoted.
    Str(String),
    Num(i64),
    Punct(char),
}

impl Token {
    fn is(&self, kw: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    /// The identifier this token names, if it is one.
    fn name(&self) -> Option<String> {
        match self {
            Token::Word(w) => Some(w.to_ascii_lowercase()),
            Token::Quoted(q) => Some(q.clone()),
            _ => None,
        }
    }
}

/// Parses the text pg_dumpall wrote.
///
/// # Errors
/// InvalidArgument when the text is too large, not UTF-8, or not SQL this
/// parser can split into statements: then nothing of it is used.
pub fn parse(text: &[u8]) -> Result<Globals> {
    if text.len() > MAX_GLOBALS_BYTES {
        return Err(Error::invalid(format!(
            "the globals are {} bytes, more than the {MAX_GLOBALS_BYTES} this daemon reads",
            text.len()
        )));
    }
    let text = std::str::from_utf8(text)
        .map_err(|e| Error::invalid(format!("the globals are not UTF-8: {e}")))?;
    let mut g = Globals::default();
    for statement in statements(text)? {
        g.take(&statement);
    }
    let declared: BTreeSet<&str> = g.roles.iter().map(|r| r.name.as_str()).collect();
    let before = g.memberships.len();
    let memberships = std::mem::take(&mut g.memberships);
    g.memberships = memberships
        .into_iter()
        .filter(|(r, m)| declared.contains(r.as_str()) && declared.contains(m.as_str()))
        .collect();
    if g.memberships.len() < before {
        g.skipped.push(format!(
            "{} memberships of roles the file does not declare",
            before - g.memberships.len()
        ));
    }
    Ok(g)
}

impl Globals {
    /// The position of a declared role (scratch names are made from it).
    pub fn index(&self, name: &str) -> usize {
        self.roles
            .iter()
            .position(|r| r.name == name)
            .unwrap_or(usize::MAX)
    }

    fn role(&mut self, name: &str) -> Option<&mut Role> {
        self.roles.iter_mut().find(|r| r.name == name)
    }

    /// Takes one statement over, or notes why not.
    fn take(&mut self, t: &[Token]) {
        let words = |n: usize| -> String {
            t.iter()
                .take(n)
                .map(|t| match t {
                    Token::Word(w) => w.to_ascii_uppercase(),
                    _ => "…".into(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        match t {
            [] => {}
            [first, ..] if first.is("SET") => {}
            [c, r, name] if c.is("CREATE") && r.is("ROLE") => match name.name() {
                Some(n) => self.declare(n),
                None => self.skipped.push("a CREATE ROLE without a name".into()),
            },
            [a, r, name, w, attrs @ ..] if a.is("ALTER") && r.is("ROLE") && w.is("WITH") => {
                self.alter(name, attrs);
            }
            [a, r, name, ..] if a.is("ALTER") && r.is("ROLE") => self.skipped.push(format!(
                "settings of role {}: role settings are not restored",
                name.name().unwrap_or_default()
            )),
            [comment, on, role_kw, name, is, Token::Str(text)]
                if comment.is("COMMENT") && on.is("ON") && role_kw.is("ROLE") && is.is("IS") =>
            {
                let declared = name.name().unwrap_or_default();
                match self.role(&declared) {
                    Some(role) if safe_text(text) => role.comment = Some(text.clone()),
                    Some(_) => self.skipped.push(format!(
                        "the comment on role {declared}: contains a backslash or a control character"
                    )),
                    None => self
                        .skipped
                        .push(format!("a comment on undeclared role {declared}")),
                }
            }
            [g, role, to, member, rest @ ..] if g.is("GRANT") && to.is("TO") => {
                match (role.name(), member.name(), grant_tail(rest)) {
                    (Some(r), Some(m), true) => self.memberships.push((r, m)),
                    _ => self
                        .skipped
                        .push(format!("a grant not understood: {}", words(2))),
                }
            }
            [c, ts, ..] if c.is("CREATE") && ts.is("TABLESPACE") => self
                .skipped
                .push("a tablespace: tablespaces are not restored".into()),
            _ => self
                .skipped
                .push(format!("a statement not taken over: {}", words(3))),
        }
    }

    fn declare(&mut self, name: String) {
        if let Err(why) = acceptable_role(&name) {
            self.skipped.push(format!("role {name:?}: {why}"));
        } else if self.role(&name).is_none() {
            self.roles.push(Role {
                name,
                ..Role::default()
            });
        }
    }

    fn alter(&mut self, name: &Token, attrs: &[Token]) {
        let n = name.name().unwrap_or_default();
        let mut dropped = Vec::new();
        let Some(role) = self.role(&n) else {
            self.skipped
                .push(format!("attributes of undeclared role {n:?}"));
            return;
        };
        let mut i = 0;
        while i < attrs.len() {
            let a = &attrs[i];
            if let Some(f) = FLAGS.iter().find(|f| a.is(f)) {
                // The last word on an attribute wins, as in Postgres; a
                // repeated one would make CREATE ROLE refuse.
                let base = |x: &str| x.trim_start_matches("NO").to_string();
                role.flags.retain(|x| base(x) != base(f));
                role.flags.push(f);
            } else if let Some(p) = PRIVILEGED.iter().find(|p| a.is(p)) {
                dropped.push(*p);
            } else if a.is("CONNECTION")
                && attrs.get(i + 1).is_some_and(|t| t.is("LIMIT"))
                && let Some(Token::Num(n)) = attrs.get(i + 2)
            {
                role.connection_limit = Some(*n);
                i += 2;
            } else if a.is("VALID")
                && attrs.get(i + 1).is_some_and(|t| t.is("UNTIL"))
                && let Some(Token::Str(s)) = attrs.get(i + 2)
                && safe_text(s)
            {
                role.valid_until = Some(s.clone());
                i += 2;
            } else if a.is("PASSWORD") {
                match attrs.get(i + 1) {
                    Some(Token::Str(s)) if safe_text(s) => role.password = Some(s.clone()),
                    Some(t) if t.is("NULL") => {}
                    _ => dropped.push("PASSWORD"),
                }
                i += 1;
            } else {
                dropped.push("an attribute not understood");
            }
            i += 1;
        }
        if !dropped.is_empty() {
            self.skipped
                .push(format!("role {n}: {} not restored", dropped.join(", ")));
        }
    }

    /// SQL that creates the roles in `missing` (those not in `existing`),
    /// sets their attributes and comments, and grants the memberships
    /// between declared roles. `rename` maps a declared name to the name
    /// created (identity for a real restore, a prefixed one in scratch).
    pub fn sql(&self, existing: &BTreeSet<String>, rename: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for r in &self.roles {
            let name = rename(&r.name);
            if existing.contains(&name) {
                continue;
            }
            let _ = write!(out, "CREATE ROLE {}", ident(&name));
            for f in &r.flags {
                let _ = write!(out, " {f}");
            }
            if let Some(n) = r.connection_limit {
                let _ = write!(out, " CONNECTION LIMIT {n}");
            }
            if let Some(v) = &r.valid_until {
                let _ = write!(out, " VALID UNTIL {}", literal(v));
            }
            if let Some(p) = &r.password {
                let _ = write!(out, " PASSWORD {}", literal(p));
            }
            out.push_str(";\n");
            if let Some(c) = &r.comment {
                let _ = writeln!(out, "COMMENT ON ROLE {} IS {};", ident(&name), literal(c));
            }
        }
        for (role, member) in &self.memberships {
            let _ = writeln!(
                out,
                "GRANT {} TO {};",
                ident(&rename(role)),
                ident(&rename(member))
            );
        }
        out
    }
}

/// `[WITH ADMIN OPTION] [GRANTED BY name]`: all a membership line may add.
fn grant_tail(rest: &[Token]) -> bool {
    let rest = match rest {
        [w, a, o, tail @ ..] if w.is("WITH") && a.is("ADMIN") && o.is("OPTION") => tail,
        _ => rest,
    };
    match rest {
        [] => true,
        [g, b, who] => g.is("GRANTED") && b.is("BY") && who.name().is_some(),
        _ => false,
    }
}

/// Role names recreated: not a reserved `pg_` role, and nothing psql could
/// read as a meta-command or a terminal could render as a control.
fn acceptable_role(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() || name.len() > 63 {
        Err("not a role name Postgres accepts")
    } else if name.starts_with("pg_") {
        Err("a reserved pg_ role")
    } else if name.chars().any(|c| c == '\\' || c.is_control()) {
        Err("contains a backslash or a control character")
    } else {
        Ok(())
    }
}

/// Literal text that goes back into generated SQL: no backslash (which psql
/// could read as a meta-command) and no control character but newlines
/// and tabs.
fn safe_text(s: &str) -> bool {
    !s.chars()
        .any(|c| c == '\\' || (c.is_control() && c != '\n' && c != '\t'))
}

/// `\restrict KEY` or `\unrestrict KEY`, KEY alphanumeric.
fn restrict_fence(line: &str) -> bool {
    let mut words = line.split_whitespace();
    matches!(words.next(), Some("\\restrict" | "\\unrestrict"))
        && words
            .next()
            .is_some_and(|k| k.chars().all(|c| c.is_ascii_alphanumeric()))
        && words.next().is_none()
}

/// Splits the text into statements of tokens.
fn statements(text: &str) -> Result<Vec<Vec<Token>>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut chars = text.char_indices().peekable();
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let unparsable = |at: usize, what: &str| {
        Error::invalid(format!(
            "the globals cannot be parsed at line {}: {what}; nothing of them is used",
            line_of(at)
        ))
    };
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '-' => {
                chars.next();
                if chars.next_if(|&(_, c)| c == '-').is_some() {
                    while chars.next_if(|&(_, c)| c != '\n').is_some() {}
                } else {
                    let n = number(&mut chars).ok_or_else(|| unparsable(at, "a lone '-'"))?;
                    current.push(Token::Num(-n));
                }
            }
            ';' => {
                chars.next();
                out.push(std::mem::take(&mut current));
            }
            // Since 15.14 pg_dumpall fences its output with `\restrict KEY`
            // … `\unrestrict KEY`, psql meta-commands that only guard a
            // replay by psql. They carry nothing to recreate; any other
            // meta-command refuses the text.
            '\\' if current.is_empty() => {
                let line: String = std::iter::from_fn(|| chars.next_if(|&(_, c)| c != '\n'))
                    .map(|(_, c)| c)
                    .collect();
                if !restrict_fence(&line) {
                    return Err(unparsable(at, "a psql meta-command"));
                }
            }
            ',' | '=' | '(' | ')' => {
                chars.next();
                current.push(Token::Punct(c));
            }
            '\'' | '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some((_, q)) if q == c => {
                            if chars.next_if(|&(_, n)| n == c).is_some() {
                                s.push(c);
                            } else {
                                break;
                            }
                        }
                        Some((_, ch)) => s.push(ch),
                        None => return Err(unparsable(at, "an unterminated quote")),
                    }
                }
                current.push(if c == '"' {
                    Token::Quoted(s)
                } else {
                    Token::Str(s)
                });
            }
            c if c.is_ascii_digit() => {
                let n =
                    number(&mut chars).ok_or_else(|| unparsable(at, "a number out of range"))?;
                current.push(Token::Num(n));
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut s = String::new();
                while let Some((_, d)) =
                    chars.next_if(|&(_, d)| d.is_alphanumeric() || d == '_' || d == '$')
                {
                    s.push(d);
                }
                current.push(Token::Word(s));
            }
            other => return Err(unparsable(at, &format!("unexpected {other:?}"))),
        }
    }
    if !current.is_empty() {
        return Err(Error::invalid(
            "the globals end inside a statement (no final ';'); nothing of them is used",
        ));
    }
    Ok(out)
}

/// The digits at the cursor as a number (`None`: no digits, or too large).
fn number(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<i64> {
    let mut s = String::new();
    while let Some((_, d)) = chars.next_if(|&(_, d)| d.is_ascii_digit()) {
        s.push(d);
    }
    s.parse().ok()
}

#[cfg(test)]
#[path = "globals_tests.rs"]
mod tests;
