//! Checks on what clients send: text, emails, locales, URLs, tags. Each problem becomes a
//! [`FieldIssue`] naming the field (JSON path) and what is wrong with it.

use super::model::Category;
use serde::Serialize;
use utoipa::ToSchema;

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldIssue {
    /// Where, as a JSON path (`recipients[0].email`).
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl FieldIssue {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Languages the signer's pages and emails are written in.
pub const SUPPORTED_LOCALES: [&str; 7] = crate::i18n::LANGUAGES;

/// Free text: any script, emoji and RTL allowed; control characters and direction overrides
/// (which could make a name read differently from what it is) refused; at most `max_chars`.
pub fn check_text(
    field: &str,
    value: &str,
    max_chars: usize,
    multiline: bool,
) -> Result<(), FieldIssue> {
    let count = value.chars().count();
    if count > max_chars {
        return Err(FieldIssue::new(
            field,
            format!("is {count} characters long; at most {max_chars} are allowed"),
        ));
    }
    for c in value.chars() {
        let allowed_whitespace = multiline && matches!(c, '\n' | '\r' | '\t');
        if c.is_control() && !allowed_whitespace {
            return Err(FieldIssue::new(
                field,
                format!("contains the control character U+{:04X}", c as u32),
            ));
        }
        if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            return Err(FieldIssue::new(
                field,
                format!("contains the text-direction control U+{:04X}", c as u32),
            ));
        }
    }
    Ok(())
}

/// Checks a non-empty, trimmed text field and returns it trimmed.
pub fn required_text(
    field: &str,
    value: &str,
    max_chars: usize,
    issues: &mut Vec<FieldIssue>,
) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        issues.push(FieldIssue::new(field, "must not be empty"));
    } else if let Err(issue) = check_text(field, trimmed, max_chars, false) {
        issues.push(issue);
    }
    trimmed.to_string()
}

/// Validates an email address and returns it normalised (trimmed, domain lower-cased).
pub fn normalize_email(field: &str, value: &str) -> Result<String, FieldIssue> {
    let value = value.trim();
    let invalid =
        |why: &str| FieldIssue::new(field, format!("is not a valid email address: {why}"));
    if value.is_empty() {
        return Err(invalid("it is empty"));
    }
    if value.len() > 254 {
        return Err(invalid("longer than 254 characters"));
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err(invalid("it has no @"));
    };
    if local.is_empty() || local.len() > 64 {
        return Err(invalid("the part before @ must be 1 to 64 characters"));
    }
    let local_ok = local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err(invalid(
            "the part before @ has characters an address cannot have",
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    if !domain_ok {
        return Err(invalid("the domain is not a valid host name"));
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// Validates a BCP-47 tag whose language we support, returning it in canonical case (`fr-BE`).
pub fn normalize_locale(field: &str, value: &str) -> Result<String, FieldIssue> {
    let value = value.trim();
    let mut parts = value.split(['-', '_']);
    let language = parts.next().unwrap_or_default().to_ascii_lowercase();
    let region = parts.next();
    let well_formed = (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && region.is_none_or(|r| {
            (r.len() == 2 && r.bytes().all(|b| b.is_ascii_alphabetic()))
                || (r.len() == 3 && r.bytes().all(|b| b.is_ascii_digit()))
        })
        && parts.next().is_none();
    if !well_formed {
        return Err(FieldIssue::new(
            field,
            format!("`{value}` is not a BCP-47 language tag such as `fr` or `fr-BE`"),
        ));
    }
    if !SUPPORTED_LOCALES.contains(&language.as_str()) {
        return Err(FieldIssue::new(
            field,
            format!(
                "`{value}` is not a supported language; supported: {}",
                SUPPORTED_LOCALES.join(", ")
            ),
        ));
    }
    Ok(match region {
        Some(region) => format!("{language}-{}", region.to_ascii_uppercase()),
        None => language,
    })
}

/// `redirectUrl` must be an absolute https URL.
pub fn check_redirect_url(field: &str, value: &str) -> Result<String, FieldIssue> {
    let value = value.trim();
    if value.len() > 2048 {
        return Err(FieldIssue::new(field, "is longer than 2048 characters"));
    }
    match url::Url::parse(value) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() => Ok(url.to_string()),
        Ok(_) => Err(FieldIssue::new(field, "must start with https://")),
        Err(err) => Err(FieldIssue::new(field, format!("is not a valid URL: {err}"))),
    }
}

/// Tags: at most 10, each 1–40 characters, lower-cased and de-duplicated.
pub fn normalize_tags(field: &str, tags: &[String], issues: &mut Vec<FieldIssue>) -> Vec<String> {
    if tags.len() > 10 {
        issues.push(FieldIssue::new(
            field,
            format!("has {} tags; at most 10 are allowed", tags.len()),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (index, tag) in tags.iter().enumerate() {
        let path = format!("{field}[{index}]");
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() {
            issues.push(FieldIssue::new(path, "must not be empty"));
            continue;
        }
        if let Err(issue) = check_text(&path, &tag, 40, false) {
            issues.push(issue);
            continue;
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// A category from the subject's words, as the contract lets the server infer one.
pub fn infer_category(subject: &str) -> Category {
    let subject = subject.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| subject.contains(w));
    if has(&["nda", "non-disclosure", "confidential", "confidentialité"]) {
        Category::Nda
    } else if has(&[
        "employment",
        "onboarding",
        "embauche",
        "travail",
        "offer letter",
        "arbeitsvertrag",
        "hr ",
    ]) {
        Category::Hr
    } else if has(&["invoice", "facture", "rechnung"]) {
        Category::Invoice
    } else if has(&["quote", "devis", "angebot"]) {
        Category::Quote
    } else if has(&["proposal", "proposition"]) {
        Category::Proposal
    } else if has(&["agreement", "accord", "vereinbarung"]) {
        Category::Agreement
    } else if has(&["contract", "contrat", "vertrag"]) {
        Category::Contract
    } else if has(&["letter", "lettre"]) {
        Category::Letter
    } else if has(&["report", "rapport"]) {
        Category::Report
    } else {
        Category::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("e", " Marie.Dubois@Example.COM ").unwrap(),
            "Marie.Dubois@example.com"
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@b.com",
            "a@@b.com",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            "x@y.c0m",
            "😀@b.com",
            "<script>@b.com",
            "a@b.com\r\nBcc: x@y.com",
        ] {
            assert!(normalize_email("e", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn locales() {
        assert_eq!(normalize_locale("l", "fr-be").unwrap(), "fr-BE");
        assert_eq!(normalize_locale("l", "EN").unwrap(), "en");
        assert!(normalize_locale("l", "xx").is_err());
        assert!(normalize_locale("l", "fr-BE-x").is_err());
        assert!(normalize_locale("l", "' OR 1=1 --").is_err());
    }

    #[test]
    fn text_rules() {
        assert!(check_text("n", "Μαρία Δούκα 🖋 שלום", 100, false).is_ok());
        assert!(check_text("n", "a\u{202E}b", 100, false).is_err());
        assert!(check_text("n", "a\nb", 100, false).is_err());
        assert!(check_text("n", "a\nb", 100, true).is_ok());
        assert!(check_text("n", &"x".repeat(101), 100, false).is_err());
    }

    #[test]
    fn redirect_and_tags() {
        assert!(check_redirect_url("r", "https://example.com/done").is_ok());
        assert!(check_redirect_url("r", "http://example.com").is_err());
        assert!(check_redirect_url("r", "javascript:alert(1)").is_err());
        let mut issues = Vec::new();
        let tags = normalize_tags("t", &["HR".into(), "hr".into(), " Q3 ".into()], &mut issues);
        assert_eq!(tags, vec!["hr", "q3"]);
        assert!(issues.is_empty());
    }
}
