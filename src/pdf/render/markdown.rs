//! Markdown (CommonMark + GFM tables and strikethrough) → Typst markup. Every piece of text
//! becomes a Typst string literal (`#"…";`), so nothing a record holds can turn into markup.
//! Signature blocks and page breaks arrive as private-use markers from the template helpers.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Starts and ends a marker the helpers emit (private-use code points; stripped from values).
pub const MARK_START: char = '\u{E000}';
pub const MARK_END: char = '\u{E001}';

/// A Typst string literal (`"…"`) holding `text`; line breaks become spaces.
pub fn typst_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Typst string literal keeping line breaks (for code blocks).
fn typst_string_keeping_lines(text: &str) -> String {
    typst_string(&text.replace('\\', "\u{0}").replace('\n', "\u{1}"))
        .replace('\u{1}', "\\n")
        .replace('\u{0}', "\\\\")
}

/// Text in markup: a string literal ended with `;` so following markup cannot extend it.
pub fn typst_text(text: &str) -> String {
    format!("#{};", typst_string(text))
}

/// What a marker asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    PageBreak,
    /// A signature block for a role: its anchor text and a visible label.
    Field {
        kind: &'static str,
        role: String,
        label: String,
    },
}

/// The anchor text the API finds for a role's field (`sb:sig:employee`, `sb:ini:…`, `sb:date:…`).
pub fn anchor_text(kind: &str, role: &str) -> String {
    format!("sb:{kind}:{role}")
}

fn parse_marker(body: &str) -> Option<Marker> {
    if body == "pagebreak" {
        return Some(Marker::PageBreak);
    }
    let mut parts = body.splitn(3, '|');
    let kind = match parts.next()? {
        "sig" => "sig",
        "ini" => "ini",
        "date" => "date",
        _ => return None,
    };
    let role = parts.next()?.to_string();
    let label = parts.next().unwrap_or_default().to_string();
    Some(Marker::Field { kind, role, label })
}

fn marker_typst(marker: &Marker) -> String {
    match marker {
        Marker::PageBreak => "#pagebreak()\n".into(),
        Marker::Field { kind, role, label } => {
            let (space, width) = match *kind {
                "sig" => ("30pt", "7cm"),
                "ini" => ("18pt", "2.5cm"),
                _ => ("14pt", "4cm"),
            };
            format!(
                "#block(breakable: false, above: 1.6em, below: 1.2em)[#text(size: 4pt, fill: white)[{}]\\\n#v({space})#line(length: {width}, stroke: 0.6pt)#text(size: 9pt)[{}]]\n",
                typst_text(&anchor_text(kind, role)),
                typst_text(label)
            )
        }
    }
}

/// Splits text into plain runs and markers.
fn text_with_markers(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(start) = rest.find(MARK_START) {
        let (before, after) = rest.split_at(start);
        if !before.is_empty() {
            out.push_str(&typst_text(before));
        }
        let after = &after[MARK_START.len_utf8()..];
        match after.find(MARK_END) {
            Some(end) => {
                if let Some(marker) = parse_marker(&after[..end]) {
                    out.push_str(&marker_typst(&marker));
                }
                rest = &after[end + MARK_END.len_utf8()..];
            }
            None => {
                rest = after;
            }
        }
    }
    if !rest.is_empty() {
        out.push_str(&typst_text(rest));
    }
}

/// Converts Markdown to Typst markup.
pub fn markdown_to_typst(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut out = String::new();
    // Lists: whether each open list is ordered (and its start).
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut in_table_head = false;
    let mut code_block: Option<String> = None;
    for event in Parser::new_ext(markdown, options) {
        if let Some(code) = code_block.as_mut() {
            match event {
                Event::Text(text) => code.push_str(&text),
                Event::End(TagEnd::CodeBlock) => {
                    let code = code_block.take().unwrap_or_default();
                    out.push_str(&format!(
                        "#raw(block: true, {})\n\n",
                        typst_string_keeping_lines(&code)
                    ));
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(tag) => match tag {
                Tag::Paragraph => {}
                Tag::Heading { level, .. } => {
                    let level = match level {
                        HeadingLevel::H1 => 1,
                        HeadingLevel::H2 => 2,
                        HeadingLevel::H3 => 3,
                        HeadingLevel::H4 => 4,
                        HeadingLevel::H5 => 5,
                        HeadingLevel::H6 => 6,
                    };
                    out.push_str(&format!("#heading(level: {level})["));
                }
                Tag::BlockQuote(_) => out.push_str("#quote(block: true)["),
                Tag::CodeBlock(_) => code_block = Some(String::new()),
                Tag::List(start) => {
                    lists.push(start);
                    match start {
                        Some(n) => out.push_str(&format!("#enum(start: {n}, ")),
                        None => out.push_str("#list("),
                    }
                }
                Tag::Item => out.push('['),
                Tag::Emphasis => out.push_str("#emph["),
                Tag::Strong => out.push_str("#strong["),
                Tag::Strikethrough => out.push_str("#strike["),
                Tag::Link { dest_url, .. } => {
                    out.push_str(&format!("#link({})[", typst_string(&dest_url)))
                }
                Tag::Table(alignments) => {
                    let table_columns = alignments.len().max(1);
                    out.push_str(&format!(
                        "#table(columns: {table_columns}, stroke: 0.5pt + luma(160), inset: 6pt, "
                    ));
                }
                Tag::TableHead => in_table_head = true,
                Tag::TableRow => {}
                Tag::TableCell => out.push_str(if in_table_head { "[#strong[" } else { "[" }),
                _ => {}
            },
            Event::End(tag) => match tag {
                TagEnd::Paragraph => out.push_str("\n\n"),
                TagEnd::Heading(_) => out.push_str("]\n"),
                TagEnd::BlockQuote(_) => out.push_str("]\n"),
                TagEnd::List(_) => {
                    lists.pop();
                    out.push_str(")\n");
                }
                TagEnd::Item => out.push_str("], "),
                TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => {
                    out.push(']')
                }
                TagEnd::Table => out.push_str(")\n\n"),
                TagEnd::TableHead => in_table_head = false,
                TagEnd::TableCell => out.push_str(if in_table_head { "]], " } else { "], " }),
                _ => {}
            },
            Event::Text(text) => text_with_markers(&text, &mut out),
            Event::Code(code) => out.push_str(&format!("#raw({})", typst_string(&code))),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push_str("#linebreak()"),
            Event::Rule => out.push_str("#line(length: 100%, stroke: 0.5pt)\n"),
            Event::Html(html) | Event::InlineHtml(html) => text_with_markers(&html, &mut out),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_always_a_string_literal() {
        assert_eq!(typst_text(r#"a "b" \c #d"#), r#"#"a \"b\" \\c #d";"#);
        let typst = markdown_to_typst("# Title\n\nHello **world** and *you*.\n\n- one\n- two\n");
        assert!(typst.contains("#heading(level: 1)[#\"Title\";]"));
        assert!(typst.contains("#strong[#\"world\";]"));
        assert!(typst.contains("#list([#\"one\";], [#\"two\";], )"));
    }

    #[test]
    fn markers_become_blocks() {
        let typst = markdown_to_typst(&format!("{MARK_START}sig|employee|Employee{MARK_END}"));
        assert!(typst.contains("sb:sig:employee"));
        assert!(
            markdown_to_typst(&format!("{MARK_START}pagebreak{MARK_END}")).contains("#pagebreak()")
        );
    }

    #[test]
    fn tables() {
        let typst = markdown_to_typst("| A | B |\n|---|---|\n| 1 | 2 |\n");
        assert!(typst.starts_with("#table(columns: 2"), "{typst}");
        assert!(typst.contains("[#strong[#\"A\";]], "));
        assert!(typst.contains("[#\"2\";], "));
    }
}
