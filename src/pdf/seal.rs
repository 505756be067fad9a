//! The PAdES seal: a PAdES baseline B-B signature (`/SubFilter /ETSI.CAdES.detached`, SHA-256,
//! signing-certificate-v2; B-T with a time-stamp authority) over the whole PDF, added as an
//! incremental update with an invisible signature field — and checking one again.

use super::cms::{self, SealCheck, Timestamper};
use super::identity::SealIdentity;
use super::incremental::Update;
use super::PdfError;
use chrono::{DateTime, Utc};
use lopdf::{dictionary, Dictionary, Object};
use sha2::{Digest, Sha256};

/// What the seal says about itself.
#[derive(Debug, Clone)]
pub struct SealRequest<'a> {
    pub identity: &'a SealIdentity,
    /// The signature field's name (unique in the document).
    pub field_name: String,
    pub reason: String,
    pub location: Option<String>,
    pub contact: Option<String>,
    pub at: DateTime<Utc>,
}

/// A PDF text string: ASCII as is, anything else as UTF-16BE with a byte-order mark.
pub fn text_string(text: &str) -> Object {
    if text.is_ascii() {
        Object::string_literal(text)
    } else {
        let mut bytes = vec![0xfe, 0xff];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        Object::String(bytes, lopdf::StringFormat::Hexadecimal)
    }
}

/// A PDF date string.
pub fn pdf_date(at: DateTime<Utc>) -> String {
    at.format("D:%Y%m%d%H%M%S+00'00'").to_string()
}

const BYTE_RANGE_PLACEHOLDER: &str = "[0 0000000000 0000000000 0000000000]";

/// Seals `pdf`: returns the sealed file (the input is an untouched prefix of it).
pub fn seal_pdf(
    pdf: &[u8],
    request: &SealRequest<'_>,
    timestamper: Option<Timestamper<'_>>,
) -> Result<Vec<u8>, PdfError> {
    let mut update = Update::new(pdf)?;
    let signature_id = update.reserve();
    let field_id = update.reserve();
    let first_page = *update.page_ids().first().ok_or(PdfError::NoPages)?;

    let mut field_name = request.field_name.clone();
    let existing_names = existing_field_names(&update);
    let mut counter = 2;
    while existing_names.contains(&field_name) {
        field_name = format!("{}-{counter}", request.field_name);
        counter += 1;
    }
    update.set(
        field_id,
        Object::Dictionary(dictionary! {
            "Type" => "Annot",
            "Subtype" => "Widget",
            "FT" => "Sig",
            "T" => text_string(&field_name),
            "V" => Object::Reference(signature_id),
            "Rect" => vec![0.into(), 0.into(), 0.into(), 0.into()],
            "F" => 132,
            "P" => Object::Reference(first_page),
        }),
    );
    let mut page = update.dictionary(first_page)?;
    let mut annotations = match page.get(b"Annots").map(|a| update.resolve(a)) {
        Ok(Object::Array(items)) => items,
        _ => Vec::new(),
    };
    annotations.push(Object::Reference(field_id));
    page.set("Annots", annotations);
    update.set(first_page, Object::Dictionary(page));
    add_to_acroform(&mut update, field_id)?;

    let certificates: usize = request.identity.chain().iter().map(Vec::len).sum();
    let reserved = certificates + 2_500 + if timestamper.is_some() { 12_000 } else { 0 };
    let mut body = format!(
        "<</Type/Sig/Filter/Adobe.PPKLite/SubFilter/ETSI.CAdES.detached/M({})",
        pdf_date(request.at)
    )
    .into_bytes();
    let mut extras = Dictionary::new();
    extras.set(
        "Name",
        text_string(&request.identity.certificate().common_name()),
    );
    extras.set("Reason", text_string(&request.reason));
    if let Some(location) = &request.location {
        extras.set("Location", text_string(location));
    }
    if let Some(contact) = &request.contact {
        extras.set("ContactInfo", text_string(contact));
    }
    for (key, value) in extras.iter() {
        body.push(b'/');
        body.extend_from_slice(key);
        body.push(b' ');
        lopdf::Writer::write_object(&mut body, value)
            .map_err(|err| PdfError::Corrupt(err.to_string()))?;
    }
    body.extend_from_slice(b"/ByteRange");
    body.extend_from_slice(BYTE_RANGE_PLACEHOLDER.as_bytes());
    body.extend_from_slice(b"/Contents<");
    body.extend(std::iter::repeat_n(b'0', reserved * 2));
    body.extend_from_slice(b">>>");
    update.set_raw(signature_id, body);

    let (mut bytes, offsets) = update.write()?;
    let start = offsets[&signature_id];
    let find = |needle: &[u8]| {
        memchr::memmem::find(&bytes[start..], needle)
            .map(|at| at + start)
            .ok_or_else(|| PdfError::Corrupt("the signature placeholder went missing".into()))
    };
    let range_at = find(b"/ByteRange[")? + b"/ByteRange".len();
    let contents_start = find(b"/Contents<")? + b"/Contents".len();
    let contents_end = contents_start + reserved * 2 + 2;
    let after = bytes.len() - contents_end;
    let ranges = format!("[0 {contents_start} {contents_end} {after}");
    let padded = format!("{ranges:<width$}", width = BYTE_RANGE_PLACEHOLDER.len() - 1);
    bytes[range_at..range_at + padded.len()].copy_from_slice(padded.as_bytes());

    let mut hasher = Sha256::new();
    hasher.update(&bytes[..contents_start]);
    hasher.update(&bytes[contents_end..]);
    let digest: [u8; 32] = hasher.finalize().into();
    let signed = cms::signed_data(request.identity, &digest, timestamper)
        .map_err(|err| PdfError::Seal(err.to_string()))?;
    if signed.len() > reserved {
        return Err(PdfError::Seal(format!(
            "the signature ({} bytes) does not fit the {reserved} bytes reserved",
            signed.len()
        )));
    }
    let hex = hex::encode_upper(&signed);
    bytes[contents_start + 1..contents_start + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    Ok(bytes)
}

fn existing_field_names(update: &Update) -> Vec<String> {
    let Ok(root) = update.root_id() else {
        return Vec::new();
    };
    let Ok(catalog) = update.dictionary(root) else {
        return Vec::new();
    };
    let Ok(form) = catalog.get(b"AcroForm") else {
        return Vec::new();
    };
    let Object::Dictionary(form) = update.resolve(form) else {
        return Vec::new();
    };
    let Ok(fields) = form.get(b"Fields") else {
        return Vec::new();
    };
    let Object::Array(fields) = update.resolve(fields) else {
        return Vec::new();
    };
    fields
        .iter()
        .filter_map(|field| match update.resolve(field) {
            Object::Dictionary(d) => d
                .get(b"T")
                .ok()
                .and_then(|t| t.as_str().ok())
                .map(|t| String::from_utf8_lossy(t).into_owned()),
            _ => None,
        })
        .collect()
}

/// Registers the signature field in the document's interactive form, creating the form when
/// there is none, and sets `/SigFlags 3`.
fn add_to_acroform(update: &mut Update, field_id: lopdf::ObjectId) -> Result<(), PdfError> {
    let root = update.root_id()?;
    let mut catalog = update.dictionary(root)?;
    let (form_id, mut form) = match catalog.get(b"AcroForm") {
        Ok(Object::Reference(id)) => (Some(*id), update.dictionary(*id)?),
        Ok(Object::Dictionary(form)) => (None, form.clone()),
        _ => (None, Dictionary::new()),
    };
    let mut fields = match form.get(b"Fields").map(|f| update.resolve(f)) {
        Ok(Object::Array(items)) => items,
        _ => Vec::new(),
    };
    fields.push(Object::Reference(field_id));
    form.set("Fields", fields);
    form.set("SigFlags", 3);
    match form_id {
        Some(id) => update.set(id, Object::Dictionary(form)),
        None => {
            catalog.set("AcroForm", Object::Dictionary(form));
            update.set(root, Object::Dictionary(catalog));
        }
    }
    Ok(())
}

/// One signature found in a PDF, checked.
#[derive(Debug, Clone)]
pub struct SignatureReport {
    /// The byte ranges are well formed and inside the file.
    pub ranges_valid: bool,
    /// The signed ranges end at the end of the file (nothing was appended after it).
    pub covers_whole_file: bool,
    /// Bytes the signature covers (all but its own /Contents).
    pub signed_bytes: usize,
    pub check: Option<SealCheck>,
    /// Why the CMS could not be read, when it could not.
    pub error: Option<String>,
    /// `/M` of the signature dictionary, as written.
    pub claimed_time: Option<String>,
}

impl SignatureReport {
    /// The signed bytes are exactly what was signed and the signature is the signer's.
    pub fn intact(&self) -> bool {
        self.ranges_valid
            && self.check.as_ref().is_some_and(|c| {
                c.digest_matches && c.signature_valid && c.signing_certificate_bound
            })
    }
}

fn parse_numbers(text: &[u8]) -> Option<Vec<usize>> {
    let text = std::str::from_utf8(text).ok()?;
    let numbers: Option<Vec<usize>> = text.split_whitespace().map(|n| n.parse().ok()).collect();
    numbers
}

/// Finds and checks every signature in `pdf` (by its `/ByteRange`, so a file that no longer
/// parses is still checked).
pub fn verify_pdf(pdf: &[u8]) -> Vec<SignatureReport> {
    let mut reports = Vec::new();
    for at in memchr::memmem::find_iter(pdf, b"/ByteRange") {
        let rest = &pdf[at + b"/ByteRange".len()..];
        let Some(open) = rest.iter().position(|b| !b.is_ascii_whitespace()) else {
            continue;
        };
        if rest[open] != b'[' {
            continue;
        }
        let Some(close) = rest[open..].iter().position(|b| *b == b']') else {
            continue;
        };
        let Some(numbers) = parse_numbers(&rest[open + 1..open + close]) else {
            continue;
        };
        let claimed_time = {
            let window = &pdf[at.saturating_sub(400)..(at + 400).min(pdf.len())];
            memchr::memmem::find(window, b"/M(").and_then(|m| {
                let tail = &window[m + 3..];
                tail.iter()
                    .position(|b| *b == b')')
                    .map(|end| String::from_utf8_lossy(&tail[..end]).into_owned())
            })
        };
        let mut report = SignatureReport {
            ranges_valid: false,
            covers_whole_file: false,
            signed_bytes: 0,
            check: None,
            error: None,
            claimed_time,
        };
        let [a, b, c, d] = numbers[..] else {
            report.error = Some("the /ByteRange does not have four numbers".into());
            reports.push(report);
            continue;
        };
        let ends = c.checked_add(d);
        if a != 0 || b >= c || ends.is_none_or(|end| end > pdf.len()) || b < 1 {
            report.error = Some("the /ByteRange points outside the file".into());
            reports.push(report);
            continue;
        }
        report.ranges_valid = pdf[b] == b'<' && pdf[c - 1] == b'>';
        report.covers_whole_file = ends == Some(pdf.len());
        report.signed_bytes = b + d;
        let mut hasher = Sha256::new();
        hasher.update(&pdf[..b]);
        hasher.update(&pdf[c..c + d]);
        let digest: [u8; 32] = hasher.finalize().into();
        let hex: Vec<u8> = pdf[b + 1..c - 1]
            .iter()
            .copied()
            .filter(|x| !x.is_ascii_whitespace())
            .collect();
        match hex::decode(&hex) {
            Err(_) => report.error = Some("the signature value is not hexadecimal".into()),
            Ok(signed) => match cms::check_signed_data(&signed, &digest) {
                Ok(check) => report.check = Some(check),
                Err(err) => report.error = Some(err.to_string()),
            },
        }
        reports.push(report);
    }
    reports
}

/// A report for people on the signatures of a PDF, and whether it is good: every signature
/// intact, the last one covering the whole file, and — when trust roots were given (`trusting`)
/// — each chaining to one of `roots` (DER).
pub fn describe(reports: &[SignatureReport], roots: &[Vec<u8>], trusting: bool) -> (String, bool) {
    use std::fmt::Write as _;
    let mut out = String::new();
    if reports.is_empty() {
        out.push_str("no signature found: this PDF is not sealed\n");
        return (out, false);
    }
    let mut ok = true;
    let total = reports.len();
    for (index, report) in reports.iter().enumerate() {
        let _ = writeln!(out, "Signature {} of {total}:", index + 1);
        let intact = report.intact();
        ok &= intact;
        match &report.check {
            Some(check) => {
                let _ = writeln!(out, "  signed by:   {}", check.signer_subject);
                let _ = writeln!(out, "  issued by:   {}", check.issuer_subject);
                if let Some(time) = &report.claimed_time {
                    let _ = writeln!(out, "  signed at:   {time} (claimed by the signer)");
                }
                match (check.timestamp, check.timestamp_matches) {
                    (Some(at), Some(true)) => {
                        let _ = writeln!(
                            out,
                            "  time-stamp:  {} (RFC 3161, matches the signature)",
                            at.format("%Y-%m-%d %H:%M:%S UTC")
                        );
                    }
                    (_, Some(false)) => {
                        ok = false;
                        let _ = writeln!(out, "  time-stamp:  DOES NOT MATCH the signature");
                    }
                    _ => {}
                }
                let trusted = check
                    .root_certificate
                    .as_ref()
                    .is_some_and(|root| roots.iter().any(|r| r == root));
                let chain = if !check.chain_valid {
                    "incomplete or invalid certificate chain"
                } else if trusted {
                    "chains to a trusted root"
                } else if trusting {
                    "chains to a root that is NOT among the trusted ones"
                } else {
                    "self-contained chain; no trust root given (use --trust CA.pem)"
                };
                if trusting && !trusted {
                    ok = false;
                }
                let _ = writeln!(out, "  certificate: {chain}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "  the signature cannot be read: {}",
                    report.error.as_deref().unwrap_or("unknown reason")
                );
            }
        }
        let verdict = if intact {
            "INTACT — the signed bytes are exactly what was sealed"
        } else if report.check.as_ref().is_some_and(|c| !c.digest_matches) {
            "BROKEN — the signed bytes were changed after sealing"
        } else {
            "BROKEN — the signature does not verify"
        };
        let _ = writeln!(out, "  integrity:   {verdict}");
        if index + 1 == total {
            if report.covers_whole_file {
                let _ = writeln!(out, "  coverage:    the whole file");
            } else {
                ok = false;
                let _ = writeln!(
                    out,
                    "  coverage:    NOT the whole file — bytes were added after the last seal"
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "{}",
        if ok {
            "RESULT: VALID"
        } else {
            "RESULT: NOT VALID"
        }
    );
    (out, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_pdf_verifies_and_a_flipped_byte_breaks_it() {
        let (identity, _) = SealIdentity::generate("Test", Utc::now()).unwrap();
        let original = crate::pdf::render::tests_support::simple_pdf("Contract");
        let request = SealRequest {
            identity: &identity,
            field_name: "Seal".into(),
            reason: "Sealed".into(),
            location: None,
            contact: None,
            at: Utc::now(),
        };
        let sealed = seal_pdf(&original, &request, None).unwrap();
        assert!(sealed.starts_with(&original));
        let reports = verify_pdf(&sealed);
        assert_eq!(reports.len(), 1);
        assert!(reports[0].intact(), "{:?}", reports[0]);
        assert!(reports[0].covers_whole_file);

        let mut tampered = sealed.clone();
        tampered[original.len() / 2] ^= 0x01;
        assert!(!verify_pdf(&tampered)[0].intact());

        let twice = seal_pdf(&sealed, &request, None).unwrap();
        let reports = verify_pdf(&twice);
        assert_eq!(reports.len(), 2);
        assert!(reports.iter().all(SignatureReport::intact));
        assert!(!reports[0].covers_whole_file && reports[1].covers_whole_file);
    }
}
