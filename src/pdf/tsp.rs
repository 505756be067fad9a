//! RFC 3161 time-stamps on typed structures: the request we send, the reply we accept, and
//! everything a token must satisfy — its own CMS signature, its imprint, the nonce we sent and
//! the authority certificate's timeStamping purpose.

use super::asn1::{oid, MessageImprint, TimeStampReq, TimeStampResp, TstInfo};
use super::cms::{self, CmsError, CmsReading};
use super::x509::Cert;
use chrono::{DateTime, Utc};
use der::asn1::{Any, Int, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;

/// A time-stamp token, read and checked on its own (without the data it stamps).
#[derive(Debug, Clone)]
pub struct TokenReading {
    /// When the authority says it saw the imprint.
    pub time: Option<DateTime<Utc>>,
    pub imprint_algorithm: der::asn1::ObjectIdentifier,
    pub imprint: Vec<u8>,
    pub nonce: Option<Vec<u8>>,
    /// The authority's certificate, when embedded.
    pub authority: Option<Cert>,
    /// Every certificate the token embeds.
    pub certificates: Vec<Cert>,
    /// The token's CMS signature verifies with the authority's certificate, over signed
    /// attributes whose message digest is that of the TSTInfo.
    pub signature_valid: bool,
    /// The authority certificate carries the (critical) timeStamping extended key usage.
    pub time_stamping_purpose: bool,
}

fn nonce_bytes(nonce: u64) -> Vec<u8> {
    let bytes = nonce.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut out = bytes[skip..].to_vec();
    if out[0] & 0x80 != 0 {
        out.insert(0, 0);
    }
    out
}

/// A DER TimeStampReq for a SHA-256 digest, with a nonce, asking for the certificate.
pub fn request(digest: &[u8; 32], nonce: u64) -> Result<Vec<u8>, CmsError> {
    let request = TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: oid::SHA256,
                parameters: Some(Any::from(der::asn1::Null)),
            },
            hashed_message: OctetString::new(digest.to_vec())?,
        },
        req_policy: None,
        nonce: Some(Int::new(&nonce_bytes(nonce))?),
        cert_req: true,
        extensions: None,
    };
    Ok(request.to_der()?)
}

/// The token out of a TimeStampResp, when the authority granted it.
pub fn token_from_reply(reply: &[u8]) -> Result<Vec<u8>, CmsError> {
    let response = TimeStampResp::from_der(reply)?;
    if response.status.status > 1 {
        let text = response
            .status
            .status_string
            .map(|texts| texts.join("; "))
            .unwrap_or_default();
        return Err(CmsError::Timestamp(format!(
            "the request was refused (PKIStatus {}{}{text})",
            response.status.status,
            if text.is_empty() { "" } else { ": " }
        )));
    }
    let token = response
        .time_stamp_token
        .ok_or(CmsError::Timestamp("the reply holds no token".into()))?;
    Ok(token.to_der()?)
}

/// A GeneralizedTime as RFC 3161 writes it (`YYYYMMDDHHMMSS[.fff]Z`).
fn generalized_time(value: &Any) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(value.value()).ok()?;
    let seconds = text.trim_end_matches('Z').split('.').next()?;
    chrono::NaiveDateTime::parse_from_str(seconds, "%Y%m%d%H%M%S")
        .ok()
        .map(|naive| naive.and_utc())
}

fn read_info(reading: &CmsReading) -> Result<TstInfo, CmsError> {
    let (kind, content) = reading
        .encapsulated()
        .ok_or(CmsError::Invalid("the time-stamp token holds no TSTInfo"))?;
    if *kind != oid::TST_INFO {
        return Err(CmsError::Invalid("the time-stamp token holds no TSTInfo"));
    }
    Ok(TstInfo::from_der(content)?)
}

/// Reads a token (a CMS ContentInfo) and checks what can be checked without the stamped data.
pub fn read_token(token: &[u8]) -> Result<TokenReading, CmsError> {
    let reading = cms::read(token)?;
    let info = read_info(&reading)?;
    let content = reading
        .encapsulated()
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    let signature_valid = reading.signature_valid() && reading.digest_matches(&[&content]);
    let authority = reading.signer_certificate().cloned();
    let time_stamping_purpose = authority.as_ref().is_some_and(|cert| {
        matches!(cert.extended_key_usage(), Ok(Some((true, purposes)))
            if purposes == [oid::KP_TIME_STAMPING])
    });
    Ok(TokenReading {
        time: generalized_time(&info.gen_time),
        imprint_algorithm: info.message_imprint.hash_algorithm.oid,
        imprint: info.message_imprint.hashed_message.as_bytes().to_vec(),
        nonce: info.nonce.map(|n| n.as_bytes().to_vec()),
        authority,
        certificates: reading.certificates,
        signature_valid,
        time_stamping_purpose,
    })
}

impl TokenReading {
    /// The token stamps exactly `data` (its imprint is the digest of it).
    pub fn stamps(&self, data: &[&[u8]]) -> bool {
        cms::digest_with(&self.imprint_algorithm, data).as_deref() == Some(self.imprint.as_slice())
    }
}

/// Checks a token just received for `digest` (SHA-256) and `nonce`: everything must hold, or
/// the precise reason is returned.
pub fn check_fresh_token(
    token: &[u8],
    digest: &[u8; 32],
    nonce: u64,
) -> Result<TokenReading, String> {
    let reading = read_token(token).map_err(|err| err.to_string())?;
    if reading.imprint_algorithm != oid::SHA256 || reading.imprint != digest {
        return Err("the token's imprint is not the digest that was sent".into());
    }
    if reading.nonce.as_deref() != Some(nonce_bytes(nonce).as_slice()) {
        return Err("the token's nonce is not the one that was sent".into());
    }
    if reading.authority.is_none() {
        return Err("the token does not embed the authority's certificate".into());
    }
    if !reading.signature_valid {
        return Err(
            "the token's signature does not verify with the authority's certificate".into(),
        );
    }
    if !reading.time_stamping_purpose {
        return Err(
            "the authority's certificate is not for time-stamping (no critical timeStamping extended key usage)"
                .into(),
        );
    }
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_der_and_refusals_are_errors() {
        let request = request(&[7; 32], 42).unwrap();
        let parsed = TimeStampReq::from_der(&request).unwrap();
        assert_eq!(parsed.message_imprint.hashed_message.as_bytes(), &[7; 32]);
        assert!(parsed.cert_req);
        assert_eq!(nonce_bytes(42), vec![42]);
        assert_eq!(nonce_bytes(0x80), vec![0, 0x80]);
        assert_eq!(nonce_bytes(0), vec![0]);
        // A TimeStampResp with status "rejection" (2) and no token.
        let refused = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];
        assert!(matches!(
            token_from_reply(&refused),
            Err(CmsError::Timestamp(text)) if text.contains("PKIStatus 2")
        ));
    }
}
