//! CMS SignedData on RustCrypto's typed `cms` structures: the detached PAdES seal (SHA-256,
//! signing-certificate-v2, an optional RFC 3161 signature time-stamp) and reading any
//! SignedData back — a seal or a time-stamp token — to check it.

use super::asn1::{oid, EssCertIdV2, IssuerSerial, SigningCertificateV2};
use super::identity::{IdentityError, SealIdentity};
use super::x509::Cert;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;

/// Asks a time-stamp authority for a token over a SHA-256 digest; returns the token
/// (a CMS ContentInfo, DER), already checked against the request.
pub type Timestamper<'a> = &'a dyn Fn(&[u8; 32]) -> Result<Vec<u8>, String>;

/// Why a CMS structure could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmsError {
    #[error("the CMS structure cannot be read: {0}")]
    Der(String),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("time-stamp authority: {0}")]
    Timestamp(String),
    #[error("{0}")]
    Invalid(&'static str),
}

impl From<der::Error> for CmsError {
    fn from(err: der::Error) -> Self {
        Self::Der(err.to_string())
    }
}

fn algorithm(oid: ObjectIdentifier, null_parameters: bool) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: null_parameters.then(|| Any::from(der::asn1::Null)),
    }
}

fn attribute(kind: ObjectIdentifier, value: Any) -> Result<Attribute, CmsError> {
    let mut values = SetOfVec::new();
    values.insert(value)?;
    Ok(Attribute { oid: kind, values })
}

fn any_of<T: Encode>(value: &T) -> Result<Any, CmsError> {
    Ok(Any::from_der(&value.to_der()?)?)
}

/// The digest of `data` with the digest algorithm `kind` (SHA-256/384/512).
pub fn digest_with(kind: &ObjectIdentifier, data: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<D: Digest>(data: &[&[u8]]) -> Vec<u8> {
        let mut hasher = D::new();
        for part in data {
            hasher.update(part);
        }
        hasher.finalize().to_vec()
    }
    match *kind {
        k if k == oid::SHA256 => Some(run::<Sha256>(data)),
        k if k == oid::SHA384 => Some(run::<Sha384>(data)),
        k if k == oid::SHA512 => Some(run::<Sha512>(data)),
        _ => None,
    }
}

/// A detached CMS SignedData over content whose SHA-256 is `content_digest`, with a signature
/// time-stamp when `timestamper` is given (PAdES B-T).
pub fn signed_data(
    identity: &SealIdentity,
    content_digest: &[u8; 32],
    timestamper: Option<Timestamper<'_>>,
) -> Result<Vec<u8>, CmsError> {
    let signer = identity.certificate();
    let issuer_serial = IssuerSerial {
        issuer: vec![GeneralName::DirectoryName(signer.issuer_name().clone())],
        serial_number: signer.serial().clone(),
    };
    let signing_certificate = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(signer.sha256().to_vec())?,
            issuer_serial: Some(issuer_serial),
        }],
        policies: None,
    };
    let mut signed_attributes = SetOfVec::new();
    signed_attributes.insert(attribute(oid::CONTENT_TYPE, any_of(&oid::DATA)?)?)?;
    signed_attributes.insert(attribute(
        oid::MESSAGE_DIGEST,
        any_of(&OctetString::new(content_digest.to_vec())?)?,
    )?)?;
    signed_attributes.insert(attribute(
        oid::SIGNING_CERTIFICATE_V2,
        any_of(&signing_certificate)?,
    )?)?;
    let signature = identity.sign(&signed_attributes.to_der()?)?;
    let mut unsigned_attributes = None;
    if let Some(timestamp) = timestamper {
        let digest: [u8; 32] = Sha256::digest(&signature).into();
        let token = timestamp(&digest).map_err(CmsError::Timestamp)?;
        let mut attributes = SetOfVec::new();
        attributes.insert(attribute(
            oid::SIGNATURE_TIME_STAMP_TOKEN,
            Any::from_der(&token)?,
        )?)?;
        unsigned_attributes = Some(attributes);
    }
    let signature_algorithm = identity.signature_algorithm_oid();
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: signer.issuer_name().clone(),
            serial_number: signer.serial().clone(),
        }),
        digest_alg: algorithm(oid::SHA256, false),
        signed_attrs: Some(signed_attributes),
        signature_algorithm: algorithm(
            signature_algorithm,
            signature_algorithm == oid::SHA256_WITH_RSA,
        ),
        signature: OctetString::new(signature)?,
        unsigned_attrs: unsigned_attributes,
    };
    let mut certificates = SetOfVec::new();
    for certificate in identity.chain() {
        certificates.insert(CertificateChoices::Certificate(
            certificate.certificate().clone(),
        ))?;
    }
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms.insert(algorithm(oid::SHA256, false))?;
    let mut signer_infos = SetOfVec::new();
    signer_infos.insert(signer_info)?;
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(certificates)),
        crls: None,
        signer_infos: SignerInfos(signer_infos),
    };
    let info = ContentInfo {
        content_type: oid::SIGNED_DATA,
        content: any_of(&signed)?,
    };
    Ok(info.to_der()?)
}

/// A SignedData read back: its certificates and its (first) signer.
#[derive(Debug, Clone)]
pub struct CmsReading {
    pub certificates: Vec<Cert>,
    signer: SignerInfo,
    signer_index: Option<usize>,
    encapsulated: Option<(ObjectIdentifier, Vec<u8>)>,
}

/// Reads a CMS ContentInfo holding a SignedData with one signer.
pub fn read(content_info: &[u8]) -> Result<CmsReading, CmsError> {
    let info = ContentInfo::from_der(content_info)?;
    if info.content_type != oid::SIGNED_DATA {
        return Err(CmsError::Invalid("not a CMS SignedData"));
    }
    let signed: SignedData = info.content.decode_as()?;
    let mut certificates = Vec::new();
    for choice in signed.certificates.iter().flat_map(|set| set.0.iter()) {
        if let CertificateChoices::Certificate(certificate) = choice {
            certificates.push(Cert::from_der(&certificate.to_der()?)?);
        }
    }
    let signer = signed
        .signer_infos
        .0
        .iter()
        .next()
        .cloned()
        .ok_or(CmsError::Invalid("the SignedData has no signer"))?;
    let signer_index = certificates.iter().position(|c| match &signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            c.issuer_name() == &id.issuer && c.serial() == &id.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => c
            .certificate()
            .tbs_certificate()
            .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own == *ski),
    });
    let encapsulated = match &signed.encap_content_info.econtent {
        Some(content) => Some((
            signed.encap_content_info.econtent_type,
            content.decode_as::<OctetString>()?.as_bytes().to_vec(),
        )),
        None => None,
    };
    Ok(CmsReading {
        certificates,
        signer,
        signer_index,
        encapsulated,
    })
}

impl CmsReading {
    /// The signer's certificate, when it is embedded.
    pub fn signer_certificate(&self) -> Option<&Cert> {
        self.signer_index.map(|i| &self.certificates[i])
    }

    /// The signer's digest algorithm.
    pub fn digest_algorithm(&self) -> ObjectIdentifier {
        self.signer.digest_alg.oid
    }

    /// The signature value.
    pub fn signature_value(&self) -> &[u8] {
        self.signer.signature.as_bytes()
    }

    /// The encapsulated content (type and bytes), when the SignedData is not detached.
    pub fn encapsulated(&self) -> Option<&(ObjectIdentifier, Vec<u8>)> {
        self.encapsulated.as_ref()
    }

    fn signed_attribute(&self, kind: ObjectIdentifier) -> Option<&Any> {
        self.signer
            .signed_attrs
            .as_ref()?
            .iter()
            .find(|a| a.oid == kind)?
            .values
            .iter()
            .next()
    }

    /// The first value of an unsigned attribute (e.g. the signature time-stamp token), as DER.
    pub fn unsigned_attribute(&self, kind: ObjectIdentifier) -> Option<Vec<u8>> {
        self.signer
            .unsigned_attrs
            .as_ref()?
            .iter()
            .find(|a| a.oid == kind)?
            .values
            .iter()
            .next()
            .and_then(|value| value.to_der().ok())
    }

    /// The messageDigest signed attribute equals the digest of `content` (the signed bytes)
    /// under the signer's digest algorithm.
    pub fn digest_matches(&self, content: &[&[u8]]) -> bool {
        let Some(expected) = digest_with(&self.digest_algorithm(), content) else {
            return false;
        };
        self.signed_attribute(oid::MESSAGE_DIGEST)
            .and_then(|value| value.decode_as::<OctetString>().ok())
            .is_some_and(|digest| digest.as_bytes() == expected.as_slice())
    }

    /// The signature over the signed attributes verifies with the signer's certificate.
    pub fn signature_valid(&self) -> bool {
        let (Some(certificate), Some(attributes)) =
            (self.signer_certificate(), self.signer.signed_attrs.as_ref())
        else {
            return false;
        };
        let Ok(message) = attributes.to_der() else {
            return false;
        };
        certificate.verifies(
            &self.signature_algorithm(),
            &message,
            self.signature_value(),
        )
    }

    /// The signature algorithm, with `rsaEncryption` (which many signers write, leaving the
    /// hash to the digest algorithm) resolved to its PKCS#1 v1.5 signature with that hash.
    fn signature_algorithm(&self) -> ObjectIdentifier {
        let written = self.signer.signature_algorithm.oid;
        if written != oid::RSA_ENCRYPTION {
            return written;
        }
        match self.digest_algorithm() {
            d if d == oid::SHA384 => oid::SHA384_WITH_RSA,
            d if d == oid::SHA512 => oid::SHA512_WITH_RSA,
            _ => oid::SHA256_WITH_RSA,
        }
    }

    /// Whether the signed attributes bind the signer's certificate: `Some(true)` when the
    /// ESS signing-certificate-v2 names it, `Some(false)` when it names another, `None` when
    /// the attribute is absent.
    pub fn signing_certificate_bound(&self) -> Option<bool> {
        let value = self.signed_attribute(oid::SIGNING_CERTIFICATE_V2)?;
        let Ok(binding) = value.decode_as::<SigningCertificateV2>() else {
            return Some(false);
        };
        let (Some(certificate), Some(first)) = (self.signer_certificate(), binding.certs.first())
        else {
            return Some(false);
        };
        let kind = first
            .hash_algorithm
            .as_ref()
            .map(|a| a.oid)
            .unwrap_or(oid::SHA256);
        let hash = digest_with(&kind, &[certificate.der()]);
        let serial_ok = first
            .issuer_serial
            .as_ref()
            .is_none_or(|is| &is.serial_number == certificate.serial());
        Some(hash.as_deref() == Some(first.cert_hash.as_bytes()) && serial_ok)
    }

    /// Whether the signed attributes carry a signing-time (PAdES forbids it: the time is in
    /// the signature dictionary's `/M`).
    pub fn has_signing_time(&self) -> bool {
        self.signed_attribute(oid::SIGNING_TIME).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn a_signed_data_checks_out_and_a_wrong_digest_does_not() {
        let (identity, _) = SealIdentity::generate("Test", Utc::now()).unwrap();
        let content = b"the document";
        let digest: [u8; 32] = Sha256::digest(content).into();
        let cms = signed_data(&identity, &digest, None).unwrap();
        let reading = read(&cms).unwrap();
        assert!(reading.digest_matches(&[content]));
        assert!(reading.signature_valid());
        assert_eq!(reading.signing_certificate_bound(), Some(true));
        assert!(!reading.has_signing_time());
        assert_eq!(reading.certificates.len(), 2);
        assert_eq!(
            reading.signer_certificate().unwrap().common_name(),
            "Test Document Seal"
        );
        assert!(!reading.digest_matches(&[b"another document"]));

        // A changed signature value no longer verifies.
        let mut broken = cms.clone();
        let signature = reading.signature_value().to_vec();
        let at = memchr::memmem::find(&broken, &signature).unwrap() + 5;
        broken[at] ^= 1;
        assert!(!read(&broken).unwrap().signature_valid());
    }
}
