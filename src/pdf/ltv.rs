//! Long-term validation (PAdES B-LT): gathering the certificates and revocation data (OCSP
//! responses, or CRLs) a verifier needs years from now, checking them, and writing them into the
//! PDF's Document Security Store; and reading a DSS back.

use super::asn1::{
    oid, BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus,
    OcspSingleRequest, OcspTbsRequest, ResponderId,
};
use super::incremental::Update;
use super::x509::{verify_signature, Cert};
use super::PdfError;
use der::asn1::{Any, OctetString};
use der::{Decode, Encode};
use lopdf::{Dictionary, Object, Stream};
use spki::AlgorithmIdentifierOwned;
use x509_cert::crl::CertificateList;

/// Where revocation data comes from (the network, in production).
pub trait RevocationSource {
    /// POSTs a DER OCSP request to `url`; the DER OCSP response.
    fn ocsp(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, String>;
    /// GETs the DER CRL at `url`.
    fn crl(&self, url: &str) -> Result<Vec<u8>, String>;
}

/// The validation data of a seal, as written to the DSS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationData {
    pub certificates: Vec<Vec<u8>>,
    pub ocsp_responses: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
}

/// Why validation data could not be gathered: a named certificate and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LtvError {
    #[error("revocation data for {subject}: {reason}")]
    Revocation { subject: String, reason: String },
    #[error("{subject} is REVOKED according to {source_url}")]
    Revoked { subject: String, source_url: String },
}

fn push_unique(list: &mut Vec<Vec<u8>>, item: &[u8]) {
    if !list.iter().any(|existing| existing == item) {
        list.push(item.to_vec());
    }
}

fn sha1(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

/// The OCSP CertID of `certificate` issued by `issuer` (SHA-1, as responders expect).
fn cert_id(certificate: &Cert, issuer: &Cert) -> Result<CertId, der::Error> {
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: oid::SHA1,
            parameters: Some(Any::from(der::asn1::Null)),
        },
        issuer_name_hash: OctetString::new(sha1(&issuer.subject_name().to_der()?))?,
        issuer_key_hash: OctetString::new(sha1(
            issuer.public_key().subject_public_key.raw_bytes(),
        ))?,
        serial_number: certificate.serial().clone(),
    })
}

/// A DER OCSP request for one certificate.
pub fn ocsp_request(certificate: &Cert, issuer: &Cert) -> Result<Vec<u8>, der::Error> {
    OcspRequest {
        tbs_request: OcspTbsRequest {
            requestor_name: None,
            request_list: vec![OcspSingleRequest {
                req_cert: cert_id(certificate, issuer)?,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
    }
    .to_der()
}

/// What an OCSP response says about a certificate, after checking its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspVerdict {
    Good,
    Revoked,
    Unknown,
}

/// Reads an OCSP response for `certificate` (issued by `issuer`): its status, and the
/// responder's own certificates (to be kept too).
pub fn check_ocsp(
    response: &[u8],
    certificate: &Cert,
    issuer: &Cert,
) -> Result<(OcspVerdict, Vec<Cert>), String> {
    let response =
        OcspResponse::from_der(response).map_err(|e| format!("not an OCSP response: {e}"))?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(format!(
            "the responder answered {:?}",
            response.response_status
        ));
    }
    let bytes = response
        .response_bytes
        .ok_or("the OCSP response is empty")?;
    if bytes.response_type != oid::OCSP_BASIC {
        return Err("the OCSP response is not a basic response".into());
    }
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes())
        .map_err(|e| format!("the basic OCSP response cannot be read: {e}"))?;
    let embedded: Vec<Cert> = basic
        .certs
        .iter()
        .flatten()
        .filter_map(|c| c.to_der().ok().and_then(|d| Cert::from_der(&d).ok()))
        .collect();
    let signed = basic
        .tbs_response_data
        .to_der()
        .map_err(|e| e.to_string())?;
    let names_responder = |cert: &Cert| match &basic.tbs_response_data.responder_id {
        ResponderId::ByName(name) => cert.subject_name() == name,
        ResponderId::ByKey(hash) => {
            sha1(cert.public_key().subject_public_key.raw_bytes()) == hash.as_bytes()
        }
    };
    let verified_by = |cert: &Cert| {
        verify_signature(
            cert.public_key(),
            &basic.signature_algorithm.oid,
            &signed,
            basic.signature.raw_bytes(),
        )
    };
    // The issuer itself, or a responder it delegated (issued by it, for OCSP signing).
    let authorised = (names_responder(issuer) && verified_by(issuer))
        || embedded.iter().any(|responder| {
            names_responder(responder)
                && responder.issued_by(issuer)
                && matches!(responder.extended_key_usage(), Ok(Some((_, purposes))) if purposes.contains(&oid::KP_OCSP_SIGNING))
                && verified_by(responder)
        });
    if !authorised {
        return Err(
            "the OCSP response is not signed by the issuer or a responder it authorised".into(),
        );
    }
    let wanted = cert_id(certificate, issuer).map_err(|e| e.to_string())?;
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| {
            r.cert_id.serial_number == wanted.serial_number
                && (r.cert_id.hash_algorithm.oid != oid::SHA1
                    || (r.cert_id.issuer_key_hash == wanted.issuer_key_hash
                        && r.cert_id.issuer_name_hash == wanted.issuer_name_hash))
        })
        .ok_or("the OCSP response says nothing about this certificate")?;
    let verdict = match single.cert_status {
        CertStatus::Good(_) => OcspVerdict::Good,
        CertStatus::Revoked(_) => OcspVerdict::Revoked,
        CertStatus::Unknown(_) => OcspVerdict::Unknown,
    };
    Ok((verdict, embedded))
}

/// Reads a CRL issued by `issuer` after checking its signature; whether `certificate` is on it.
pub fn check_crl(crl: &[u8], certificate: &Cert, issuer: &Cert) -> Result<bool, String> {
    let list = CertificateList::from_der(crl).map_err(|e| format!("not a CRL: {e}"))?;
    if &list.tbs_cert_list.issuer != issuer.subject_name() {
        return Err("the CRL is issued by someone else than the certificate's issuer".into());
    }
    let signed = list.tbs_cert_list.to_der().map_err(|e| e.to_string())?;
    if !issuer.verifies(
        &list.signature_algorithm.oid,
        &signed,
        list.signature.raw_bytes(),
    ) {
        return Err("the CRL's signature does not verify with the issuer's key".into());
    }
    Ok(list
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .any(|entry| &entry.serial_number == certificate.serial()))
}

/// The issuer of `certificate` among `pool` (a certificate whose key signed it).
pub fn issuer_of<'a>(certificate: &Cert, pool: &'a [Cert]) -> Option<&'a Cert> {
    pool.iter()
        .find(|candidate| *candidate != certificate && certificate.issued_by(candidate))
}

/// Gathers the certificates of `pool` and, for each certificate that names an OCSP responder
/// or a CRL, its revocation data — OCSP first, a CRL when OCSP fails. A certificate that names
/// revocation data which cannot be had is an error (no silent downgrade), as is one revoked.
pub fn gather(pool: &[Cert], source: &dyn RevocationSource) -> Result<ValidationData, LtvError> {
    let mut data = ValidationData::default();
    for certificate in pool {
        push_unique(&mut data.certificates, certificate.der());
    }
    for certificate in pool {
        if certificate.is_self_signed() {
            continue;
        }
        let (ocsp, crls) = (certificate.ocsp_urls(), certificate.crl_urls());
        if ocsp.is_empty() && crls.is_empty() {
            continue;
        }
        let failure = |reason: String| LtvError::Revocation {
            subject: certificate.subject(),
            reason,
        };
        let issuer = issuer_of(certificate, pool)
            .ok_or_else(|| failure("its issuer's certificate is not in the chain".into()))?;
        let mut reasons = Vec::new();
        let mut done = false;
        for url in &ocsp {
            let request = ocsp_request(certificate, issuer).map_err(|e| failure(e.to_string()))?;
            match source.ocsp(url, &request).and_then(|response| {
                check_ocsp(&response, certificate, issuer).map(|r| (response, r))
            }) {
                Ok((_, (OcspVerdict::Revoked, _))) => {
                    return Err(LtvError::Revoked {
                        subject: certificate.subject(),
                        source_url: url.clone(),
                    })
                }
                Ok((_, (OcspVerdict::Unknown, _))) => reasons.push(format!(
                    "{url}: the responder does not know the certificate"
                )),
                Ok((response, (OcspVerdict::Good, responders))) => {
                    push_unique(&mut data.ocsp_responses, &response);
                    for responder in &responders {
                        push_unique(&mut data.certificates, responder.der());
                    }
                    done = true;
                    break;
                }
                Err(reason) => reasons.push(format!("{url}: {reason}")),
            }
        }
        if !done {
            for url in &crls {
                match source.crl(url).and_then(|crl| {
                    check_crl(&crl, certificate, issuer).map(|revoked| (crl, revoked))
                }) {
                    Ok((_, true)) => {
                        return Err(LtvError::Revoked {
                            subject: certificate.subject(),
                            source_url: url.clone(),
                        })
                    }
                    Ok((crl, false)) => {
                        push_unique(&mut data.crls, &crl);
                        done = true;
                        break;
                    }
                    Err(reason) => reasons.push(format!("{url}: {reason}")),
                }
            }
        }
        if !done {
            return Err(failure(reasons.join("; ")));
        }
    }
    Ok(data)
}

fn stream_references(update: &mut Update, existing: &[Vec<u8>], items: &[Vec<u8>]) -> Vec<Object> {
    let mut references = Vec::new();
    let mut seen: Vec<&[u8]> = existing.iter().map(Vec::as_slice).collect();
    for item in items {
        if seen.contains(&item.as_slice()) {
            continue;
        }
        seen.push(item);
        let id = update.add(Object::Stream(Stream::new(Dictionary::new(), item.clone())));
        references.push(Object::Reference(id));
    }
    references
}

/// Adds `data` to the PDF's Document Security Store (creating it when there is none) as an
/// incremental update; the input is an untouched prefix of the result.
pub fn add_to_dss(pdf: &[u8], data: &ValidationData) -> Result<Vec<u8>, PdfError> {
    let mut update = Update::new(pdf)?;
    let root = update.root_id()?;
    let mut catalog = update.dictionary(root)?;
    let (dss_id, mut dss) = match catalog.get(b"DSS") {
        Ok(Object::Reference(id)) => (Some(*id), update.dictionary(*id)?),
        Ok(Object::Dictionary(dss)) => (None, dss.clone()),
        _ => (None, Dictionary::new()),
    };
    let existing = read_dss_with(&update, &dss);
    for (key, items, present) in [
        ("Certs", &data.certificates, &existing.certificates),
        ("OCSPs", &data.ocsp_responses, &existing.ocsp_responses),
        ("CRLs", &data.crls, &existing.crls),
    ] {
        let mut array = match dss.get(key.as_bytes()).map(|a| update.resolve(a)) {
            Ok(Object::Array(items)) => items,
            _ => Vec::new(),
        };
        array.extend(stream_references(&mut update, present, items));
        if !array.is_empty() {
            dss.set(key, array);
        }
    }
    dss.set("Type", Object::Name(b"DSS".to_vec()));
    match dss_id {
        Some(id) => update.set(id, Object::Dictionary(dss)),
        None => {
            let id = update.add(Object::Dictionary(dss));
            catalog.set("DSS", Object::Reference(id));
            update.set(root, Object::Dictionary(catalog));
        }
    }
    Ok(update.write()?.0)
}

fn read_dss_with(update: &Update, dss: &Dictionary) -> ValidationData {
    let read = |key: &[u8]| -> Vec<Vec<u8>> {
        match dss.get(key).map(|a| update.resolve(a)) {
            Ok(Object::Array(items)) => items
                .iter()
                .filter_map(|item| match update.resolve(item) {
                    Object::Stream(mut stream) => {
                        let _ = stream.decompress();
                        Some(stream.content)
                    }
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    ValidationData {
        certificates: read(b"Certs"),
        ocsp_responses: read(b"OCSPs"),
        crls: read(b"CRLs"),
    }
}

/// The Document Security Store of a PDF, when it has one.
pub fn read_dss(pdf: &[u8]) -> Option<ValidationData> {
    let update = Update::new(pdf).ok()?;
    let root = update.root_id().ok()?;
    let catalog = update.dictionary(root).ok()?;
    let dss = match update.resolve(catalog.get(b"DSS").ok()?) {
        Object::Dictionary(dss) => dss,
        _ => return None,
    };
    Some(read_dss_with(&update, &dss))
}
