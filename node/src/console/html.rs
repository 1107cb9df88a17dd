//! Server-rendered HTML: escaping, the page layout, and the small pieces
//! every page shares (tier badges, select boxes, messages). Every value
//! that did not come from this file goes through [`esc`].

use crate::api::names::Named;
use crate::api::views::EntryView;
use crate::utc::rfc3339_ms;
use riskmesh_protocol::Tier;
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Carriage returns cannot travel in a server-sent event.
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes a query-string value (form-urlencoded, then HTML-escaped by the caller's `esc`).
pub(crate) fn url_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Which section of the console a page belongs to (the navigation marks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Feed,
    Publish,
    Hazardous,
    Network,
    None,
}

/// The signed-in frame of a page.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    /// This organization.
    pub org: &'a str,
    /// The session's CSRF token (for the logout form).
    pub csrf: &'a str,
}

/// A whole page. `frame` is `None` on the login page.
pub(crate) fn page(title: &str, section: Section, frame: Option<&Frame<'_>>, main: &str) -> String {
    let mut nav = String::new();
    if let Some(frame) = frame {
        let link = |s: Section, href: &str, label: &str, key: &str| {
            let current = if s == section {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<li><a href=\"{href}\"{current} accesskey=\"{key}\">{label}</a></li>")
        };
        nav = format!(
            "<nav aria-label=\"Console\"><ul>{}{}{}{}</ul>\
             <form method=\"post\" action=\"/console/logout\" class=\"logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <span class=\"org\">{}</span> <button type=\"submit\">Log out</button></form></nav>",
            link(Section::Feed, "/console/", "Feed", "f"),
            link(Section::Publish, "/console/publish", "Publish", "p"),
            link(Section::Hazardous, "/console/hazardous", "Hazardous queue", "h"),
            link(Section::Network, "/console/network", "Network", "n"),
            esc(frame.csrf),
            esc(frame.org),
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · riskmesh console</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><span class=\"brand\">riskmesh</span>{nav}</header>\
         <main id=\"main\" tabindex=\"-1\"><h1>{}</h1>{main}</main>\
         <footer>Keys: <kbd>/</kbd> search, <kbd>?</kbd> help. \
         Pages are never cached (Cache-Control: no-store).</footer>\
         <div id=\"help\" hidden role=\"dialog\" aria-label=\"Keyboard help\"><p>\
         <kbd>/</kbd> focus the search box · <kbd>j</kbd>/<kbd>k</kbd> next/previous entry in the feed · \
         <kbd>Enter</kbd> open it · <kbd>?</kbd> show or hide this help · \
         links also have access keys (f, p, h, n).</p></div></body></html>",
        esc(title),
        esc(title),
    )
}

/// The TLP badge of a tier.
pub(crate) fn tier_badge(tier: Tier) -> String {
    format!(
        "<span class=\"tier tier-{}\" title=\"tier {}\">{}</span>",
        tier.name(),
        tier.name(),
        tier.tlp()
    )
}

/// A message box: `kind` is `error` (role alert) or `ok` (role status).
pub(crate) fn message(kind: &str, text: &str) -> String {
    let role = if kind == "error" { "alert" } else { "status" };
    format!("<p class=\"msg msg-{kind}\" role=\"{role}\">{}</p>", esc(text))
}

/// A labelled `<select>` over a closed enum's names, with an empty first
/// option labelled `any`.
pub(crate) fn select_named<T: Named>(name: &str, label: &str, any: &str, selected: Option<&str>) -> String {
    let options: Vec<(String, String)> = T::all()
        .iter()
        .map(|v| (v.name().to_string(), v.name().to_string()))
        .collect();
    select(name, label, any, &options, selected)
}

/// A labelled `<select>` over `(value, label)` pairs.
pub(crate) fn select(
    name: &str,
    label: &str,
    any: &str,
    options: &[(String, String)],
    selected: Option<&str>,
) -> String {
    let mut out = format!(
        "<label for=\"f-{name}\">{}</label><select id=\"f-{name}\" name=\"{name}\">",
        esc(label)
    );
    if !any.is_empty() {
        let _ = write!(out, "<option value=\"\">{}</option>", esc(any));
    }
    for (value, text) in options {
        let sel = if selected == Some(value.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{}\"{sel}>{}</option>",
            esc(value),
            esc(text)
        );
    }
    out.push_str("</select>");
    out
}

/// A time as RFC 3339 in a `<time>` element.
pub(crate) fn time(ms: u64) -> String {
    let text = rfc3339_ms(ms);
    format!("<time datetime=\"{text}\">{text}</time>")
}

/// One row of the feed table.
pub(crate) fn feed_row(entry: &EntryView) -> String {
    let title = match (&entry.title, &entry.target) {
        (Some(title), _) => title.clone(),
        (None, Some(target)) => format!("{} of {}…", entry.kind.name(), target.get(..12).unwrap_or(target)),
        (None, None) if entry.readable => "(no title)".into(),
        (None, None) => "(not readable here)".into(),
    };
    let opt = |v: Option<&'static str>| v.unwrap_or("—");
    format!(
        "<tr data-id=\"{id}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td><a href=\"/console/entries/{id}\">{}</a></td><td>{}</td><td>{}</td></tr>",
        time(entry.timestamp_ms),
        tier_badge(entry.tier),
        entry.kind.name(),
        esc(&entry.author),
        esc(&title),
        opt(entry.category.map(|c| c.name())),
        opt(entry.severity.map(|s| s.name())),
        id = esc(&entry.id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\"\r"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(url_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
