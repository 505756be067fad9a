//! CMS SignedData for the PAdES seal (detached, SHA-256, signing-certificate-v2, optional
//! RFC 3161 signature time-stamp) and reading one back to verify it; RFC 3161 requests and
//! replies.

use super::der::{self, oid, tag, DerError, Element, Reader};
use super::identity::{Certificate, IdentityError, SealIdentity};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Asks a time-stamp authority for a token over a SHA-256 digest; returns the token
/// (a CMS ContentInfo, DER).
pub type Timestamper<'a> = &'a dyn Fn(&[u8; 32]) -> Result<Vec<u8>, String>;

fn attribute(kind: &str, values: Vec<Vec<u8>>) -> Vec<u8> {
    der::sequence(&[der::oid(kind), der::set_of(values)])
}

/// The signed attributes' content (the elements of the SET, in DER order).
fn signed_attributes(content_digest: &[u8; 32], certificate: &Certificate<'_>) -> Vec<u8> {
    let issuer_serial = der::sequence(&[
        der::sequence(&[der::context(4, certificate.issuer)]),
        certificate.serial.to_vec(),
    ]);
    let cert_id = der::sequence(&[der::octet_string(&certificate.sha256()), issuer_serial]);
    let signing_certificate = der::sequence(&[der::sequence(&[cert_id])]);
    let mut attributes = [
        attribute(oid::CONTENT_TYPE, vec![der::oid(oid::DATA)]),
        attribute(oid::MESSAGE_DIGEST, vec![der::octet_string(content_digest)]),
        attribute(oid::SIGNING_CERTIFICATE_V2, vec![signing_certificate]),
    ];
    attributes.sort();
    attributes.concat()
}

/// A detached CMS SignedData over content whose SHA-256 is `content_digest`.
pub fn signed_data(
    identity: &SealIdentity,
    content_digest: &[u8; 32],
    timestamper: Option<Timestamper<'_>>,
) -> Result<Vec<u8>, CmsError> {
    let certificate = identity.certificate();
    let attributes = signed_attributes(content_digest, &certificate);
    let signature = identity.sign(&der::tlv(tag::SET, &attributes))?;
    let signature_algorithm = der::algorithm(
        identity.signature_algorithm_oid(),
        identity.signature_algorithm_oid() == oid::SHA256_WITH_RSA,
    );
    let mut signer_info = vec![
        der::small_integer(1),
        der::sequence(&[certificate.issuer.to_vec(), certificate.serial.to_vec()]),
        der::algorithm(oid::SHA256, false),
        der::context(0, &attributes),
        signature_algorithm,
        der::octet_string(&signature),
    ];
    if let Some(timestamp) = timestamper {
        let digest: [u8; 32] = Sha256::digest(&signature).into();
        let token = timestamp(&digest).map_err(CmsError::Timestamp)?;
        check_timestamp_token(&token, &digest)?;
        signer_info.push(der::context(
            1,
            &attribute(oid::SIGNATURE_TIME_STAMP_TOKEN, vec![token]),
        ));
    }
    let certificates: Vec<u8> = identity.chain().concat();
    let signed = der::sequence(&[
        der::small_integer(1),
        der::set_of(vec![der::algorithm(oid::SHA256, false)]),
        der::sequence(&[der::oid(oid::DATA)]),
        der::context(0, &certificates),
        der::set_of(vec![der::sequence(&signer_info)]),
    ]);
    Ok(der::sequence(&[
        der::oid(oid::SIGNED_DATA),
        der::context(0, &signed),
    ]))
}

/// Why a CMS structure could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmsError {
    #[error(transparent)]
    Der(#[from] DerError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("time-stamp authority: {0}")]
    Timestamp(String),
    #[error("{0}")]
    Invalid(&'static str),
}

/// An RFC 3161 TimeStampReq for a SHA-256 digest, with a nonce.
pub fn timestamp_request(digest: &[u8; 32], nonce: u64) -> Vec<u8> {
    der::sequence(&[
        der::small_integer(1),
        der::sequence(&[der::algorithm(oid::SHA256, true), der::octet_string(digest)]),
        der::small_integer(nonce),
        der::boolean(true),
    ])
}

/// The token out of a TimeStampResp, when the authority granted it.
pub fn timestamp_token_from_reply(reply: &[u8]) -> Result<Vec<u8>, CmsError> {
    let response = Reader::new(reply).expect(tag::SEQUENCE)?;
    let mut parts = response.children();
    let status_info = parts.expect(tag::SEQUENCE)?;
    let status = status_info.children().expect(tag::INTEGER)?;
    if !matches!(status.content, [0] | [1]) {
        return Err(CmsError::Timestamp(format!(
            "the request was refused (PKIStatus {})",
            status.content.first().copied().unwrap_or(255)
        )));
    }
    let token = parts.expect(tag::SEQUENCE)?;
    Ok(token.raw.to_vec())
}

/// The TSTInfo inside a time-stamp token: (imprint digest, generation time).
fn timestamp_info(token: &[u8]) -> Result<(Vec<u8>, Option<DateTime<Utc>>), CmsError> {
    let signed = signed_data_of(token)?;
    let mut parts = signed.children();
    parts.expect(tag::INTEGER)?;
    parts.expect(tag::SET)?;
    let encapsulated = parts.expect(tag::SEQUENCE)?;
    let mut encapsulated = encapsulated.children();
    if encapsulated.next()?.oid_string()? != oid::TST_INFO {
        return Err(CmsError::Invalid("the time-stamp token holds no TSTInfo"));
    }
    let wrapped = encapsulated.expect(0xa0)?;
    let info_octets = der::parse(wrapped.content)?.expect(tag::OCTET_STRING)?;
    let info = der::parse(info_octets.content)?.expect(tag::SEQUENCE)?;
    let mut fields = info.children();
    fields.expect(tag::INTEGER)?;
    fields.expect(tag::OID)?;
    let imprint = fields.expect(tag::SEQUENCE)?;
    let mut imprint = imprint.children();
    imprint.expect(tag::SEQUENCE)?;
    let digest = imprint.expect(tag::OCTET_STRING)?.content.to_vec();
    fields.expect(tag::INTEGER)?;
    let generated = fields.expect(tag::GENERALIZED_TIME)?;
    let text = String::from_utf8_lossy(generated.content);
    let seconds = text
        .trim_end_matches('Z')
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    let at = chrono::NaiveDateTime::parse_from_str(&seconds, "%Y%m%d%H%M%S")
        .ok()
        .map(|naive| naive.and_utc());
    Ok((digest, at))
}

fn check_timestamp_token(token: &[u8], digest: &[u8; 32]) -> Result<(), CmsError> {
    let (imprint, _) = timestamp_info(token)?;
    if imprint != digest {
        return Err(CmsError::Timestamp(
            "the token is for another digest than the one sent".into(),
        ));
    }
    Ok(())
}

fn signed_data_of(content_info: &[u8]) -> Result<Element<'_>, CmsError> {
    let info = Reader::new(content_info).expect(tag::SEQUENCE)?;
    let mut parts = info.children();
    if parts.next()?.oid_string()? != oid::SIGNED_DATA {
        return Err(CmsError::Invalid("not a CMS SignedData"));
    }
    let wrapped = parts.expect(0xa0)?;
    Ok(der::parse(wrapped.content)?.expect(tag::SEQUENCE)?)
}

/// What a seal's CMS says, checked against the signed bytes' digest.
#[derive(Debug, Clone)]
pub struct SealCheck {
    /// The digest in the signed attributes equals the signed bytes' digest.
    pub digest_matches: bool,
    /// The signature over the signed attributes verifies with the signer's certificate.
    pub signature_valid: bool,
    /// The signing-certificate-v2 attribute names the signer's certificate.
    pub signing_certificate_bound: bool,
    pub signer_subject: String,
    pub signer_common_name: String,
    pub issuer_subject: String,
    /// Certificates from the signer up, as far as the embedded ones chain.
    pub chain_subjects: Vec<String>,
    /// The embedded chain ends in a self-signed certificate whose signatures all verify.
    pub chain_valid: bool,
    /// DER of the last certificate of the chain (its root, when complete).
    pub root_certificate: Option<Vec<u8>>,
    pub timestamp: Option<DateTime<Utc>>,
    pub timestamp_matches: Option<bool>,
    pub not_after: Option<DateTime<Utc>>,
}

/// Reads a detached SignedData and checks it against `content_digest` (SHA-256 of the
/// signed byte ranges).
pub fn check_signed_data(cms: &[u8], content_digest: &[u8; 32]) -> Result<SealCheck, CmsError> {
    let signed = signed_data_of(cms)?;
    let mut parts = signed.children();
    parts.expect(tag::INTEGER)?;
    parts.expect(tag::SET)?;
    parts.expect(tag::SEQUENCE)?;
    let mut certificates = Vec::new();
    if let Some(set) = parts.optional(0xa0)? {
        let mut reader = set.children();
        while !reader.is_empty() {
            let element = reader.next()?;
            if element.tag == tag::SEQUENCE {
                certificates.push(Certificate::parse(element.raw)?);
            }
        }
    }
    parts.optional(0xa1)?;
    let signer_infos = parts.expect(tag::SET)?;
    let signer = signer_infos.children().expect(tag::SEQUENCE)?;
    let mut fields = signer.children();
    fields.expect(tag::INTEGER)?;
    let sid = fields.expect(tag::SEQUENCE)?;
    let mut sid_parts = sid.children();
    let sid_issuer = sid_parts.expect(tag::SEQUENCE)?.raw;
    let sid_serial = sid_parts.expect(tag::INTEGER)?.raw;
    let digest_algorithm = fields
        .expect(tag::SEQUENCE)?
        .children()
        .next()?
        .oid_string()?;
    if digest_algorithm != oid::SHA256 {
        return Err(CmsError::Invalid(
            "the seal's digest algorithm is not SHA-256",
        ));
    }
    let attributes = fields.expect(0xa0)?;
    let signature_algorithm = fields
        .expect(tag::SEQUENCE)?
        .children()
        .next()?
        .oid_string()?;
    let signature = fields.expect(tag::OCTET_STRING)?.content;
    let unsigned = fields.optional(0xa1)?;

    let signer_certificate = certificates
        .iter()
        .find(|c| c.issuer == sid_issuer && c.serial == sid_serial)
        .ok_or(CmsError::Invalid(
            "the signer's certificate is not embedded",
        ))?;

    let mut message_digest = None;
    let mut bound_hash = None;
    let mut reader = attributes.children();
    while !reader.is_empty() {
        let attribute = reader.expect(tag::SEQUENCE)?;
        let mut attribute_parts = attribute.children();
        let kind = attribute_parts.next()?.oid_string()?;
        let values = attribute_parts.expect(tag::SET)?;
        match kind.as_str() {
            oid::MESSAGE_DIGEST => {
                message_digest = Some(values.children().expect(tag::OCTET_STRING)?.content);
            }
            oid::SIGNING_CERTIFICATE_V2 => {
                let certificate_ids = values.children().expect(tag::SEQUENCE)?;
                let first = certificate_ids.children().expect(tag::SEQUENCE)?;
                let mut id = first.children().expect(tag::SEQUENCE)?.children();
                id.optional(tag::SEQUENCE)?;
                bound_hash = Some(id.expect(tag::OCTET_STRING)?.content);
            }
            _ => {}
        }
    }
    let signed_attributes = der::tlv(tag::SET, attributes.content);

    let mut chain = vec![signer_certificate.clone()];
    while chain.len() <= certificates.len() {
        let last = chain.last().cloned().unwrap_or_else(|| unreachable!());
        if last.issuer == last.subject {
            break;
        }
        match certificates.iter().find(|c| last.issued_by(c)) {
            Some(parent) => chain.push(parent.clone()),
            None => break,
        }
    }
    let root = chain.last().cloned().unwrap_or_else(|| unreachable!());
    let chain_valid =
        root.issued_by(&root) && chain.windows(2).all(|pair| pair[0].issued_by(&pair[1]));

    let (mut timestamp, mut timestamp_matches) = (None, None);
    if let Some(unsigned) = unsigned {
        let mut reader = unsigned.children();
        while !reader.is_empty() {
            let attribute = reader.expect(tag::SEQUENCE)?;
            let mut attribute_parts = attribute.children();
            if attribute_parts.next()?.oid_string()? == oid::SIGNATURE_TIME_STAMP_TOKEN {
                let token = attribute_parts
                    .expect(tag::SET)?
                    .children()
                    .expect(tag::SEQUENCE)?;
                let (imprint, at) = timestamp_info(token.raw)?;
                let expected: [u8; 32] = Sha256::digest(signature).into();
                timestamp = at;
                timestamp_matches = Some(imprint == expected);
            }
        }
    }

    Ok(SealCheck {
        digest_matches: message_digest == Some(content_digest.as_slice()),
        signature_valid: signer_certificate.verifies(
            &signature_algorithm,
            &signed_attributes,
            signature,
        ),
        signing_certificate_bound: bound_hash == Some(signer_certificate.sha256().as_slice()),
        signer_subject: signer_certificate.subject_summary(),
        signer_common_name: signer_certificate.common_name(),
        issuer_subject: signer_certificate.issuer_summary(),
        chain_subjects: chain.iter().map(Certificate::subject_summary).collect(),
        chain_valid,
        root_certificate: Some(root.raw.to_vec()),
        timestamp,
        timestamp_matches,
        not_after: signer_certificate.not_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_data_checks_out_and_a_wrong_digest_does_not() {
        let (identity, _) = SealIdentity::generate("Test", Utc::now()).unwrap();
        let digest: [u8; 32] = Sha256::digest(b"the document").into();
        let cms = signed_data(&identity, &digest, None).unwrap();
        let check = check_signed_data(&cms, &digest).unwrap();
        assert!(check.digest_matches && check.signature_valid && check.signing_certificate_bound);
        assert!(check.chain_valid);
        assert_eq!(check.chain_subjects.len(), 2);
        assert_eq!(check.signer_common_name, "Test Document Seal");
        let other: [u8; 32] = Sha256::digest(b"another document").into();
        assert!(!check_signed_data(&cms, &other).unwrap().digest_matches);
        let mut broken = cms.clone();
        let at = broken.len() - 10;
        broken[at] ^= 1;
        assert!(!check_signed_data(&broken, &digest)
            .map(|c| c.signature_valid)
            .unwrap_or(false));
    }

    #[test]
    fn timestamp_requests_are_der() {
        let request = timestamp_request(&[7; 32], 42);
        let parsed = der::parse(&request).unwrap();
        assert_eq!(parsed.tag, tag::SEQUENCE);
        assert!(timestamp_token_from_reply(&der::sequence(&[der::sequence(&[
            der::small_integer(2)
        ])]))
        .is_err());
    }
}
