//! The template language's helpers: dates and money in the contract's language, `default`,
//! `upper`, and the blocks that become the signers' fields (`signature`, `initials`,
//! `date_signed`) and page breaks. Values are escaped for Markdown so they print literally.

use super::markdown::{MARK_END, MARK_START};
use chrono::{Datelike, NaiveDate};
use handlebars::{
    handlebars_helper, Context, Handlebars, Helper, HelperResult, Output, RenderContext,
    RenderErrorReason,
};
use serde_json::Value;

/// Escapes a value for Markdown: every ASCII punctuation character is backslash-escaped (so
/// `*Bob*` stays `*Bob*`), line breaks become spaces, and marker code points are dropped.
pub fn escape_markdown(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            MARK_START | MARK_END => {}
            '\n' | '\r' => out.push(' '),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

const MONTHS: [(&str, [&str; 12]); 5] = [
    (
        "en",
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
    ),
    (
        "fr",
        [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
    ),
    (
        "de",
        [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ],
    ),
    // Greek and Polish dates use the genitive ("1 Ιανουαρίου", "1 stycznia").
    (
        "el",
        [
            "Ιανουαρίου",
            "Φεβρουαρίου",
            "Μαρτίου",
            "Απριλίου",
            "Μαΐου",
            "Ιουνίου",
            "Ιουλίου",
            "Αυγούστου",
            "Σεπτεμβρίου",
            "Οκτωβρίου",
            "Νοεμβρίου",
            "Δεκεμβρίου",
        ],
    ),
    (
        "pl",
        [
            "stycznia",
            "lutego",
            "marca",
            "kwietnia",
            "maja",
            "czerwca",
            "lipca",
            "sierpnia",
            "września",
            "października",
            "listopada",
            "grudnia",
        ],
    ),
];

fn month_name(language: &str, month: u32) -> &'static str {
    let names = MONTHS
        .iter()
        .find(|(l, _)| *l == language)
        .unwrap_or(&MONTHS[0])
        .1;
    names[(month as usize).saturating_sub(1).min(11)]
}

/// Parses `YYYY-MM-DD` or an RFC 3339 timestamp.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|d| d.date_naive())
        })
}

/// Formats a date with a small pattern language: `d`, `dd`, `M`, `MM`, `MMMM`, `yy`, `yyyy`.
pub fn format_date(date: NaiveDate, pattern: &str, language: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        match (c, run) {
            ('d', 1) => out.push_str(&date.day().to_string()),
            ('d', _) => out.push_str(&format!("{:02}", date.day())),
            ('M', 1) => out.push_str(&date.month().to_string()),
            ('M', 2) => out.push_str(&format!("{:02}", date.month())),
            ('M', _) => out.push_str(month_name(language, date.month())),
            ('y', 2) => out.push_str(&format!("{:02}", date.year() % 100)),
            ('y', _) => out.push_str(&date.year().to_string()),
            _ => {
                for _ in 0..run {
                    out.push(c);
                }
            }
        }
        i += run;
    }
    out
}

/// Formats an amount of money the way a language writes it.
pub fn format_money(amount: f64, currency: &str, language: &str) -> String {
    let cents = (amount * 100.0).round() as i64;
    let negative = cents < 0;
    let cents = cents.unsigned_abs();
    let (units, fraction) = (cents / 100, cents % 100);
    let (group, decimal) = match language {
        "en" => (',', '.'),
        "de" | "el" => ('.', ','),
        _ => ('\u{202F}', ','),
    };
    let digits = units.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(digit);
    }
    let number = format!(
        "{}{grouped}{decimal}{fraction:02}",
        if negative { "-" } else { "" }
    );
    let symbol = match currency.to_ascii_uppercase().as_str() {
        "EUR" => "€".to_string(),
        "USD" => "$".to_string(),
        "GBP" => "£".to_string(),
        "PLN" => "zł".to_string(),
        other => other.to_string(),
    };
    if language == "en" && symbol.chars().count() == 1 {
        format!("{symbol}{number}")
    } else {
        format!("{number}\u{00A0}{symbol}")
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

handlebars_helper!(upper: |value: Value| value_text(&value).to_uppercase());
handlebars_helper!(default_helper: |value: Value, fallback: Value| {
    let text = value_text(&value);
    if text.trim().is_empty() { value_text(&fallback) } else { text }
});
handlebars_helper!(date_helper: |value: Value, pattern: str, language: str| {
    match parse_date(&value_text(&value)) {
        Some(date) => format_date(date, pattern, language),
        None => value_text(&value),
    }
});
handlebars_helper!(money_helper: |amount: Value, currency: str, language: str| {
    let number = match &amount {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match number {
        Some(number) => format_money(number, currency, language),
        None => value_text(&amount),
    }
});

/// `{{signature "employee" "Label"}}` and friends: a marker the Markdown converter turns into
/// a signature block with its anchor. Written unescaped (it is not record data).
fn field_helper(
    kind: &'static str,
) -> impl Fn(&Helper, &Handlebars, &Context, &mut RenderContext, &mut dyn Output) -> HelperResult
       + Send
       + Sync {
    move |h: &Helper, _: &Handlebars, _: &Context, _: &mut RenderContext, out: &mut dyn Output| {
        let role = h
            .param(0)
            .map(|p| value_text(p.value()))
            .filter(|r| {
                !r.is_empty()
                    && r.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
            .ok_or_else(|| {
                RenderErrorReason::Other(format!(
                    "{{{{{kind_name} ROLE}}}} needs a role name of letters, digits, _ or -",
                    kind_name = helper_name(kind)
                ))
            })?;
        let label = h
            .param(1)
            .map(|p| value_text(p.value()))
            .unwrap_or_default();
        let label: String = label
            .chars()
            .filter(|c| *c != MARK_START && *c != MARK_END && *c != '|')
            .collect();
        out.write(&format!(
            "\n\n{MARK_START}{kind}|{role}|{label}{MARK_END}\n\n"
        ))?;
        Ok(())
    }
}

fn helper_name(kind: &str) -> &'static str {
    match kind {
        "sig" => "signature",
        "ini" => "initials",
        _ => "date_signed",
    }
}

fn pagebreak(
    _: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    out.write(&format!("\n\n{MARK_START}pagebreak{MARK_END}\n\n"))?;
    Ok(())
}

/// A strict registry with every helper, escaping values for Markdown.
pub fn registry() -> Handlebars<'static> {
    let mut handlebars = Handlebars::new();
    handlebars.set_strict_mode(true);
    handlebars.register_escape_fn(escape_markdown);
    handlebars.register_helper("upper", Box::new(upper));
    handlebars.register_helper("default", Box::new(default_helper));
    handlebars.register_helper("date", Box::new(date_helper));
    handlebars.register_helper("money", Box::new(money_helper));
    handlebars.register_helper("signature", Box::new(field_helper("sig")));
    handlebars.register_helper("initials", Box::new(field_helper("ini")));
    handlebars.register_helper("date_signed", Box::new(field_helper("date")));
    handlebars.register_helper("pagebreak", Box::new(pagebreak));
    handlebars
}

/// The same helpers for plain-text expressions (mapping subjects, e-mails, names, conditions):
/// strict, nothing escaped.
pub fn expression_registry() -> Handlebars<'static> {
    let mut handlebars = registry();
    handlebars.register_escape_fn(handlebars::no_escape);
    handlebars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_money_by_language() {
        let date = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(format_date(date, "d MMMM yyyy", "fr"), "1 mars 2026");
        assert_eq!(format_date(date, "d MMMM yyyy", "el"), "1 Μαρτίου 2026");
        assert_eq!(format_date(date, "dd.MM.yyyy", "de"), "01.03.2026");
        assert_eq!(format_money(52000.0, "EUR", "de"), "52.000,00\u{a0}€");
        assert_eq!(format_money(1234567.891, "USD", "en"), "$1,234,567.89");
        assert_eq!(format_money(8500.5, "PLN", "pl"), "8\u{202f}500,50\u{a0}zł");
    }

    #[test]
    fn comparisons_defaults_and_case() {
        let registry = registry();
        let data = serde_json::json!({"stage": "won", "name": "ann", "middle": ""});
        let rendered = registry
            .render_template(
                "{{#if (eq stage \"won\")}}yes{{else}}no{{/if}} {{upper name}} {{default middle \"-\"}}",
                &data,
            )
            .unwrap();
        assert_eq!(rendered, "yes ANN \\-");
        assert!(
            registry.render_template("{{missing}}", &data).is_err(),
            "strict mode"
        );
    }

    #[test]
    fn values_print_literally() {
        assert_eq!(escape_markdown("*Bob* #import"), "\\*Bob\\* \\#import");
        assert_eq!(escape_markdown("a\u{E000}sig|x\u{E001}b"), "asig\\|xb");
    }
}
