//! The PAdES seal, at the baseline level asked for: B-B (a CAdES-detached signature, SHA-256,
//! signing-certificate-v2), B-T (with a signature time-stamp), B-LT (with the certificates and
//! revocation data in the Document Security Store) and B-LTA (with a document time-stamp over
//! it all), each added as an incremental update — and verifying every signature of a PDF.

use super::asn1::oid;
use super::cms::{self, Timestamper};
use super::identity::SealIdentity;
use super::incremental::{self, Update};
use super::ltv::{self, RevocationSource};
use super::tsp;
use super::validation::{self, PathReport, Purpose};
use super::x509::Cert;
use super::PdfError;
use chrono::{DateTime, Utc};
use lopdf::{dictionary, Dictionary, Object};
use serde::Serialize;
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

/// The PAdES baseline levels (ETSI EN 319 142-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub enum PadesLevel {
    #[serde(rename = "B-B")]
    BB,
    #[serde(rename = "B-T")]
    BT,
    #[serde(rename = "B-LT")]
    BLT,
    #[serde(rename = "B-LTA")]
    BLTA,
}

impl PadesLevel {
    pub fn name(self) -> &'static str {
        match self {
            Self::BB => "B-B",
            Self::BT => "B-T",
            Self::BLT => "B-LT",
            Self::BLTA => "B-LTA",
        }
    }

    /// `B-B`, `B-T`, `B-LT` or `B-LTA` (case and the `B-` prefix optional).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_uppercase();
        match text.strip_prefix("B-").unwrap_or(&text) {
            "B" => Some(Self::BB),
            "T" => Some(Self::BT),
            "LT" => Some(Self::BLT),
            "LTA" => Some(Self::BLTA),
            _ => None,
        }
    }
}

impl std::fmt::Display for PadesLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a seal may ask of the outside world: a time-stamp authority (B-T and up) and
/// revocation data (B-LT and up).
#[derive(Clone, Copy, Default)]
pub struct TrustServices<'a> {
    pub timestamper: Option<Timestamper<'a>>,
    pub revocation: Option<&'a dyn RevocationSource>,
}

/// A source that has no revocation data: a certificate that names some is an error.
struct NoRevocationSource;

impl RevocationSource for NoRevocationSource {
    fn ocsp(&self, url: &str, _: &[u8]) -> Result<Vec<u8>, String> {
        Err(format!("{url}: no network access for revocation data"))
    }
    fn crl(&self, url: &str) -> Result<Vec<u8>, String> {
        Err(format!("{url}: no network access for revocation data"))
    }
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

/// Room for a time-stamp token (with its authority's chain) inside `/Contents`.
const TOKEN_ROOM: usize = 12_000;

/// Seals `pdf` at `level`: returns the sealed file (the input is an untouched prefix of it).
pub fn seal_pdf(
    pdf: &[u8],
    request: &SealRequest<'_>,
    level: PadesLevel,
    services: TrustServices<'_>,
) -> Result<Vec<u8>, PdfError> {
    let timestamper = match (level, services.timestamper) {
        (PadesLevel::BB, _) => None,
        (_, Some(timestamper)) => Some(timestamper),
        (_, None) => {
            return Err(PdfError::Seal(format!(
                "PAdES {level} needs a time-stamp authority"
            )))
        }
    };
    let mut head = format!(
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
        head.push(b'/');
        head.extend_from_slice(key);
        head.push(b' ');
        lopdf::Writer::write_object(&mut head, value)
            .map_err(|err| PdfError::Corrupt(err.to_string()))?;
    }
    let certificates: usize = request.identity.chain().iter().map(|c| c.der().len()).sum();
    let reserved = certificates + 2_500 + if timestamper.is_some() { TOKEN_ROOM } else { 0 };
    let mut signed = sign_incremental(pdf, &request.field_name, head, reserved, |digest| {
        cms::signed_data(request.identity, digest, timestamper)
            .map_err(|err| PdfError::Seal(err.to_string()))
    })?;
    if level >= PadesLevel::BLT {
        let mut pool: Vec<Cert> = request.identity.chain().to_vec();
        if let Some(token) = signature_token_of(&signed) {
            let token = tsp::read_token(&token).map_err(|err| PdfError::Seal(err.to_string()))?;
            pool.extend(token.certificates);
        }
        let source = services.revocation.unwrap_or(&NoRevocationSource);
        let data = ltv::gather(&pool, source).map_err(|err| PdfError::Seal(err.to_string()))?;
        signed = ltv::add_to_dss(&signed, &data)?;
    }
    if level == PadesLevel::BLTA {
        if let Some(timestamper) = timestamper {
            signed = add_document_timestamp(&signed, timestamper)?;
        }
    }
    Ok(signed)
}

/// The signature time-stamp token of the last signature of a PDF just sealed.
fn signature_token_of(pdf: &[u8]) -> Option<Vec<u8>> {
    let found = find_signatures(pdf).pop()?;
    let contents = found.contents.ok()?;
    cms::read(&contents)
        .ok()?
        .unsigned_attribute(oid::SIGNATURE_TIME_STAMP_TOKEN)
}

/// Adds a document time-stamp (PAdES B-LTA's archive time-stamp) over the whole file.
pub fn add_document_timestamp(
    pdf: &[u8],
    timestamper: Timestamper<'_>,
) -> Result<Vec<u8>, PdfError> {
    let head = b"<</Type/DocTimeStamp/Filter/Adobe.PPKLite/SubFilter/ETSI.RFC3161".to_vec();
    sign_incremental(pdf, "DocumentTimeStamp", head, TOKEN_ROOM, |digest| {
        timestamper(digest).map_err(|err| PdfError::Seal(format!("time-stamp authority: {err}")))
    })
}

/// Adds an invisible signature field whose value is a signature dictionary starting with
/// `head`, reserves `reserved` bytes for `/Contents`, and fills them with what `contents`
/// makes of the SHA-256 of the signed byte ranges.
fn sign_incremental(
    pdf: &[u8],
    field_base: &str,
    mut head: Vec<u8>,
    reserved: usize,
    contents: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>, PdfError>,
) -> Result<Vec<u8>, PdfError> {
    let mut update = Update::new(pdf)?;
    let signature_id = update.reserve();
    let field_id = update.reserve();
    let first_page = *update.page_ids().first().ok_or(PdfError::NoPages)?;

    let mut field_name = field_base.to_string();
    let existing_names = existing_field_names(&update);
    let mut counter = 2;
    while existing_names.contains(&field_name) {
        field_name = format!("{field_base}-{counter}");
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

    head.extend_from_slice(b"/ByteRange");
    head.extend_from_slice(BYTE_RANGE_PLACEHOLDER.as_bytes());
    head.extend_from_slice(b"/Contents<");
    head.extend(std::iter::repeat_n(b'0', reserved * 2));
    head.extend_from_slice(b">>>");
    update.set_raw(signature_id, head);

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
    let value = contents(&digest)?;
    if value.len() > reserved {
        return Err(PdfError::Seal(format!(
            "the signature ({} bytes) does not fit the {reserved} bytes reserved",
            value.len()
        )));
    }
    let hex = hex::encode_upper(&value);
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

/// What kind of signature a signature dictionary holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SignatureKind {
    /// A CMS signature (`/SubFilter /ETSI.CAdES.detached` or `adbe.pkcs7.detached`).
    Signature,
    /// A document time-stamp (`/Type /DocTimeStamp`, `/SubFilter /ETSI.RFC3161`).
    DocumentTimeStamp,
}

/// A signature dictionary found by its `/ByteRange`.
struct FoundSignature {
    kind: SignatureKind,
    /// `[a, b, c, d]`, checked to be inside the file.
    ranges: Result<[usize; 4], String>,
    /// The DER inside `/Contents`, padding removed.
    contents: Result<Vec<u8>, String>,
    claimed_time: Option<String>,
}

fn parse_numbers(text: &[u8]) -> Option<Vec<usize>> {
    let text = std::str::from_utf8(text).ok()?;
    text.split_whitespace().map(|n| n.parse().ok()).collect()
}

/// The DER value at the start of `bytes`, without the zero padding that follows it.
fn der_value(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use der::{Decode as _, Reader as _};
    let mut reader = der::SliceReader::new(bytes).map_err(|e| e.to_string())?;
    der::asn1::AnyRef::decode(&mut reader).map_err(|e| e.to_string())?;
    let used: usize = reader
        .position()
        .try_into()
        .map_err(|e: der::Error| e.to_string())?;
    Ok(bytes[..used].to_vec())
}

/// Every signature dictionary of `pdf`, found by its `/ByteRange` (so a file that no longer
/// parses is still checked).
fn find_signatures(pdf: &[u8]) -> Vec<FoundSignature> {
    let mut found = Vec::new();
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
        // The signature dictionary's object, to read its other keys.
        let object_start = memchr::memmem::rfind(&pdf[..at], b" obj").unwrap_or(0);
        let object_end = memchr::memmem::find(&pdf[at..], b"endobj")
            .map(|end| at + end)
            .unwrap_or(pdf.len());
        let dictionary = &pdf[object_start..object_end];
        let kind = if memchr::memmem::find(dictionary, b"/ETSI.RFC3161").is_some()
            || memchr::memmem::find(dictionary, b"/DocTimeStamp").is_some()
        {
            SignatureKind::DocumentTimeStamp
        } else {
            SignatureKind::Signature
        };
        let claimed_time = memchr::memmem::find(dictionary, b"/M(").and_then(|m| {
            let tail = &dictionary[m + 3..];
            tail.iter()
                .position(|b| *b == b')')
                .map(|end| String::from_utf8_lossy(&tail[..end]).into_owned())
        });
        let ranges = match numbers[..] {
            [a, b, c, d] => {
                let end = c.checked_add(d);
                if a != 0 || b < 1 || b >= c || end.is_none_or(|end| end > pdf.len()) {
                    Err("the /ByteRange points outside the file".to_string())
                } else if pdf[b] != b'<' || pdf[c - 1] != b'>' {
                    Err("the /ByteRange leaves out more than the signature value".to_string())
                } else {
                    Ok([a, b, c, d])
                }
            }
            _ => Err("the /ByteRange does not have four numbers".to_string()),
        };
        let contents = match &ranges {
            Ok([_, b, c, _]) => {
                let hex: Vec<u8> = pdf[b + 1..c - 1]
                    .iter()
                    .copied()
                    .filter(|x| !x.is_ascii_whitespace())
                    .collect();
                hex::decode(&hex)
                    .map_err(|_| "the signature value is not hexadecimal".to_string())
                    .and_then(|bytes| der_value(&bytes))
            }
            Err(err) => Err(err.clone()),
        };
        found.push(FoundSignature {
            kind,
            ranges,
            contents,
            claimed_time,
        });
    }
    found
}

/// One check made on a signature, and its outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
    /// Whether the signature's validity depends on it.
    pub required: bool,
}

fn check(name: &'static str, ok: bool, good: impl Into<String>, bad: impl Into<String>) -> Check {
    Check {
        check: name,
        ok,
        detail: if ok { good.into() } else { bad.into() },
        required: true,
    }
}

/// One signature of a PDF, checked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureReport {
    pub kind: SignatureKind,
    pub signer: Option<String>,
    pub issuer: Option<String>,
    /// `/M` of the signature dictionary, as written (claimed by the signer).
    pub claimed_time: Option<String>,
    /// The time a valid time-stamp attests (the signature's, or the document time-stamp's).
    pub time_stamp: Option<DateTime<Utc>>,
    /// Where the signed revision ends.
    pub signed_bytes_end: usize,
    pub covers_whole_file: bool,
    pub checks: Vec<Check>,
    pub certificate_path: Option<PathReport>,
    pub time_stamp_authority_path: Option<PathReport>,
    pub valid: bool,
}

impl SignatureReport {
    /// The signed bytes are exactly what was signed and the signature is the signer's.
    pub fn intact(&self) -> bool {
        [
            "byte range",
            "signature readable",
            "message digest",
            "signature value",
            "time-stamp imprint",
        ]
        .iter()
        .all(|name| {
            self.checks
                .iter()
                .filter(|c| c.check == *name)
                .all(|c| c.ok)
        }) && self
            .checks
            .iter()
            .any(|c| c.check == "signature readable" && c.ok)
    }
}

/// The validation data found in the Document Security Store.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DssSummary {
    pub certificates: usize,
    pub ocsp_responses: usize,
    pub crls: usize,
}

/// Everything `verify` found and checked in a PDF.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub signatures: Vec<SignatureReport>,
    pub validation_data: Option<DssSummary>,
    /// The PAdES level the last signature reaches, when it is valid.
    pub level: Option<PadesLevel>,
    pub valid: bool,
}

/// What to verify against.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Trust anchors; none means "report the root, trust nothing in particular".
    pub anchors: Vec<Cert>,
    /// The time to check certificates at when no time-stamp says otherwise.
    pub now: DateTime<Utc>,
}

/// Changes made after the revision ending at `end` that a seal does not allow: anything but
/// validation data (DSS), document time-stamps and further signatures with their fields.
fn later_changes(pdf: &[u8], end: usize) -> Vec<String> {
    let tail = pdf[end..].trim_ascii_end();
    if !tail.ends_with(b"%%EOF") {
        return vec![format!(
            "{} byte(s) were appended that are not a PDF revision",
            pdf.len() - end
        )];
    }
    let (Ok(before), Ok(after)) = (incremental::load(&pdf[..end]), incremental::load(pdf)) else {
        return vec!["the later revisions cannot be read".into()];
    };
    let root = after
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .ok();
    let mut dss_streams = Vec::new();
    if let Some(Ok(Object::Dictionary(catalog))) = root.map(|r| after.get_object(r)) {
        let dss = catalog.get(b"DSS").ok().and_then(|d| match d {
            Object::Reference(id) => after.get_dictionary(*id).ok().cloned(),
            Object::Dictionary(d) => Some(d.clone()),
            _ => None,
        });
        for key in [b"Certs".as_slice(), b"OCSPs", b"CRLs"] {
            if let Some(Ok(Object::Array(items))) = dss.as_ref().map(|d| d.get(key)) {
                dss_streams.extend(items.iter().filter_map(|i| i.as_reference().ok()));
            }
        }
    }
    let type_of = |dictionary: &Dictionary| {
        dictionary
            .get(b"Type")
            .and_then(Object::as_name)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default()
    };
    let only_keys_differ = |old: &Dictionary, new: &Dictionary, keys: &[&[u8]]| {
        let mut names: Vec<&[u8]> = old.iter().map(|(k, _)| k.as_slice()).collect();
        names.extend(new.iter().map(|(k, _)| k.as_slice()));
        names
            .into_iter()
            .filter(|k| !keys.contains(k))
            .all(|k| old.get(k).ok() == new.get(k).ok())
    };
    let mut changes = Vec::new();
    for (id, object) in &after.objects {
        let old = before.objects.get(id);
        if old == Some(object) {
            continue;
        }
        let allowed = match (old, object) {
            (_, Object::Stream(stream)) => {
                dss_streams.contains(id)
                    || matches!(type_of(&stream.dict).as_str(), "XRef" | "ObjStm")
            }
            (None, Object::Dictionary(d)) => {
                matches!(type_of(d).as_str(), "DSS" | "DocTimeStamp" | "Sig")
                    || d.get(b"FT").and_then(Object::as_name).ok() == Some(b"Sig".as_slice())
            }
            (Some(Object::Dictionary(old)), Object::Dictionary(new)) => {
                let kind = type_of(new);
                kind == "DSS"
                    || (Some(*id) == root
                        && only_keys_differ(old, new, &[b"DSS", b"AcroForm", b"Extensions"]))
                    || (kind == "Page" && only_keys_differ(old, new, &[b"Annots"]))
                    || only_keys_differ(old, new, &[b"Fields", b"SigFlags"])
            }
            (Some(Object::Array(old)), Object::Array(new)) => new.starts_with(old),
            (None, Object::Array(_)) => true,
            _ => false,
        };
        if !allowed {
            let what = match object {
                Object::Dictionary(d) if !type_of(d).is_empty() => format!(" ({})", type_of(d)),
                Object::Stream(s) if !type_of(&s.dict).is_empty() => {
                    format!(" ({} stream)", type_of(&s.dict))
                }
                Object::Stream(_) => " (a stream, e.g. page content)".into(),
                _ => String::new(),
            };
            changes.push(format!(
                "object {} {}{what} {}",
                id.0,
                id.1,
                if old.is_some() { "changed" } else { "added" }
            ));
        }
    }
    changes
}

fn path_check(name: &'static str, report: &PathReport) -> Check {
    use validation::Anchor;
    let route = report.path.join(" ← ");
    let (ok, detail) = match (&report.anchor, report.problems.is_empty()) {
        (_, false) => (false, report.problems.join("; ")),
        (Anchor::Trusted { .. }, true) => (true, format!("{route}: chains to a trusted root")),
        (Anchor::NoAnchorsGiven { .. }, true) => (
            true,
            format!("{route}: self-contained chain; no trust root given (use --trust CA.pem)"),
        ),
        (Anchor::NotTrusted { subject }, true) => (
            false,
            format!("{route}: chains to {subject}, a root that is NOT among the trusted ones"),
        ),
        (Anchor::Incomplete { missing_issuer }, true) => (
            false,
            format!("{route}: incomplete chain, the certificate of {missing_issuer} is missing"),
        ),
    };
    Check {
        check: name,
        ok,
        detail,
        required: true,
    }
}

/// What a time-stamp token check found: its time (when valid), its authority and that
/// authority's path.
struct TokenCheck {
    time: Option<DateTime<Utc>>,
    authority: Option<Cert>,
    path: Option<PathReport>,
}

/// Checks a time-stamp token that should stamp `stamped`; adds its checks to `checks`.
fn check_token(
    token: &[u8],
    stamped: &[&[u8]],
    pool: &[Cert],
    options: &VerifyOptions,
    checks: &mut Vec<Check>,
) -> TokenCheck {
    let reading = match tsp::read_token(token) {
        Ok(reading) => reading,
        Err(err) => {
            checks.push(check("time-stamp readable", false, "", err.to_string()));
            return TokenCheck {
                time: None,
                authority: None,
                path: None,
            };
        }
    };
    checks.push(check(
        "time-stamp signature",
        reading.signature_valid,
        "the token's own signature verifies with the authority's certificate",
        "the token's signature does NOT verify with the authority's certificate",
    ));
    checks.push(check(
        "time-stamp imprint",
        reading.stamps(stamped),
        "the token stamps exactly these bytes",
        "the token's imprint is NOT the hash of what it should stamp",
    ));
    checks.push(check(
        "time-stamp authority purpose",
        reading.time_stamping_purpose,
        "the authority's certificate is for time-stamping (critical extended key usage)",
        "the authority's certificate is NOT for time-stamping (no critical timeStamping extended key usage)",
    ));
    let at = reading.time.unwrap_or(options.now);
    let path = reading.authority.as_ref().map(|authority| {
        let mut all = reading.certificates.clone();
        all.extend_from_slice(pool);
        validation::validate_path(authority, &all, &options.anchors, at, Purpose::TimeStamping)
    });
    if let Some(path) = &path {
        checks.push(path_check("time-stamp authority certificate", path));
    }
    let valid = reading.signature_valid && reading.stamps(stamped) && reading.time_stamping_purpose;
    TokenCheck {
        time: valid.then_some(at),
        authority: reading.authority,
        path,
    }
}

/// Finds and checks every signature in `pdf`.
pub fn verify_pdf(pdf: &[u8], options: &VerifyOptions) -> VerifyReport {
    let found = find_signatures(pdf);
    let dss = ltv::read_dss(pdf);
    let dss_certificates: Vec<Cert> = dss
        .iter()
        .flat_map(|d| d.certificates.iter())
        .filter_map(|der| Cert::from_der(der).ok())
        .collect();
    let last_signature = found
        .iter()
        .rposition(|f| f.kind == SignatureKind::Signature);
    let mut signatures = Vec::new();
    for (index, signature) in found.iter().enumerate() {
        let mut checks = Vec::new();
        let mut report = SignatureReport {
            kind: signature.kind,
            signer: None,
            issuer: None,
            claimed_time: signature.claimed_time.clone(),
            time_stamp: None,
            signed_bytes_end: 0,
            covers_whole_file: false,
            checks: Vec::new(),
            certificate_path: None,
            time_stamp_authority_path: None,
            valid: false,
        };
        let ranges = match &signature.ranges {
            Ok(ranges) => *ranges,
            Err(err) => {
                checks.push(check("byte range", false, "", err.clone()));
                report.checks = checks;
                signatures.push(report);
                continue;
            }
        };
        let [_, b, c, d] = ranges;
        report.signed_bytes_end = c + d;
        report.covers_whole_file = c + d == pdf.len();
        checks.push(check(
            "byte range",
            true,
            "the signature covers the whole revision but its own value",
            "",
        ));
        let signed: [&[u8]; 2] = [&pdf[..b], &pdf[c..c + d]];
        let contents = match &signature.contents {
            Ok(contents) => contents,
            Err(err) => {
                checks.push(check("signature readable", false, "", err.clone()));
                report.checks = checks;
                signatures.push(report);
                continue;
            }
        };
        match signature.kind {
            SignatureKind::Signature => match cms::read(contents) {
                Err(err) => checks.push(check("signature readable", false, "", err.to_string())),
                Ok(reading) => {
                    checks.push(check("signature readable", true, "a CMS SignedData", ""));
                    let signer = reading.signer_certificate().cloned();
                    report.signer = signer.as_ref().map(Cert::subject);
                    report.issuer = signer.as_ref().map(Cert::issuer);
                    checks.push(check(
                        "message digest",
                        reading.digest_matches(&signed),
                        "INTACT — the signed bytes are exactly what was sealed",
                        "BROKEN — the signed bytes were changed after sealing",
                    ));
                    checks.push(check(
                        "signature value",
                        reading.signature_valid(),
                        "the signature verifies with the signer's certificate",
                        if signer.is_some() {
                            "BROKEN — the signature does not verify with the signer's certificate"
                        } else {
                            "BROKEN — the signer's certificate is not embedded"
                        },
                    ));
                    let bound = reading.signing_certificate_bound();
                    checks.push(check(
                        "signing certificate",
                        bound == Some(true),
                        "the signed attributes bind the signer's certificate (ESS signing-certificate-v2)",
                        if bound.is_none() {
                            "no ESS signing-certificate-v2 attribute binds the signer's certificate"
                        } else {
                            "the ESS signing-certificate-v2 attribute names another certificate"
                        },
                    ));
                    let mut pool = reading.certificates.clone();
                    pool.extend_from_slice(&dss_certificates);
                    let mut at = options.now;
                    if let Some(token) = reading.unsigned_attribute(oid::SIGNATURE_TIME_STAMP_TOKEN)
                    {
                        let stamp = check_token(
                            &token,
                            &[reading.signature_value()],
                            &dss_certificates,
                            options,
                            &mut checks,
                        );
                        report.time_stamp = stamp.time;
                        report.time_stamp_authority_path = stamp.path;
                        if let Some(time) = stamp.time {
                            at = time;
                        }
                    }
                    if let Some(signer) = &signer {
                        let path = validation::validate_path(
                            signer,
                            &pool,
                            &options.anchors,
                            at,
                            Purpose::Signing,
                        );
                        checks.push(path_check("certificate path", &path));
                        report.certificate_path = Some(path);
                    }
                }
            },
            SignatureKind::DocumentTimeStamp => {
                checks.push(check(
                    "signature readable",
                    true,
                    "an RFC 3161 time-stamp token",
                    "",
                ));
                let stamp = check_token(contents, &signed, &dss_certificates, options, &mut checks);
                report.signer = stamp.authority.as_ref().map(Cert::subject);
                report.issuer = stamp.authority.as_ref().map(Cert::issuer);
                report.time_stamp = stamp.time;
                report.time_stamp_authority_path = stamp.path;
            }
        }
        if !report.covers_whole_file {
            let changes = later_changes(pdf, c + d);
            let final_signature =
                signature.kind == SignatureKind::DocumentTimeStamp || Some(index) == last_signature;
            checks.push(Check {
                check: "changes after signing",
                ok: changes.is_empty(),
                detail: if changes.is_empty() {
                    "only validation data, time-stamps and signatures were added after it".into()
                } else {
                    format!(
                        "the document was changed after this signature: {}",
                        changes.join(", ")
                    )
                },
                required: final_signature,
            });
        }
        report.valid = checks.iter().all(|c| c.ok || !c.required);
        report.checks = checks;
        signatures.push(report);
    }
    // What follows the last signature was checked ("changes after signing", required for it).
    let valid = !signatures.is_empty() && signatures.iter().all(|s| s.valid);
    let level = last_signature
        .and_then(|index| signatures.get(index))
        .filter(|s| s.valid)
        .map(|s| reached_level(s, &signatures, dss.as_ref(), &dss_certificates));
    VerifyReport {
        signatures,
        validation_data: dss.map(|d| DssSummary {
            certificates: d.certificates.len(),
            ocsp_responses: d.ocsp_responses.len(),
            crls: d.crls.len(),
        }),
        level,
        valid,
    }
}

/// The PAdES level a valid signature reaches in its file.
fn reached_level(
    signature: &SignatureReport,
    all: &[SignatureReport],
    dss: Option<&ltv::ValidationData>,
    certificates: &[Cert],
) -> PadesLevel {
    if signature.time_stamp.is_none() {
        return PadesLevel::BB;
    }
    let Some(dss) = dss else {
        return PadesLevel::BT;
    };
    let paths = [
        &signature.certificate_path,
        &signature.time_stamp_authority_path,
    ];
    let complete = paths.iter().copied().flatten().all(|path| {
        path.certificates.iter().all(|certificate| {
            let kept = certificates.contains(certificate);
            let needs_revocation =
                !certificate.is_self_signed() && certificate.names_revocation_data();
            let revocation = !needs_revocation
                || ltv::issuer_of(certificate, &path.certificates).is_some_and(|issuer| {
                    dss.ocsp_responses.iter().any(|response| {
                        matches!(
                            ltv::check_ocsp(response, certificate, issuer),
                            Ok((ltv::OcspVerdict::Good, _))
                        )
                    }) || dss
                        .crls
                        .iter()
                        .any(|crl| ltv::check_crl(crl, certificate, issuer) == Ok(false))
                });
            kept && revocation
        })
    });
    if !complete {
        return PadesLevel::BT;
    }
    let archived = all.iter().any(|other| {
        other.kind == SignatureKind::DocumentTimeStamp
            && other.valid
            && other.signed_bytes_end > signature.signed_bytes_end
    });
    if archived {
        PadesLevel::BLTA
    } else {
        PadesLevel::BLT
    }
}

/// A report for people, in the manner of pyHanko's: each signature, what was checked and how
/// it came out, the PAdES level and the verdict.
pub fn describe(report: &VerifyReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if report.signatures.is_empty() {
        out.push_str("no signature found: this PDF is not sealed\nRESULT: NOT VALID\n");
        return out;
    }
    let total = report.signatures.len();
    for (index, signature) in report.signatures.iter().enumerate() {
        let kind = match signature.kind {
            SignatureKind::Signature => "signature",
            SignatureKind::DocumentTimeStamp => "document time-stamp",
        };
        let _ = writeln!(out, "Signature {} of {total} ({kind}):", index + 1);
        if let Some(signer) = &signature.signer {
            let label = match signature.kind {
                SignatureKind::Signature => "signed by:  ",
                SignatureKind::DocumentTimeStamp => "stamped by: ",
            };
            let _ = writeln!(out, "  {label} {signer}");
        }
        if let Some(issuer) = &signature.issuer {
            let _ = writeln!(out, "  issued by:   {issuer}");
        }
        if let Some(time) = &signature.claimed_time {
            let _ = writeln!(out, "  signed at:   {time} (claimed by the signer)");
        }
        if let Some(at) = signature.time_stamp {
            let what = match signature.kind {
                SignatureKind::Signature => "matches the signature",
                SignatureKind::DocumentTimeStamp => "matches the document",
            };
            let _ = writeln!(
                out,
                "  time-stamp:  {} (RFC 3161, {what})",
                at.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        for check in &signature.checks {
            let mark = match (check.ok, check.required) {
                (true, _) => "ok  ",
                (false, true) => "FAIL",
                (false, false) => "note",
            };
            let _ = writeln!(out, "  [{mark}] {}: {}", check.check, check.detail);
        }
        if let Some(path) = &signature.certificate_path {
            let _ = writeln!(
                out,
                "  certificates checked at {}",
                path.checked_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        let integrity = if signature.intact() {
            "INTACT"
        } else {
            "BROKEN"
        };
        let later_allowed = signature
            .checks
            .iter()
            .any(|c| c.check == "changes after signing" && c.ok);
        let coverage = if signature.covers_whole_file {
            "the whole file".to_string()
        } else if later_allowed {
            format!(
                "the revision ending at byte {}, followed only by validation data, time-stamps or signatures",
                signature.signed_bytes_end
            )
        } else if index + 1 == total {
            "NOT the whole file — bytes were added after the last signature".to_string()
        } else {
            format!("the revision ending at byte {}", signature.signed_bytes_end)
        };
        let _ = writeln!(out, "  coverage:    {coverage}");
        let _ = writeln!(
            out,
            "  verdict:     {integrity}, {}",
            if signature.valid {
                "VALID"
            } else {
                "NOT VALID"
            }
        );
    }
    if let Some(data) = &report.validation_data {
        let _ = writeln!(
            out,
            "Validation data (DSS): {} certificate(s), {} OCSP response(s), {} CRL(s)",
            data.certificates, data.ocsp_responses, data.crls
        );
    }
    if let Some(level) = report.level {
        let _ = writeln!(out, "PAdES level: {level}");
    }
    let _ = writeln!(
        out,
        "{}",
        if report.valid {
            "RESULT: VALID"
        } else {
            "RESULT: NOT VALID"
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> VerifyOptions {
        VerifyOptions {
            anchors: Vec::new(),
            now: Utc::now(),
        }
    }

    /// A simple contract and that contract sealed at B-B by a fresh generated identity.
    fn sealed_contract() -> (Vec<u8>, Vec<u8>) {
        let (identity, _) = SealIdentity::generate("Test", Utc::now()).unwrap();
        let original = crate::pdf::render::tests_support::simple_pdf("Contract");
        let sealed = seal_pdf(
            &original,
            &request(&identity),
            PadesLevel::BB,
            TrustServices::default(),
        )
        .unwrap();
        (original, sealed)
    }

    fn request(identity: &SealIdentity) -> SealRequest<'_> {
        SealRequest {
            identity,
            field_name: "Seal".into(),
            reason: "Sealed".into(),
            location: None,
            contact: None,
            at: Utc::now(),
        }
    }

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
        let sealed = seal_pdf(
            &original,
            &request,
            PadesLevel::BB,
            TrustServices::default(),
        )
        .unwrap();
        assert!(sealed.starts_with(&original));
        let report = verify_pdf(&sealed, &options());
        assert_eq!(report.signatures.len(), 1);
        assert!(report.valid, "{}", describe(&report));
        assert_eq!(report.level, Some(PadesLevel::BB));
        assert!(report.signatures[0].covers_whole_file);

        let mut tampered = sealed.clone();
        tampered[original.len() / 2] ^= 0x01;
        let broken = verify_pdf(&tampered, &options());
        assert!(!broken.valid && !broken.signatures[0].intact());

        // A second seal: the first is followed only by a signature, so both stay valid.
        let twice = seal_pdf(&sealed, &request, PadesLevel::BB, TrustServices::default()).unwrap();
        let report = verify_pdf(&twice, &options());
        assert_eq!(report.signatures.len(), 2);
        assert!(report.valid, "{}", describe(&report));
        assert!(!report.signatures[0].covers_whole_file && report.signatures[1].covers_whole_file);

        // B-T without a time-stamp authority is refused, not silently B-B.
        assert!(matches!(
            seal_pdf(&original, &request, PadesLevel::BT, TrustServices::default()),
            Err(PdfError::Seal(text)) if text.contains("time-stamp authority")
        ));
    }

    #[test]
    fn a_page_changed_after_sealing_is_reported() {
        let (_, sealed) = sealed_contract();
        // An incremental update that changes the page (a new /Rotate).
        let mut update = Update::new(&sealed).unwrap();
        let page = update.page_ids()[0];
        let mut dictionary = update.dictionary(page).unwrap();
        dictionary.set("Rotate", 90);
        update.set(page, Object::Dictionary(dictionary));
        let changed = update.write().unwrap().0;
        let report = verify_pdf(&changed, &options());
        assert!(!report.valid);
        let text = describe(&report);
        assert!(
            text.contains("changes after signing") && text.contains("(Page) changed"),
            "{text}"
        );
    }

    #[test]
    fn hostile_bytes_in_a_sealed_pdf_never_panic_the_verifier() {
        let (_, sealed) = sealed_contract();
        let contents = memchr::memmem::find(&sealed, b"/Contents<").unwrap() + 10;
        let contents_end = contents + memchr::memchr(b'>', &sealed[contents..]).unwrap();
        // A deterministic walk over the signature value, the byte range and the rest.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..600 {
            let mut mutated = sealed.clone();
            let at = if round % 2 == 0 {
                contents + (next() as usize % 1_200)
            } else {
                next() as usize % mutated.len()
            };
            mutated[at] = match round % 3 {
                0 => b"0123456789ABCDEF"[next() as usize % 16],
                1 => next() as u8,
                _ => b'[',
            };
            if round % 5 == 0 {
                mutated.truncate(at.max(1));
            }
            let report = verify_pdf(&mutated, &options());
            let _ = describe(&report);
            // Outside the signature value every byte is signed: any change breaks the seal.
            // (Inside it, CMS leaves some parts unsigned — the certificate set, the digest
            // algorithm list — so a change there may rightly go unnoticed.)
            let outside = at < contents - 1 || at > contents_end;
            if outside && mutated != sealed {
                assert!(
                    !report.valid,
                    "round {round}: byte {at} changed and still valid"
                );
            }
        }
    }
}
