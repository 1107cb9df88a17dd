//! Just enough of Rust's lexical structure to tell code from comments and
//! string literals, so that a check neither fires on prose nor misses SQL
//! split over lines.

/// A Rust file split into code (comments removed, literals emptied) and
/// string literals.
pub(crate) struct Source {
    /// Code of each line, 1-based line `i + 1` at index `i`.
    code: Vec<String>,
    /// String literals with the line each starts on; simple escapes are
    /// decoded (`\n`, `\t`, `\r` and line continuations become spaces).
    literals: Vec<(usize, String)>,
}

impl Source {
    pub(crate) fn new(text: &str) -> Source {
        let chars: Vec<char> = text.chars().collect();
        let mut code = vec![String::new()];
        let mut literals = Vec::new();
        let mut i = 0;
        // Appends to the current line's code; a newline starts the next line.
        fn push(code: &mut Vec<String>, c: char) {
            if c == '\n' {
                code.push(String::new());
            } else if let Some(line) = code.last_mut() {
                line.push(c);
            }
        }
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if c == '/' && next == Some('/') {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            } else if c == '/' && next == Some('*') {
                let mut depth = 0usize;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if chars[i] == '\n' {
                            push(&mut code, '\n');
                        }
                        i += 1;
                    }
                }
            } else if c == '"' {
                let line = code.len();
                let mut literal = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        let escaped = chars.get(i + 1).copied().unwrap_or(' ');
                        literal.push(match escaped {
                            'n' | 't' | 'r' | '0' | '\n' => ' ',
                            other => other,
                        });
                        if escaped == '\n' {
                            push(&mut code, '\n');
                        }
                        i += 2;
                    } else {
                        if chars[i] == '\n' {
                            push(&mut code, '\n');
                        }
                        literal.push(chars[i]);
                        i += 1;
                    }
                }
                i += 1;
                push(&mut code, '"');
                push(&mut code, '"');
                literals.push((line, literal));
            } else if c == 'r' && raw_prefix(&chars, i) && raw_start(&chars, i + 1) {
                // r"…" or r#"…"#: no escapes; ends at a quote followed by as
                // many hashes as opened it.
                let mut hashes = 0;
                i += 1;
                while chars.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                i += 1;
                let line = code.len();
                let mut literal = String::new();
                while i < chars.len() {
                    if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                        i += 1 + hashes;
                        break;
                    }
                    if chars[i] == '\n' {
                        push(&mut code, '\n');
                    }
                    literal.push(chars[i]);
                    i += 1;
                }
                push(&mut code, '"');
                push(&mut code, '"');
                literals.push((line, literal));
            } else if c == '\'' {
                // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
                if next == Some('\\') {
                    i += 2;
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if chars.get(i + 2) == Some(&'\'') {
                    i += 3;
                } else {
                    push(&mut code, c);
                    i += 1;
                }
            } else {
                push(&mut code, c);
                i += 1;
            }
        }
        Source { code, literals }
    }

    /// `(line, code)` for every line, comments removed and literals emptied.
    pub(crate) fn code_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.code.iter().enumerate().map(|(i, l)| (i + 1, l.as_str()))
    }

    /// String literals with the line each starts on.
    pub(crate) fn string_literals(&self) -> &[(usize, String)] {
        &self.literals
    }
}

/// Whether the `r` at `at` starts a raw string's prefix (`r`, `br`, `cr`)
/// rather than ending an identifier.
fn raw_prefix(chars: &[char], at: usize) -> bool {
    let ident = |i: Option<usize>| {
        i.and_then(|i| chars.get(i))
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
    };
    let before = at.checked_sub(1);
    match before.map(|b| chars[b]) {
        Some('b' | 'c') => !ident(before.and_then(|b| b.checked_sub(1))),
        _ => !ident(before),
    }
}

/// Whether a raw string's hashes and opening quote start at `at`.
fn raw_start(chars: &[char], mut at: usize) -> bool {
    while chars.get(at) == Some(&'#') {
        at += 1;
    }
    chars.get(at) == Some(&'"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_literals_are_told_from_code() {
        let text = "let a = \"x // y\"; // note\n\
                    /* block\n/* nested */ still */ let b = r#\"raw \"q\" \"#;\n\
                    let c = '\"'; let d: &'static str = \"two\\nlines\";\n\
                    for r in br\"bytes\" {}\n";
        let source = Source::new(text);
        let code: Vec<_> = source.code_lines().collect();
        assert_eq!(code[0], (1, "let a = \"\"; "));
        assert_eq!(code[2], (3, " let b = \"\";"));
        assert_eq!(code[3], (4, "let c = ; let d: &'static str = \"\";"));
        assert_eq!(code[4], (5, "for r in b\"\" {}"));
        let literals: Vec<_> = source
            .string_literals()
            .iter()
            .map(|(l, s)| (*l, s.as_str()))
            .collect();
        assert_eq!(
            literals,
            [(1, "x // y"), (3, "raw \"q\" "), (4, "two lines"), (5, "bytes")]
        );
    }
}
