//! The words of the signer's pages and emails, in English and French.

/// Every phrase a recipient reads.
pub struct Words {
    pub lang: &'static str,
    pub sent_you: &'static str,
    pub to_sign: &'static str,
    pub to_approve: &'static str,
    pub documents: &'static str,
    pub pages: &'static str,
    pub download: &'static str,
    pub signing_as: &'static str,
    pub type_name: &'static str,
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
    pub mail_expired_body: &'static str,
    pub mail_footer: &'static str,
}

pub const EN: Words = Words {
    lang: "en",
    sent_you: "sent you",
    to_sign: "to sign",
    to_approve: "to approve",
    documents: "Documents",
    pages: "pages",
    download: "Download",
    signing_as: "Signing as",
    type_name: "Type your full name",
    or_draw: "Or draw your signature (optional)",
    clear: "Clear",
    sign: "Sign",
    approve: "Approve",
    approve_consent: "I have read the documents and approve them.",
    decline_summary: "Decline",
    decline_reason: "Why do you decline? (required)",
    decline: "Decline",
    not_sent: "This envelope has not been sent yet. You will receive an email when it is ready to sign.",
    waiting: "It is not your turn yet.",
    waiting_for: "Waiting for",
    signed: "You have signed. Thank you! You will receive the completed documents by email.",
    approved: "You have approved. Thank you!",
    declined_by_you: "You declined to sign this envelope.",
    declined: "This envelope was declined and can no longer be signed.",
    voided: "The sender voided this envelope; it can no longer be signed.",
    expired: "This envelope expired before everyone signed; it can no longer be signed.",
    completed: "Everyone has signed. This envelope is complete.",
    copy_in_progress: "You receive a copy of this envelope. You will get the completed documents once everyone has signed.",
    unknown_link: "This link is not valid",
    unknown_link_detail: "The signing link is unknown or was mistyped. Check the address in your email, or ask the sender for a new one.",
    continue_label: "Continue",
    expires: "Expires",
    problem: "Please check the form",
    mail_invitation_subject: "Please sign: {subject}",
    mail_reminder_subject: "Reminder: please sign {subject}",
    mail_completed_subject: "Completed: {subject}",
    mail_declined_subject: "Declined: {subject}",
    mail_voided_subject: "Voided: {subject}",
    mail_expired_subject: "Expired: {subject}",
    mail_open: "Open the documents",
    mail_completed_body: "Everyone has signed. You can download the documents here:",
    mail_declined_body: "This envelope was declined and will not be completed.",
    mail_voided_body: "The sender voided this envelope; nothing more needs to be done.",
    mail_expired_body: "This envelope expired before everyone signed.",
    mail_footer: "Sent with signbridge. Do not share this link: it lets anyone sign in your name.",
};

pub const FR: Words = Words {
    lang: "fr",
    sent_you: "vous a envoyé",
    to_sign: "à signer",
    to_approve: "à approuver",
    documents: "Documents",
    pages: "pages",
    download: "Télécharger",
    signing_as: "Vous signez en tant que",
    type_name: "Saisissez votre nom complet",
    or_draw: "Ou dessinez votre signature (facultatif)",
    clear: "Effacer",
    sign: "Signer",
    approve: "Approuver",
    approve_consent: "J'ai lu les documents et je les approuve.",
    decline_summary: "Refuser",
    decline_reason: "Pourquoi refusez-vous ? (obligatoire)",
    decline: "Refuser",
    not_sent: "Cette enveloppe n'a pas encore été envoyée. Vous recevrez un e-mail lorsqu'elle sera prête à signer.",
    waiting: "Ce n'est pas encore votre tour.",
    waiting_for: "En attente de",
    signed: "Vous avez signé. Merci ! Vous recevrez les documents signés par e-mail.",
    approved: "Vous avez approuvé. Merci !",
    declined_by_you: "Vous avez refusé de signer cette enveloppe.",
    declined: "Cette enveloppe a été refusée et ne peut plus être signée.",
    voided: "L'expéditeur a annulé cette enveloppe ; elle ne peut plus être signée.",
    expired: "Cette enveloppe a expiré avant que tout le monde ait signé ; elle ne peut plus être signée.",
    completed: "Tout le monde a signé. Cette enveloppe est terminée.",
    copy_in_progress: "Vous recevez une copie de cette enveloppe. Vous recevrez les documents signés lorsque tout le monde aura signé.",
    unknown_link: "Ce lien n'est pas valide",
    unknown_link_detail: "Le lien de signature est inconnu ou mal recopié. Vérifiez l'adresse dans votre e-mail ou demandez un nouveau lien à l'expéditeur.",
    continue_label: "Continuer",
    expires: "Expire le",
    problem: "Veuillez vérifier le formulaire",
    mail_invitation_subject: "Signature requise : {subject}",
    mail_reminder_subject: "Rappel : signature requise pour {subject}",
    mail_completed_subject: "Terminé : {subject}",
    mail_declined_subject: "Refusé : {subject}",
    mail_voided_subject: "Annulé : {subject}",
    mail_expired_subject: "Expiré : {subject}",
    mail_open: "Ouvrir les documents",
    mail_completed_body: "Tout le monde a signé. Vous pouvez télécharger les documents ici :",
    mail_declined_body: "Cette enveloppe a été refusée et ne sera pas finalisée.",
    mail_voided_body: "L'expéditeur a annulé cette enveloppe ; vous n'avez plus rien à faire.",
    mail_expired_body: "Cette enveloppe a expiré avant que tout le monde ait signé.",
    mail_footer: "Envoyé avec signbridge. Ne partagez pas ce lien : il permet de signer en votre nom.",
};

/// The words for a page language (`en` unless `fr`).
pub fn words(language: &str) -> &'static Words {
    match language {
        "fr" => &FR,
        _ => &EN,
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<script>\"a\"&'b'</script>"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
    }
}
