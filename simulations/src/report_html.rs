//! `report.html`: the report as one self-contained page, built from the
//! text of `report.md` with its SVG plots inlined, so it opens anywhere
//! (a browser, an attachment) with nothing beside it.

use std::fmt::Write;

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Inline markup of one line of report.md: escaped, with `code` spans and
/// *emphasis*.
fn inline(text: &str) -> String {
    let escaped = esc(text);
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, piece) in part.split('*').enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<em>{piece}</em>");
                } else {
                    out.push_str(piece);
                }
            }
        }
    }
    out
}

/// The page for report.md's text `markdown`, titled `title`; `plot` gives
/// the SVG text of a plot file named in an image line (`![alt](file)`),
/// or `None` if it cannot be read (the page then says so).
pub fn to_html(title: &str, markdown: &str, plot: &dyn Fn(&str) -> Option<String>) -> String {
    let mut body = String::new();
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut list = false;
    let flush_table = |table: &mut Vec<Vec<String>>, body: &mut String| {
        if table.is_empty() {
            return;
        }
        body.push_str("<table>");
        for (i, row) in table.iter().enumerate() {
            let cell = if i == 0 { "th" } else { "td" };
            body.push_str("<tr>");
            for c in row {
                let _ = write!(body, "<{cell}>{}</{cell}>", inline(c));
            }
            body.push_str("</tr>");
        }
        body.push_str("</table>\n");
        table.clear();
    };
    for line in markdown.lines() {
        let line = line.trim_end();
        if let Some(row) = line.strip_prefix('|') {
            let cells: Vec<String> = row
                .trim_end_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            if !cells.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')) {
                table.push(cells);
            }
            continue;
        }
        flush_table(&mut table, &mut body);
        if let Some(item) = line.strip_prefix("- ") {
            if !list {
                body.push_str("<ul>");
                list = true;
            }
            let _ = write!(body, "<li>{}</li>", inline(item));
            continue;
        }
        if list {
            body.push_str("</ul>\n");
            list = false;
        }
        if line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix("## ") {
            let _ = writeln!(body, "<h2>{}</h2>", inline(h));
        } else if let Some(h) = line.strip_prefix("# ") {
            let _ = writeln!(body, "<h1>{}</h1>", inline(h));
        } else if let Some(image) = line.strip_prefix("![") {
            let file = image
                .split_once("](")
                .map(|(_, f)| f.trim_end_matches(')'))
                .unwrap_or("");
            match plot(file) {
                Some(svg) => {
                    let svg = svg.find("<svg").map_or(svg.as_str(), |at| &svg[at..]);
                    let _ = writeln!(
                        body,
                        "<figure>{svg}<figcaption>{}</figcaption></figure>",
                        esc(file)
                    );
                }
                None => {
                    let _ = writeln!(body, "<p>(plot {} could not be read)</p>", esc(file));
                }
            }
        } else {
            let _ = writeln!(body, "<p>{}</p>", inline(line));
        }
    }
    flush_table(&mut table, &mut body);
    if list {
        body.push_str("</ul>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>\
         body{{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:0 auto;padding:1rem 1.5rem;color:#1b1b1b}}\
         table{{border-collapse:collapse;margin:.8rem 0}}th,td{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}}\
         th{{background:#f0f0f0}}figure{{margin:1rem 0}}figure svg{{max-width:100%;height:auto}}figcaption{{color:#555}}\
         </style></head><body>\n{body}</body></html>\n",
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_headings_lists_and_plots_become_one_page() {
        let md = "# Simulation report: default\n\nSeed `2023`, *passed*.\n\n| figure | value |\n|---|---|\n\
                  | nodes | 7 <script> |\n\n- one\n- two\n\n## Plots\n\n![a.svg](a.svg)\n\n![gone.svg](gone.svg)\n";
        let svg = |f: &str| (f == "a.svg").then(|| "<?xml version=\"1.0\"?><svg id=\"a\"></svg>".to_string());
        let html = to_html("report", md, &svg);
        assert!(html.contains("<h1>Simulation report: default</h1>"));
        assert!(html.contains("<code>2023</code>, <em>passed</em>"));
        assert!(html.contains(
            "<tr><th>figure</th><th>value</th></tr><tr><td>nodes</td><td>7 &lt;script&gt;</td></tr>"
        ));
        assert!(html.contains("<ul><li>one</li><li>two</li></ul>"));
        assert!(html.contains("<figure><svg id=\"a\"></svg>"), "{html}");
        assert!(!html.contains("<?xml"));
        assert!(html.contains("(plot gone.svg could not be read)"));
        assert!(!html.contains("<script>"));
    }
}
