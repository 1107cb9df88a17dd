//! The JSON the vector files are written in: a small value type rendered
//! with stable key order, and constructors for the common shapes.

/// A JSON value whose object keys keep the order they were written in. The
/// files are rendered by hand rather than through serde_json so that their
/// bytes do not depend on which serde_json features a build enables.
pub(super) enum Json {
    Null,
    Bool(bool),
    Int(u64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n(' ', n));
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => out.push_str(&n.to_string()),
            Json::Str(s) => write_string(out, s),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Arr(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    pad(out, indent + 2);
                    item.write(out, indent + 2);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Obj(fields) => {
                out.push_str("{\n");
                for (i, (key, value)) in fields.iter().enumerate() {
                    pad(out, indent + 2);
                    write_string(out, key);
                    out.push_str(": ");
                    value.write(out, indent + 2);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

pub(super) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(super) fn hx(bytes: impl AsRef<[u8]>) -> Json {
    Json::Str(hex::encode(bytes))
}

pub(super) fn text(s: &str) -> Json {
    Json::Str(s.to_string())
}

pub(super) fn file(description: &str, header: Vec<(&'static str, Json)>, vectors: Vec<Json>) -> Json {
    let mut fields = vec![("description", text(description))];
    fields.extend(header);
    fields.push(("vectors", Json::Arr(vectors)));
    Json::Obj(fields)
}

/// One vector: name, type, description, then its inputs, then `expected`.
pub(super) fn vector(
    name: &str,
    kind: &str,
    description: &str,
    inputs: Vec<(&'static str, Json)>,
    expected: Json,
) -> Json {
    let mut fields = vec![
        ("name", text(name)),
        ("type", text(kind)),
        ("description", text(description)),
    ];
    fields.extend(inputs);
    fields.push(("expected", expected));
    Json::Obj(fields)
}

pub(super) fn accept() -> Json {
    Json::Obj(vec![("outcome", text("accept"))])
}

pub(super) fn accept_with(fields: Vec<(&'static str, Json)>) -> Json {
    let mut all = vec![("outcome", text("accept"))];
    all.extend(fields);
    Json::Obj(all)
}

pub(super) fn reject(reason: &str) -> Json {
    Json::Obj(vec![("outcome", text("reject")), ("reason", text(reason))])
}

pub(super) fn reject_detail(reason: &str, detail: &str) -> Json {
    Json::Obj(vec![
        ("outcome", text("reject")),
        ("reason", text(reason)),
        ("detail", text(detail)),
    ])
}

pub(super) fn ignore(reason: &str) -> Json {
    Json::Obj(vec![("outcome", text("ignore")), ("reason", text(reason))])
}

impl Json {
    pub(super) fn clone_json(&self) -> Json {
        match self {
            Json::Null => Json::Null,
            Json::Bool(b) => Json::Bool(*b),
            Json::Int(n) => Json::Int(*n),
            Json::Str(s) => Json::Str(s.clone()),
            Json::Arr(items) => Json::Arr(items.iter().map(Json::clone_json).collect()),
            Json::Obj(fields) => Json::Obj(fields.iter().map(|(k, v)| (*k, v.clone_json())).collect()),
        }
    }
}
