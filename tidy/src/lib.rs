//! The workspace's architecture invariants as checks over file contents.
//!
//! Each check is a pure function from a file's path and text (or from
//! `cargo tree`'s output) to the violations it finds, so each has a unit
//! test that plants a violation and sees it reported. `tests/tidy.rs` reads
//! the real files and fails on any violation. The invariants themselves are
//! explained in `ARCHITECTURE.md`; this crate only keeps them true.

#![deny(missing_docs)]

mod lexer;

use lexer::Source;
use std::fmt;

/// One broken invariant: where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path relative to the workspace root.
    pub file: String,
    /// 1-based line, or 0 when the violation is about the file as a whole.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

fn violation(file: &str, line: usize, message: String) -> Violation {
    Violation {
        file: file.to_string(),
        line,
        message,
    }
}

/// Crates the protocol may not depend on, even indirectly: async runtimes,
/// networking, SQLite, OS randomness and files. Names ending in `*` match
/// every crate with that prefix; the others match exactly (so `rand_core`,
/// the trait crate the dalek crates declare, is allowed and `rand` is not).
pub const PROTOCOL_DENIED_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "futures*",
    "mio",
    "libp2p*",
    "rusqlite",
    "libsqlite3-sys",
    "getrandom",
    "rand",
    "reqwest",
    "hyper",
    "axum",
    "tempfile",
];

/// Text the protocol's code may not contain: files, sockets, clocks, OS
/// randomness, threads and the async runtime.
pub const PROTOCOL_DENIED_CODE: &[&str] = &[
    "std::fs",
    "std::net",
    "SystemTime",
    "Instant::now",
    "thread_rng",
    "OsRng",
    "std::thread",
    "tokio",
];

/// Invariant 1a: the protocol's normal dependency tree. `tree` is the
/// output of `cargo tree -p riskmesh-protocol -e normal --prefix none`.
pub fn protocol_dependencies(tree: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    for line in tree.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let denied = PROTOCOL_DENIED_CRATES.iter().any(|d| match d.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *d,
        });
        if denied && !found.contains(&name) {
            found.push(name);
        }
    }
    found
        .into_iter()
        .map(|name| {
            violation(
                "protocol/Cargo.toml",
                0,
                format!(
                    "riskmesh-protocol depends on `{name}` (see `cargo tree -p riskmesh-protocol -e normal -i \
                     {name}`): the protocol is pure, with no I/O, async runtime or OS randomness; move the code \
                     that needs it to the node and pass its result in as an argument"
                ),
            )
        })
        .collect()
}

/// Invariant 1b: the protocol's code does no I/O, reads no clock and draws
/// no OS randomness. `path` is a file under `protocol/src/`.
pub fn protocol_code(path: &str, text: &str) -> Vec<Violation> {
    let source = Source::new(text);
    let mut out = Vec::new();
    for (line, code) in source.code_lines() {
        for denied in PROTOCOL_DENIED_CODE {
            if code.contains(denied) {
                out.push(violation(
                    path,
                    line,
                    format!(
                        "`{denied}` in the protocol crate: it is pure (no files, sockets, clocks, threads or OS \
                         randomness); take time as `now_ms` and randomness as seeds or salts from the caller"
                    ),
                ));
            }
        }
    }
    out
}

/// SQL statements recognized in string literals, as sequences of upper-case
/// keywords (the second one anywhere after the first).
const SQL_STATEMENTS: &[(&str, Option<&str>)] = &[
    ("SELECT", Some("FROM")),
    ("INSERT", Some("INTO")),
    ("UPDATE", Some("SET")),
    ("DELETE", Some("FROM")),
    ("CREATE", Some("TABLE")),
    ("PRAGMA", None),
];

fn sql_statement(literal: &str) -> Option<&'static str> {
    let words: Vec<&str> = literal
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    SQL_STATEMENTS.iter().find_map(|(first, second)| {
        let at = words.iter().position(|w| w == first)?;
        match second {
            None => Some(*first),
            Some(second) => words[at + 1..].contains(second).then_some(*first),
        }
    })
}

/// Invariant 2: SQL is written only in `node/src/store/`. `path` is a Rust
/// file outside it; string literals holding SQL statements and uses of
/// `rusqlite::` are reported.
pub fn sql_outside_store(path: &str, text: &str) -> Vec<Violation> {
    let source = Source::new(text);
    let mut out = Vec::new();
    for (line, literal) in source.string_literals() {
        if let Some(statement) = sql_statement(literal) {
            out.push(violation(
                path,
                *line,
                format!(
                    "a {statement} statement outside node/src/store/: SQL is written only in the store; add a \
                     typed method to `Store` and call it"
                ),
            ));
        }
    }
    for (line, code) in source.code_lines() {
        if code.contains("rusqlite::") {
            out.push(violation(
                path,
                line,
                "`rusqlite::` outside node/src/store/: only the store touches SQLite; add a typed method to \
                 `Store` (and a variant to `StoreError` if needed)"
                    .to_string(),
            ));
        }
    }
    out
}

/// Constructors of channels with no capacity.
pub const UNBOUNDED_CONSTRUCTORS: &[&str] = &[
    "unbounded_channel",
    "mpsc::unbounded",
    "std::sync::mpsc::channel(",
    // std's `channel` takes no capacity; tokio's always does.
    "mpsc::channel()",
    "crossbeam_channel::unbounded",
];

/// The marker a `VecDeque` needs on its line or the line above it.
pub const BOUNDED_MARKER: &str = "// bounded:";

/// Invariant 3: every channel and queue in the node has a named capacity.
/// `path` is a file under `node/src/`. Unbounded channel constructors are
/// reported, and so is every `VecDeque` (outside `use` declarations) whose
/// line or the line above it lacks a `// bounded:` comment naming what
/// bounds it.
pub fn unbounded_queues(path: &str, text: &str) -> Vec<Violation> {
    let source = Source::new(text);
    let raw: Vec<&str> = text.lines().collect();
    let marked = |line: usize| {
        let on = |l: usize| l >= 1 && raw.get(l - 1).is_some_and(|t| t.contains(BOUNDED_MARKER));
        on(line) || on(line - 1)
    };
    let mut out = Vec::new();
    let mut in_use = false;
    for (line, code) in source.code_lines() {
        let trimmed = code.trim_start();
        let starts_use = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .any(|p| trimmed.starts_with(p));
        if starts_use {
            in_use = true;
        }
        let is_use = in_use;
        if in_use && code.contains(';') {
            in_use = false;
        }
        // One report per line: `mpsc::unbounded_channel` matches two names.
        if let Some(constructor) = UNBOUNDED_CONSTRUCTORS.iter().find(|c| code.contains(*c)) {
            {
                out.push(violation(
                    path,
                    line,
                    format!(
                        "`{constructor}` makes an unbounded channel: give it a named capacity \
                         (`tokio::sync::mpsc::channel(CAP)`, `std::sync::mpsc::sync_channel(CAP)`) and turn a \
                         full queue into a refusal with `try_send`"
                    ),
                ));
            }
        }
        if !is_use && code.contains("VecDeque") && !marked(line) {
            out.push(violation(
                path,
                line,
                format!(
                    "a `VecDeque` with no stated bound: cap it with a named constant and say so in a \
                     `{BOUNDED_MARKER} …` comment on this line or the line above"
                ),
            ));
        }
    }
    out
}

/// Invariant 4: every `pub const` of `protocol/src/limits.rs` is restated
/// in `spec/protocol.md`. `limits` and `spec` are the two files' texts.
pub fn limits_in_spec(limits: &str, spec: &str) -> Vec<Violation> {
    let source = Source::new(limits);
    let mut out = Vec::new();
    for (line, code) in source.code_lines() {
        let Some(rest) = code.trim_start().strip_prefix("pub const ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || mentions(spec, &name) {
            continue;
        }
        out.push(violation(
            "protocol/src/limits.rs",
            line,
            format!(
                "`{name}` is not mentioned in spec/protocol.md: every bound is restated in the spec; add it \
                 (by name, with its value) where the spec describes what it bounds"
            ),
        ));
    }
    out
}

/// Whether `text` contains `name` as a whole identifier.
fn mentions(text: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back().is_none_or(|c| !ident(c));
        let after = text[at + name.len()..].chars().next().is_none_or(|c| !ident(c));
        before && after
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(found: &[Violation]) -> Vec<usize> {
        found.iter().map(|v| v.line).collect()
    }

    #[test]
    fn a_denied_dependency_of_the_protocol_is_reported() {
        let tree = "riskmesh-protocol v0.1.0 (/w/protocol)\n\
                    minicbor v2.1.0\n\
                    rand_core v0.9.3\n\
                    futures-util v0.3.31\n\
                    rand v0.9.2\n\
                    rand v0.9.2 (*)\n";
        let found = protocol_dependencies(tree);
        let names: Vec<_> = found
            .iter()
            .map(|v| v.message.split('`').nth(1).unwrap_or(""))
            .collect();
        assert_eq!(names, ["futures-util", "rand"]);
        assert!(
            found[0]
                .to_string()
                .starts_with("protocol/Cargo.toml: riskmesh-protocol depends on")
        );
        assert!(protocol_dependencies("riskmesh-protocol v0.1.0\nrand_core v0.9.3\n").is_empty());
    }

    #[test]
    fn io_clocks_and_os_randomness_in_the_protocol_are_reported() {
        let text = "//! Reads no clock: never `SystemTime::now()` here.\n\
                    use std::fs;\n\
                    fn now() -> u64 { std::time::SystemTime::now(); 0 }\n\
                    const S: &str = \"tokio in a string is text\";\n";
        let found = protocol_code("protocol/src/x.rs", text);
        assert_eq!(lines(&found), [2, 3]);
        assert!(
            found[1]
                .to_string()
                .starts_with("protocol/src/x.rs:3: `SystemTime`")
        );
    }

    #[test]
    fn sql_outside_the_store_is_reported() {
        let text = "fn f(c: &rusqlite::Connection) {\n\
                    // SELECT id FROM entries, in a comment, is fine\n\
                    let q = \"SELECT id\n FROM entries\";\n\
                    let r = r#\"INSERT INTO t VALUES (1)\"#;\n\
                    let p = \"PRAGMA user_version\";\n\
                    let m = \"select the entry from the list\";\n\
                    let u = \"UPDATE the roster first\";\n\
                    }\n";
        let found = sql_outside_store("node/src/api/x.rs", text);
        // The SELECT spans lines 3 and 4, so the INSERT is on line 5.
        assert_eq!(lines(&found), [3, 5, 6, 1]);
        assert!(
            found[0]
                .to_string()
                .starts_with("node/src/api/x.rs:3: a SELECT statement")
        );
        assert!(found[3].message.contains("rusqlite::"));
    }

    #[test]
    fn unbounded_channels_and_unmarked_queues_are_reported() {
        let text = "use std::collections::VecDeque;\n\
                    use std::collections::{\n    HashMap,\n    VecDeque,\n};\n\
                    fn f() {\n\
                    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<u8>();\n\
                    let (tx, rx) = std::sync::mpsc::channel();\n\
                    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);\n\
                    let a: VecDeque<u8> = VecDeque::new();\n\
                    // bounded: at most PAGE entries, one page\n\
                    let b: VecDeque<u8> = VecDeque::new();\n\
                    let c: VecDeque<u8> = VecDeque::with_capacity(8); // bounded: 8, pushes check len\n\
                    // VecDeque in a comment is not a queue\n\
                    }\n";
        let found = unbounded_queues("node/src/x.rs", text);
        assert_eq!(lines(&found), [7, 8, 10]);
        assert!(
            found[2]
                .to_string()
                .starts_with("node/src/x.rs:10: a `VecDeque` with no stated bound")
        );
    }

    #[test]
    fn a_limit_missing_from_the_spec_is_reported() {
        let limits = "//! Bounds.\n\
                      /// Max body.\n\
                      pub const MAX_BODY_BYTES: usize = 1;\n\
                      /// Max thing.\n\
                      pub const MAX_THING: usize = 2;\n\
                      const PRIVATE: usize = 3;\n";
        let spec = "Bodies are at most `MAX_BODY_BYTES`; MAX_THINGS is another bound.";
        let found = limits_in_spec(limits, spec);
        assert_eq!(lines(&found), [5]);
        assert!(
            found[0]
                .to_string()
                .starts_with("protocol/src/limits.rs:5: `MAX_THING` is not mentioned")
        );
    }
}
