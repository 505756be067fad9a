//! The words of the signer's pages and emails, and the consent a signer gives: one Fluent
//! catalogue per language (`assets/i18n/<lang>.ftl`: en, fr, de, es, it, el, nl), loaded once.
//! A language is chosen by an envelope's BCP-47 `locale` with fallback to its primary subtag
//! (`nl-BE` → `nl`), or by `Accept-Language` when the envelope has none.

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The languages there is a catalogue for (English first: the fallback).
pub const LANGUAGES: [&str; 7] = ["en", "fr", "de", "es", "it", "el", "nl"];

const CATALOGUES: [(&str, &str); 7] = [
    ("en", include_str!("../assets/i18n/en.ftl")),
    ("fr", include_str!("../assets/i18n/fr.ftl")),
    ("de", include_str!("../assets/i18n/de.ftl")),
    ("es", include_str!("../assets/i18n/es.ftl")),
    ("it", include_str!("../assets/i18n/it.ftl")),
    ("el", include_str!("../assets/i18n/el.ftl")),
    ("nl", include_str!("../assets/i18n/nl.ftl")),
];

/// The variables messages may use; they stay as `{name}` in the words, filled where used.
const VARIABLES: [&str; 10] = [
    "subject",
    "name",
    "n",
    "count",
    "done",
    "total",
    "destination",
    "minutes",
    "sender",
    "code",
];

/// Every phrase a recipient reads.
pub struct Words {
    pub lang: &'static str,
    pub sent_you: &'static str,
    pub to_sign: &'static str,
    pub to_approve: &'static str,
    pub documents: &'static str,
    pub page: &'static str,
    pub pages: &'static str,
    pub invites_sign: &'static str,
    pub invites_approve: &'static str,
    pub download: &'static str,
    pub signing_as: &'static str,
    pub type_name: &'static str,
    pub text_field: &'static str,
    /// Labels of the fields drawn on the page images.
    pub field_signature: &'static str,
    pub field_initials: &'static str,
    pub field_date: &'static str,
    /// A field of another signer.
    pub field_other: &'static str,
    /// A page's image, for screen readers: `{name}, page {n} of {count}`.
    pub page_of: &'static str,
    /// A page that cannot be shown as an image.
    pub page_unavailable: &'static str,
    pub checkbox_field: &'static str,
    pub or_draw: &'static str,
    pub clear: &'static str,
    pub sign: &'static str,
    pub approve: &'static str,
    pub approve_consent: &'static str,
    pub decline_summary: &'static str,
    pub decline_reason: &'static str,
    pub decline: &'static str,
    pub not_sent: &'static str,
    pub waiting: &'static str,
    pub waiting_for: &'static str,
    pub signed: &'static str,
    pub approved: &'static str,
    pub declined_by_you: &'static str,
    pub declined: &'static str,
    pub voided: &'static str,
    pub expired: &'static str,
    pub completed: &'static str,
    pub copy_in_progress: &'static str,
    pub unknown_link: &'static str,
    pub unknown_link_detail: &'static str,
    pub continue_label: &'static str,
    pub expires: &'static str,
    pub problem: &'static str,
    pub mail_invitation_subject: &'static str,
    pub mail_reminder_subject: &'static str,
    pub mail_completed_subject: &'static str,
    pub mail_declined_subject: &'static str,
    pub mail_voided_subject: &'static str,
    pub mail_expired_subject: &'static str,
    pub mail_open: &'static str,
    pub mail_completed_body: &'static str,
    pub mail_declined_body: &'static str,
    pub mail_voided_body: &'static str,
    /// Before the sender's reason, in a void notice.
    pub mail_voided_reason: &'static str,
    pub mail_expired_body: &'static str,
    pub mail_sealing_failed_subject: &'static str,
    pub mail_sealing_failed_body: &'static str,
    pub mail_footer: &'static str,
    /// What a signer agrees to (recorded with the signature).
    pub consent: &'static str,
    /// The guide from field to field: its button, its progress (`{done} of {total} done`),
    /// its name for screen readers.
    pub guide_next: &'static str,
    pub guide_progress: &'static str,
    pub guide_title: &'static str,
    /// The one-time code step (variables `{destination}`, `{minutes}`, `{sender}`, `{code}`,
    /// `{n}`) and the code's own email and text message.
    pub code_title: &'static str,
    pub code_intro_email: &'static str,
    pub code_intro_sms: &'static str,
    pub code_send: &'static str,
    pub code_sent: &'static str,
    pub code_label: &'static str,
    pub code_verify: &'static str,
    pub code_resend: &'static str,
    pub code_help: &'static str,
    pub code_wrong: &'static str,
    pub code_wait: &'static str,
    pub code_expired: &'static str,
    pub code_locked: &'static str,
    pub code_subject: &'static str,
    pub code_message: &'static str,
    pub code_failed: &'static str,
}

/// A catalogue as words: every message formatted once (variables left as `{name}`). Fails
/// naming the first message the catalogue lacks or cannot format.
pub fn load(lang: &'static str, source: &str) -> Result<Words, String> {
    let resource = FluentResource::try_new(source.to_string())
        .map_err(|(_, errors)| format!("{lang}.ftl: {errors:?}"))?;
    let id: unic_langid::LanguageIdentifier =
        lang.parse().map_err(|err| format!("{lang}: {err}"))?;
    let mut bundle = FluentBundle::new(vec![id]);
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .map_err(|errors| format!("{lang}.ftl: {errors:?}"))?;
    let mut args = FluentArgs::new();
    for name in VARIABLES {
        args.set(name, format!("{{{name}}}"));
    }
    let text = |key: &str| -> Result<&'static str, String> {
        let pattern = bundle
            .get_message(key)
            .and_then(|m| m.value())
            .ok_or_else(|| format!("{lang}.ftl has no `{key}`"))?;
        let mut errors = Vec::new();
        let value = bundle.format_pattern(pattern, Some(&args), &mut errors);
        if !errors.is_empty() {
            return Err(format!("{lang}.ftl `{key}`: {errors:?}"));
        }
        Ok(Box::leak(value.into_owned().into_boxed_str()))
    };
    Ok(Words {
        lang,
        sent_you: text("sent-you")?,
        to_sign: text("to-sign")?,
        to_approve: text("to-approve")?,
        documents: text("documents")?,
        page: text("page")?,
        pages: text("pages")?,
        invites_sign: text("invites-sign")?,
        invites_approve: text("invites-approve")?,
        download: text("download")?,
        signing_as: text("signing-as")?,
        type_name: text("type-name")?,
        text_field: text("text-field")?,
        field_signature: text("field-signature")?,
        field_initials: text("field-initials")?,
        field_date: text("field-date")?,
        field_other: text("field-other")?,
        page_of: text("page-of")?,
        page_unavailable: text("page-unavailable")?,
        checkbox_field: text("checkbox-field")?,
        or_draw: text("or-draw")?,
        clear: text("clear")?,
        sign: text("sign")?,
        approve: text("approve")?,
        approve_consent: text("approve-consent")?,
        decline_summary: text("decline-summary")?,
        decline_reason: text("decline-reason")?,
        decline: text("decline")?,
        not_sent: text("not-sent")?,
        waiting: text("waiting")?,
        waiting_for: text("waiting-for")?,
        signed: text("signed")?,
        approved: text("approved")?,
        declined_by_you: text("declined-by-you")?,
        declined: text("declined")?,
        voided: text("voided")?,
        expired: text("expired")?,
        completed: text("completed")?,
        copy_in_progress: text("copy-in-progress")?,
        unknown_link: text("unknown-link")?,
        unknown_link_detail: text("unknown-link-detail")?,
        continue_label: text("continue-label")?,
        expires: text("expires")?,
        problem: text("problem")?,
        mail_invitation_subject: text("mail-invitation-subject")?,
        mail_reminder_subject: text("mail-reminder-subject")?,
        mail_completed_subject: text("mail-completed-subject")?,
        mail_declined_subject: text("mail-declined-subject")?,
        mail_voided_subject: text("mail-voided-subject")?,
        mail_expired_subject: text("mail-expired-subject")?,
        mail_open: text("mail-open")?,
        mail_completed_body: text("mail-completed-body")?,
        mail_declined_body: text("mail-declined-body")?,
        mail_voided_body: text("mail-voided-body")?,
        mail_voided_reason: text("mail-voided-reason")?,
        mail_expired_body: text("mail-expired-body")?,
        mail_sealing_failed_subject: text("mail-sealing-failed-subject")?,
        mail_sealing_failed_body: text("mail-sealing-failed-body")?,
        mail_footer: text("mail-footer")?,
        consent: text("consent")?,
        guide_next: text("guide-next")?,
        guide_progress: text("guide-progress")?,
        guide_title: text("guide-title")?,
        code_title: text("code-title")?,
        code_intro_email: text("code-intro-email")?,
        code_intro_sms: text("code-intro-sms")?,
        code_send: text("code-send")?,
        code_sent: text("code-sent")?,
        code_label: text("code-label")?,
        code_verify: text("code-verify")?,
        code_resend: text("code-resend")?,
        code_help: text("code-help")?,
        code_wrong: text("code-wrong")?,
        code_wait: text("code-wait")?,
        code_expired: text("code-expired")?,
        code_locked: text("code-locked")?,
        code_subject: text("code-subject")?,
        code_message: text("code-message")?,
        code_failed: text("code-failed")?,
    })
}

fn catalogues() -> &'static HashMap<&'static str, Words> {
    static LOADED: OnceLock<HashMap<&'static str, Words>> = OnceLock::new();
    LOADED.get_or_init(|| {
        CATALOGUES
            .iter()
            .filter_map(|(lang, source)| match load(lang, source) {
                Ok(words) => Some((*lang, words)),
                Err(err) => {
                    // The tests load every catalogue; a broken one falls back to English.
                    tracing::error!(language = lang, error = %err, "a language catalogue is broken");
                    None
                }
            })
            .collect()
    })
}

/// The words of a language (one of [`LANGUAGES`]; English otherwise).
pub fn words(language: &str) -> &'static Words {
    let all = catalogues();
    all.get(language)
        .or_else(|| all.get("en"))
        .unwrap_or_else(|| unreachable!("the English catalogue is built in and tested"))
}

/// The language for a BCP-47 tag: itself or its primary subtag when there is a catalogue for
/// it (`nl-BE` → `nl`), else `None`.
pub fn language_of(tag: &str) -> Option<&'static str> {
    let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
    LANGUAGES.iter().copied().find(|l| *l == primary)
}

/// The first language of an `Accept-Language` header there is a catalogue for (by weight),
/// English otherwise.
pub fn from_accept_language(header: &str) -> &'static str {
    let mut ranked: Vec<(f32, usize, &str)> = header
        .split(',')
        .enumerate()
        .filter_map(|(order, part)| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let weight = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (weight > 0.0).then_some((weight, order, tag))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .iter()
        .find_map(|(_, _, tag)| language_of(tag))
        .unwrap_or("en")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_message() {
        for (lang, source) in CATALOGUES {
            let words = load(lang, source).unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(words.lang, lang);
        }
        // A catalogue without a message fails, naming it.
        let english = CATALOGUES[0].1;
        let without = english.replace("mail-open = ", "mail-opened = ");
        assert_eq!(
            load("en", &without).err().as_deref(),
            Some("en.ftl has no `mail-open`")
        );
    }

    #[test]
    fn variables_stay_for_their_users() {
        assert_eq!(
            words("de").mail_invitation_subject,
            "Bitte unterschreiben: {subject}"
        );
        assert_eq!(words("nl").page_of, "{name}, pagina {n} van {count}");
        assert_eq!(words("xx").lang, "en");
    }

    #[test]
    fn languages_by_tag_and_by_accept_language() {
        assert_eq!(language_of("nl-BE"), Some("nl"));
        assert_eq!(language_of("el"), Some("el"));
        assert_eq!(language_of("pt-BR"), None);
        assert_eq!(from_accept_language("pt-BR, es;q=0.8, en;q=0.5"), "es");
        assert_eq!(from_accept_language("de;q=0.2, it"), "it");
        assert_eq!(from_accept_language("ja"), "en");
        assert_eq!(from_accept_language(""), "en");
    }
}
