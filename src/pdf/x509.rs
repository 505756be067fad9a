//! X.509 certificates as the seal needs them: RustCrypto's typed `Certificate`, the exact signed
//! bytes kept beside it, the extensions path validation reads, and signature checks on ring.

use super::asn1::oid;
use chrono::{DateTime, Utc};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier};
use der::{Decode, Encode, Sequence};
use ring::signature;
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
};
use x509_cert::name::Name;
use x509_cert::Certificate;

/// The outer shape of a certificate, to keep the signed `tbsCertificate` bytes exactly as sent.
#[derive(Sequence)]
struct SignedParts<'a> {
    tbs: AnyRef<'a>,
    algorithm: AnyRef<'a>,
    signature: BitStringRef<'a>,
}

/// A certificate: its DER, the typed structure and the bytes its issuer signed.
#[derive(Clone, Debug)]
pub struct Cert {
    der: Vec<u8>,
    tbs: Vec<u8>,
    parsed: Certificate,
}

impl PartialEq for Cert {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

/// Whether `signature` over `message` verifies with a SubjectPublicKeyInfo, for the signature
/// algorithms seals use: ECDSA P-256/P-384 and RSA PKCS#1 v1.5, with SHA-256/384/512.
pub fn verify_signature(
    spki: &spki::SubjectPublicKeyInfoOwned,
    algorithm: &ObjectIdentifier,
    message: &[u8],
    signature_value: &[u8],
) -> bool {
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let key_kind = spki.algorithm.oid;
    let scheme: &dyn signature::VerificationAlgorithm = if key_kind == oid::EC_PUBLIC_KEY {
        match (*algorithm, curve) {
            (a, Some(c)) if a == oid::ECDSA_WITH_SHA256 && c == oid::PRIME256V1 => {
                &signature::ECDSA_P256_SHA256_ASN1
            }
            (a, Some(c)) if a == oid::ECDSA_WITH_SHA384 && c == oid::PRIME256V1 => {
                &signature::ECDSA_P256_SHA384_ASN1
            }
            (a, Some(c)) if a == oid::ECDSA_WITH_SHA256 && c == oid::SECP384R1 => {
                &signature::ECDSA_P384_SHA256_ASN1
            }
            (a, Some(c)) if a == oid::ECDSA_WITH_SHA384 && c == oid::SECP384R1 => {
                &signature::ECDSA_P384_SHA384_ASN1
            }
            _ => return false,
        }
    } else if key_kind == oid::RSA_ENCRYPTION {
        match *algorithm {
            a if a == oid::SHA256_WITH_RSA => &signature::RSA_PKCS1_2048_8192_SHA256,
            a if a == oid::SHA384_WITH_RSA => &signature::RSA_PKCS1_2048_8192_SHA384,
            a if a == oid::SHA512_WITH_RSA => &signature::RSA_PKCS1_2048_8192_SHA512,
            _ => return false,
        }
    } else {
        return false;
    };
    signature::UnparsedPublicKey::new(scheme, spki.subject_public_key.raw_bytes())
        .verify(message, signature_value)
        .is_ok()
}

/// A name as people read it, the common name first, then the rest most specific first:
/// `CN=…, O=…`.
pub fn name_summary(name: &Name) -> String {
    let mut parts: Vec<String> = name
        .iter()
        .map(|attribute| {
            let kind = match attribute.oid {
                o if o == oid::COMMON_NAME => "CN".to_string(),
                o if o == oid::ORGANIZATION => "O".to_string(),
                o if o == oid::ORGANIZATIONAL_UNIT => "OU".to_string(),
                o if o == oid::COUNTRY => "C".to_string(),
                o if o == oid::LOCALITY => "L".to_string(),
                other => other.to_string(),
            };
            format!(
                "{kind}={}",
                String::from_utf8_lossy(attribute.value.value())
            )
        })
        .collect();
    parts.reverse();
    parts.sort_by_key(|part| !part.starts_with("CN="));
    parts.join(", ")
}

fn http_url(name: &GeneralName) -> Option<String> {
    match name {
        GeneralName::UniformResourceIdentifier(uri) => {
            let uri = uri.as_str();
            (uri.starts_with("http://") || uri.starts_with("https://")).then(|| uri.to_string())
        }
        _ => None,
    }
}

impl Cert {
    /// Reads one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, der::Error> {
        let parts = SignedParts::from_der(der)?;
        let tbs = parts.tbs.to_der()?;
        let parsed = Certificate::from_der(der)?;
        Ok(Self {
            der: der.to_vec(),
            tbs,
            parsed,
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn certificate(&self) -> &Certificate {
        &self.parsed
    }

    pub fn subject_name(&self) -> &Name {
        self.parsed.tbs_certificate().subject()
    }

    pub fn issuer_name(&self) -> &Name {
        self.parsed.tbs_certificate().issuer()
    }

    /// `CN=…, O=…` of the subject.
    pub fn subject(&self) -> String {
        name_summary(self.subject_name())
    }

    /// `CN=…, O=…` of the issuer.
    pub fn issuer(&self) -> String {
        name_summary(self.issuer_name())
    }

    /// The subject's common name, or the whole subject when it has none.
    pub fn common_name(&self) -> String {
        self.subject_name()
            .iter()
            .find(|a| a.oid == oid::COMMON_NAME)
            .map(|a| String::from_utf8_lossy(a.value.value()).into_owned())
            .unwrap_or_else(|| self.subject())
    }

    pub fn serial(&self) -> &x509_cert::serial_number::SerialNumber {
        self.parsed.tbs_certificate().serial_number()
    }

    pub fn public_key(&self) -> &spki::SubjectPublicKeyInfoOwned {
        self.parsed.tbs_certificate().subject_public_key_info()
    }

    pub fn not_before(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(
            self.parsed
                .tbs_certificate()
                .validity()
                .not_before
                .to_system_time(),
        )
    }

    pub fn not_after(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(
            self.parsed
                .tbs_certificate()
                .validity()
                .not_after
                .to_system_time(),
        )
    }

    /// Issuer and subject are the same name.
    pub fn is_self_issued(&self) -> bool {
        self.subject_name() == self.issuer_name()
    }

    /// A root: self-issued and signed by its own key.
    pub fn is_self_signed(&self) -> bool {
        self.is_self_issued() && self.issued_by(self)
    }

    /// The certificate names where its revocation status is published (OCSP or CRL).
    pub fn names_revocation_data(&self) -> bool {
        !(self.ocsp_urls().is_empty() && self.crl_urls().is_empty())
    }

    fn extension<'a, T: Decode<'a> + const_oid::AssociatedOid>(
        &'a self,
    ) -> Result<Option<(bool, T)>, String> {
        self.parsed
            .tbs_certificate()
            .get_extension::<T>()
            .map_err(|err| format!("the {} extension cannot be read: {err}", T::OID))
    }

    /// basicConstraints, when present.
    pub fn basic_constraints(&self) -> Result<Option<BasicConstraints>, String> {
        Ok(self
            .extension::<BasicConstraints>()?
            .map(|(_, value)| value))
    }

    /// keyUsage, when present.
    pub fn key_usage(&self) -> Result<Option<KeyUsage>, String> {
        Ok(self.extension::<KeyUsage>()?.map(|(_, value)| value))
    }

    /// extendedKeyUsage with whether it is critical, when present.
    pub fn extended_key_usage(&self) -> Result<Option<(bool, Vec<ObjectIdentifier>)>, String> {
        Ok(self
            .extension::<ExtendedKeyUsage>()?
            .map(|(critical, value)| (critical, value.0)))
    }

    fn access_urls(&self, method: ObjectIdentifier) -> Vec<String> {
        match self.extension::<AuthorityInfoAccessSyntax>() {
            Ok(Some((_, access))) => access
                .0
                .iter()
                .filter(|a| a.access_method == method)
                .filter_map(|a| http_url(&a.access_location))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The OCSP responders named in authorityInfoAccess (http and https only).
    pub fn ocsp_urls(&self) -> Vec<String> {
        self.access_urls(oid::AD_OCSP)
    }

    /// Where the issuer's certificate can be fetched (authorityInfoAccess caIssuers).
    pub fn ca_issuer_urls(&self) -> Vec<String> {
        self.access_urls(oid::AD_CA_ISSUERS)
    }

    /// The CRL distribution points (http and https only).
    pub fn crl_urls(&self) -> Vec<String> {
        match self.extension::<CrlDistributionPoints>() {
            Ok(Some((_, points))) => points
                .0
                .iter()
                .filter_map(|p| match &p.distribution_point {
                    Some(DistributionPointName::FullName(names)) => Some(names),
                    _ => None,
                })
                .flatten()
                .filter_map(http_url)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `signature_value` over `message` was made with this certificate's key.
    pub fn verifies(
        &self,
        algorithm: &ObjectIdentifier,
        message: &[u8],
        signature_value: &[u8],
    ) -> bool {
        verify_signature(self.public_key(), algorithm, message, signature_value)
    }

    /// Whether `issuer` signed this certificate (names match and the signature verifies).
    pub fn issued_by(&self, issuer: &Cert) -> bool {
        self.issuer_name() == issuer.subject_name()
            && issuer.verifies(
                &self.parsed.signature_algorithm().oid,
                &self.tbs,
                self.parsed.signature().raw_bytes(),
            )
    }

    /// SHA-256 of the whole certificate.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }
}
