//! Contract PDFs from templates. A `.md.hbs` template is Markdown with handlebars
//! placeholders: handlebars (strict) fills it with the record, values escaped so they print
//! literally; the Markdown becomes Typst markup in which every text is a string literal; Typst
//! typesets it in process with the fonts shipped in the binary. A `.typ` template is Typst
//! itself and reads the record from `data.json` (never pasted into the source).

mod helpers;
mod markdown;
mod world;

pub use helpers::{escape_markdown, expression_registry, format_date, format_money};
pub use markdown::anchor_text;

use markdown::markdown_to_typst;
pub use markdown::typst_string;
use serde::Deserialize;
use typst::WorldExt;
use typst_layout::PagedDocument;
use world::ContractWorld;

/// Why a template did not render, with where (lines count from the top of the template file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct RenderError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A rendered contract.
#[derive(Debug, Clone)]
pub struct RenderedPdf {
    pub pdf: Vec<u8>,
    pub page_count: usize,
}

/// The front matter of a `.md.hbs` template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateSettings {
    /// Document title (PDF metadata).
    pub title: Option<String>,
    /// `a4` (default), `us-letter`, `a5`, …
    pub paper: String,
    /// Page margin, e.g. `2.5cm` (default) or `1in`.
    pub margin: String,
    /// `serif` (Libertinus Serif, default) or `sans` (DejaVu Sans).
    pub font: String,
    /// Font size, e.g. `11pt` (default).
    pub size: String,
    /// Language of the contract (hyphenation, quotes, "Page N of M"): en, fr, de, el, pl, …
    pub lang: String,
    pub header: Option<String>,
    pub footer: Option<String>,
    /// "Page N of M" at the bottom (default true).
    pub page_numbers: bool,
}

impl Default for TemplateSettings {
    fn default() -> Self {
        Self {
            title: None,
            paper: "a4".into(),
            margin: "2.5cm".into(),
            font: "serif".into(),
            size: "11pt".into(),
            lang: "en".into(),
            header: None,
            footer: None,
            page_numbers: true,
        }
    }
}

fn page_of(lang: &str) -> (&'static str, &'static str) {
    match lang {
        "fr" => ("Page", "sur"),
        "de" => ("Seite", "von"),
        "el" => ("Σελίδα", "από"),
        "pl" => ("Strona", "z"),
        "es" => ("Página", "de"),
        "it" => ("Pagina", "di"),
        "nl" => ("Pagina", "van"),
        _ => ("Page", "of"),
    }
}

fn is_length(text: &str) -> bool {
    let number: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    !number.is_empty() && matches!(&text[number.len()..], "cm" | "mm" | "in" | "pt")
}

/// Splits `---` front matter off; returns (settings text, body, line where the body starts).
fn split_front_matter(template: &str) -> (Option<&str>, &str, usize) {
    let Some(rest) = template
        .strip_prefix("---\n")
        .or_else(|| template.strip_prefix("---\r\n"))
    else {
        return (None, template, 1);
    };
    for (offset, _) in rest.match_indices("\n---") {
        let after = &rest[offset + 4..];
        if after.is_empty() || after.starts_with('\n') || after.starts_with("\r\n") {
            let front = &rest[..offset + 1];
            let body = after
                .trim_start_matches('\r')
                .strip_prefix('\n')
                .unwrap_or(after);
            let body_line = 1 + template[..template.len() - body.len()]
                .matches('\n')
                .count();
            return (Some(front), body, body_line);
        }
    }
    (None, template, 1)
}

fn settings_preamble(settings: &TemplateSettings, origin: &str) -> Result<String, RenderError> {
    let bad = |field: &str, message: String| RenderError {
        origin: origin.to_string(),
        line: 1,
        column: 1,
        message: format!("front matter `{field}`: {message}"),
    };
    if !settings
        .paper
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(bad(
            "paper",
            format!(
                "`{}` is not a paper size such as a4 or us-letter",
                settings.paper
            ),
        ));
    }
    if !is_length(&settings.margin) {
        return Err(bad(
            "margin",
            format!("`{}` is not a length such as 2.5cm", settings.margin),
        ));
    }
    if !is_length(&settings.size) {
        return Err(bad(
            "size",
            format!("`{}` is not a length such as 11pt", settings.size),
        ));
    }
    if !(2..=3).contains(&settings.lang.len())
        || !settings.lang.chars().all(|c| c.is_ascii_lowercase())
    {
        return Err(bad(
            "lang",
            format!(
                "`{}` is not a language code such as en or fr",
                settings.lang
            ),
        ));
    }
    let font = match settings.font.as_str() {
        "serif" => "Libertinus Serif",
        "sans" => "DejaVu Sans",
        other => return Err(bad("font", format!("`{other}` is not serif or sans"))),
    };
    let (page, of) = page_of(&settings.lang);
    let footer = match (&settings.footer, settings.page_numbers) {
        (Some(text), true) => format!(
            "context [#set text(size: 8pt); {} #h(1fr) {} #counter(page).display() {} #counter(page).final().first()]",
            markdown::typst_text(text),
            markdown::typst_text(page),
            markdown::typst_text(of)
        ),
        (Some(text), false) => format!("[#set text(size: 8pt); {}]", markdown::typst_text(text)),
        (None, true) => format!(
            "context align(center)[#set text(size: 8pt); {} #counter(page).display() {} #counter(page).final().first()]",
            markdown::typst_text(page),
            markdown::typst_text(of)
        ),
        (None, false) => "none".into(),
    };
    let header = match &settings.header {
        Some(text) => format!(
            "[#set text(size: 8pt, fill: luma(90)); {}]",
            markdown::typst_text(text)
        ),
        None => "none".into(),
    };
    let title = settings
        .title
        .as_deref()
        .map(typst_string)
        .unwrap_or_else(|| "none".into());
    Ok(format!(
        "#set document(title: {title})\n\
         #set page(paper: \"{paper}\", margin: {margin}, header: {header}, footer: {footer})\n\
         #set text(font: \"{font}\", size: {size}, lang: \"{lang}\", hyphenate: false)\n\
         #set par(justify: true, leading: 0.65em)\n\
         #set heading(numbering: none)\n\
         #show heading.where(level: 1): it => block(below: 1em, text(size: 1.4em, it.body))\n",
        paper = settings.paper,
        margin = settings.margin,
        size = settings.size,
        lang = settings.lang,
    ))
}

/// Fills placeholders in the front matter's texts (title, header, footer). These go into
/// Typst as string literals, so they are not escaped for Markdown.
fn fill_settings(
    mut settings: TemplateSettings,
    data: &serde_json::Value,
    origin: &str,
    line: usize,
) -> Result<TemplateSettings, RenderError> {
    let mut registry = helpers::registry();
    registry.register_escape_fn(handlebars::no_escape);
    for text in [
        &mut settings.title,
        &mut settings.header,
        &mut settings.footer,
    ]
    .into_iter()
    .flatten()
    {
        *text = registry
            .render_template(text, data)
            .map_err(|err| RenderError {
                origin: origin.to_string(),
                line,
                column: 1,
                message: format!("front matter: {}", err.reason()),
            })?;
    }
    Ok(settings)
}

/// Renders a template (`origin` names it in errors and tells `.typ` from `.md.hbs`) with a
/// record.
pub fn render_template(
    origin: &str,
    template: &str,
    data: &serde_json::Value,
) -> Result<RenderedPdf, RenderError> {
    render_template_on(origin, template, data, chrono::Utc::now().date_naive())
}

/// [`render_template`] as of `today` (what `today` prints): the same inputs give the same
/// bytes, which lets the sync daemon re-render after a crash and retry an upload.
pub fn render_template_on(
    origin: &str,
    template: &str,
    data: &serde_json::Value,
    today: chrono::NaiveDate,
) -> Result<RenderedPdf, RenderError> {
    let data_json = serde_json::to_vec(data).unwrap_or_default();
    if origin.ends_with(".typ") {
        return typeset(origin, template.to_string(), data_json, today, None);
    }
    let (front, body, body_line) = split_front_matter(template);
    let settings: TemplateSettings = match front {
        Some(text) => serde_saphyr::from_str(text).map_err(|err| {
            let (line, column) = err
                .location()
                .map(|l| (l.line() as usize + 1, l.column() as usize))
                .unwrap_or((2, 1));
            RenderError {
                origin: origin.to_string(),
                line,
                column,
                message: format!(
                    "front matter: {}",
                    err.to_string().lines().next().unwrap_or_default()
                ),
            }
        })?,
        None => TemplateSettings::default(),
    };
    let settings = fill_settings(settings, data, origin, front.map(|_| 2).unwrap_or(1))?;
    let preamble = settings_preamble(&settings, origin)?;
    let markdown = helpers::registry().render_template(body, data).map_err(|err| {
        let message = match err.reason() {
            handlebars::RenderErrorReason::MissingVariable(Some(name)) => {
                format!("`{name}` is not in the record (templates are strict: give it a value or use {{{{default {name} \"…\"}}}})")
            }
            handlebars::RenderErrorReason::TemplateError(template_error) => {
                let (line, column) = template_error.pos().unwrap_or((1, 1));
                return RenderError {
                    origin: origin.to_string(),
                    line: line + body_line - 1,
                    column,
                    message: format!("template syntax: {}", template_error.reason()),
                };
            }
            other => other.to_string(),
        };
        RenderError {
            origin: origin.to_string(),
            line: err.line_no.unwrap_or(1) + body_line - 1,
            column: err.column_no.unwrap_or(1),
            message,
        }
    })?;
    let source = format!("{preamble}\n{}", markdown_to_typst(&markdown));
    typeset(origin, source, data_json, today, Some(body_line))
}

/// Compiles Typst source to PDF. For generated source (`generated_from` = the template's body
/// line) errors are reported at the template's first body line.
fn typeset(
    origin: &str,
    source: String,
    data_json: Vec<u8>,
    today: chrono::NaiveDate,
    generated_from: Option<usize>,
) -> Result<RenderedPdf, RenderError> {
    typeset_in(
        origin,
        ContractWorld::new(source, data_json, today),
        generated_from,
    )
}

/// Typesets Typst source made by this program (evidence pages, stamp overlays) that reads the
/// given in-memory files, e.g. `("/signature-0.png", bytes)`.
pub fn typeset_generated(
    origin: &str,
    source: String,
    files: Vec<(String, Vec<u8>)>,
    today: chrono::NaiveDate,
) -> Result<RenderedPdf, RenderError> {
    typeset_in(
        origin,
        ContractWorld::with_files(source, files, today),
        None,
    )
}

fn typeset_in(
    origin: &str,
    world: ContractWorld,
    generated_from: Option<usize>,
) -> Result<RenderedPdf, RenderError> {
    let compiled = typst::compile::<PagedDocument>(&world).output;
    let error_at = |diagnostics: &[typst::diag::SourceDiagnostic]| {
        let first = diagnostics.first();
        let message = first
            .map(|d| d.message.to_string())
            .unwrap_or_else(|| "typesetting failed".into());
        let (line, column) = match (generated_from, first.and_then(|d| world.range(d.span))) {
            (None, Some(range)) => world
                .main_source()
                .lines()
                .byte_to_line_column(range.start)
                .map(|(l, c)| (l + 1, c + 1))
                .unwrap_or((1, 1)),
            (Some(line), _) => (line, 1),
            (None, None) => (1, 1),
        };
        RenderError {
            origin: origin.to_string(),
            line,
            column,
            message,
        }
    };
    let document = compiled.map_err(|diagnostics| error_at(diagnostics.as_slice()))?;
    let pdf = typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default())
        .map_err(|diagnostics| error_at(diagnostics.as_slice()));
    // Typst memoizes across compilations in a global cache; without eviction a long-running
    // server keeps every layout it ever made (1.6 GB after 1,000 contracts). Results unused
    // for 10 compilations go, as the typst CLI does in watch mode.
    comemo::evict(10);
    let pdf = pdf?;
    Ok(RenderedPdf {
        page_count: document.pages().len(),
        pdf,
    })
}

/// Loads fonts and the standard library ahead of the first render.
pub fn warm_up() {
    ContractWorld::warm_up();
}

/// Small PDFs for unit tests elsewhere in `pdf`.
#[cfg(test)]
pub mod tests_support {
    /// A one-page PDF saying `text`.
    pub fn simple_pdf(text: &str) -> Vec<u8> {
        super::typeset_generated(
            "test",
            format!("#set page(paper: \"a4\")\n#{}", super::typst_string(text)),
            Vec::new(),
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        )
        .unwrap()
        .pdf
    }
}
