//! The evidence documents, typeset by Typst: the signature sheet (for signers without a field),
//! the certificate page appended to the signed document, and the audit trail.

use super::render::{typeset_generated, typst_string, RenderError};
use super::stamp::{content_markup, StampContent, STAMP_PRELUDE};

/// A recipient as the certificate page lists them.
#[derive(Debug, Clone)]
pub struct CertifiedRecipient {
    pub name: String,
    pub email: String,
    pub role: String,
    pub auth_method: String,
    /// "Signed" / "Approved".
    pub action: String,
    pub at: String,
    pub ip: String,
    pub user_agent: String,
    pub signature: Option<StampContent>,
}

/// A document's fingerprints.
#[derive(Debug, Clone)]
pub struct DocumentHashes {
    pub name: String,
    pub pages: u32,
    pub sha256_before: String,
    pub sha256_after: String,
}

/// What the certificate page states.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub envelope_id: String,
    pub subject: String,
    pub sender: String,
    pub sent_at: String,
    pub completed_at: String,
    pub sealed_by: String,
    pub recipients: Vec<CertifiedRecipient>,
    pub documents: Vec<DocumentHashes>,
    pub chain_head: String,
}

/// One line of the audit trail.
#[derive(Debug, Clone)]
pub struct AuditLine {
    pub at: String,
    pub event: String,
    pub actor: String,
    pub ip: String,
    pub user_agent: String,
    pub auth_method: String,
    pub details: String,
    pub hash: String,
    pub previous_hash: String,
}

/// What the audit trail states.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    pub envelope_id: String,
    pub subject: String,
    pub status: String,
    pub generated_at: String,
    pub documents: Vec<DocumentHashes>,
    pub events: Vec<AuditLine>,
    pub chain_head: String,
}

const PREAMBLE: &str = "#set page(paper: \"a4\", margin: (x: 1.8cm, y: 1.6cm))\n\
#set text(font: \"DejaVu Sans\", size: 8.5pt)\n\
#set table(stroke: 0.4pt + luma(170), inset: 4pt)\n\
#show heading: set text(size: 13pt)\n";

fn s(text: &str) -> String {
    format!("#{}", typst_string(text))
}

fn mono(text: &str) -> String {
    format!(
        "#text(font: \"DejaVu Sans\", size: 6.5pt)[#{}]",
        typst_string(text)
    )
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn document_table(documents: &[DocumentHashes]) -> String {
    let mut out = String::from(
        "#table(columns: (auto, auto, 1fr), [*Document*], [*Pages*], [*SHA-256 before and after signing*],\n",
    );
    for document in documents {
        out.push_str(&format!(
            "[{}], [{}], [before: {} \\ after: {}],\n",
            s(&document.name),
            document.pages,
            mono(&document.sha256_before),
            mono(&document.sha256_after)
        ));
    }
    out.push_str(")\n");
    out
}

/// A page per few signers, each with their signature block (for signers who had no field).
pub fn signature_sheet(
    envelope_id: &str,
    subject: &str,
    signers: &[(String, String, StampContent)],
) -> Result<Vec<u8>, RenderError> {
    let mut files = Vec::new();
    let mut source = format!("{PREAMBLE}{STAMP_PRELUDE}");
    source.push_str(&format!(
        "= Signatures\n{} \\ Envelope {}\n#v(8pt)\n",
        s(subject),
        s(envelope_id)
    ));
    for (name, email, content) in signers {
        source.push_str(&format!(
            "#block(breakable: false, width: 100%, inset: 8pt, stroke: 0.4pt + luma(170))[*{}* · {} \\ #box(width: 220pt, height: 70pt)[{}]]\n#v(6pt)\n",
            s(name),
            s(email),
            content_markup(content, 220.0, 70.0, &mut files)
        ));
    }
    Ok(typeset_generated("signature sheet", source, files, today())?.pdf)
}

/// The certificate page (or pages, for many recipients).
pub fn certificate_page(certificate: &Certificate) -> Result<Vec<u8>, RenderError> {
    let mut files = Vec::new();
    let mut source = format!("{PREAMBLE}{STAMP_PRELUDE}");
    source.push_str(&format!(
        "= Certificate of completion\n\
         #table(columns: (auto, 1fr), [Envelope], [{}], [Subject], [{}], [Sent by], [{}], [Sent], [{}], [Completed], [{}], [Sealed by], [{}])\n\
         == Recipients\n",
        s(&certificate.envelope_id),
        s(&certificate.subject),
        s(&certificate.sender),
        s(&certificate.sent_at),
        s(&certificate.completed_at),
        s(&certificate.sealed_by),
    ));
    for recipient in &certificate.recipients {
        let signature = match &recipient.signature {
            Some(content) => format!(
                "#box(width: 150pt, height: 44pt)[{}]",
                content_markup(content, 150.0, 44.0, &mut files)
            ),
            None => String::new(),
        };
        source.push_str(&format!(
            "#block(breakable: false)[#table(columns: (auto, 1fr, auto), [*{}*], [{} · {}], table.cell(rowspan: 4)[{signature}], [{}], [{}], [Authentication], [{}], [IP address], [{}], [User agent], [{}])]\n",
            s(&recipient.name),
            s(&recipient.email),
            s(&recipient.role),
            s(&recipient.action),
            s(&recipient.at),
            s(&recipient.auth_method),
            s(&recipient.ip),
            mono(&recipient.user_agent),
        ));
    }
    source.push_str("== Documents\n");
    source.push_str(&document_table(&certificate.documents));
    source.push_str(&format!(
        "#v(6pt)\nAudit trail chain head (SHA-256 of the last event): {}\n\n\
         This document is sealed with a PAdES signature; its integrity can be checked with any PDF signature validator or with `signbridge verify`.\n",
        mono(&certificate.chain_head)
    ));
    Ok(typeset_generated("certificate page", source, files, today())?.pdf)
}

/// The audit trail document.
pub fn audit_trail(trail: &AuditTrail) -> Result<Vec<u8>, RenderError> {
    let mut source = String::from(PREAMBLE);
    source.push_str(&format!(
        "= Audit trail\n\
         #table(columns: (auto, 1fr), [Envelope], [{}], [Subject], [{}], [Status], [{}], [Generated], [{}], [Events], [{}])\n\
         == Documents\n",
        s(&trail.envelope_id),
        s(&trail.subject),
        s(&trail.status),
        s(&trail.generated_at),
        trail.events.len(),
    ));
    source.push_str(&document_table(&trail.documents));
    source.push_str("== Events\nAll times UTC. Each event carries the SHA-256 of the one before it, so a removed or altered event breaks the chain.\n\n");
    source
        .push_str("#table(columns: (auto, auto, 1fr), [*Time*], [*Event*], [*Who, where, how*],\n");
    for event in &trail.events {
        source.push_str(&format!(
            "[{}], [{}], [{} · IP {} · {} \\ {} \\ {} \\ {}],\n",
            s(&event.at),
            s(&event.event),
            s(&event.actor),
            s(&event.ip),
            s(&event.auth_method),
            mono(&event.user_agent),
            s(&event.details),
            mono(&format!(
                "hash {} ← previous {}",
                event.hash, event.previous_hash
            )),
        ));
    }
    source.push_str(")\n");
    source.push_str(&format!(
        "#v(6pt)\n*Chain head:* {}\n",
        mono(&trail.chain_head)
    ));
    Ok(typeset_generated("audit trail", source, Vec::new(), today())?.pdf)
}
