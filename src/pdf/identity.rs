//! The platform's sealing identity: a private key with its certificate chain. Generated on first
//! start (a self-signed CA and a P-256 signing certificate, made with rcgen), or the operator's
//! own key and chain (PEM, or a PKCS#12 file). Keys sign on ring.

use super::asn1::oid;
use super::x509::Cert;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use der::asn1::{BitString, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use spki::AlgorithmIdentifierOwned;

/// Why an identity could not be made, loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the private key cannot be read: {0}")]
    BadKey(String),
    #[error("the certificate chain cannot be read: {0}")]
    BadChain(String),
    #[error("the private key does not belong to the first certificate of the chain")]
    KeyMismatch,
    #[error("signing failed")]
    SigningFailed,
}

enum SealKey {
    EcdsaP256(EcdsaKeyPair),
    EcdsaP384(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A key and its chain (leaf first).
pub struct SealIdentity {
    key: SealKey,
    chain: Vec<Cert>,
    rng: SystemRandom,
}

/// `ECPrivateKey` (RFC 5915), as in a `BEGIN EC PRIVATE KEY` block.
#[derive(Sequence)]
struct EcPrivateKey {
    version: u8,
    private_key: OctetString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    parameters: Option<ObjectIdentifier>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    public_key: Option<BitString>,
}

/// `PrivateKeyInfo` (PKCS#8 v1).
#[derive(Sequence)]
struct PrivateKeyInfo {
    version: u8,
    algorithm: AlgorithmIdentifierOwned,
    private_key: OctetString,
}

fn rcgen_time(at: DateTime<Utc>) -> Result<time::OffsetDateTime, IdentityError> {
    time::OffsetDateTime::from_unix_timestamp(at.timestamp())
        .map_err(|_| IdentityError::SigningFailed)
}

/// PEM files of a generated identity, to be written to the data folder.
#[derive(Debug, Clone)]
pub struct GeneratedIdentity {
    pub ca_certificate_pem: String,
    pub certificate_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for SealIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealIdentity")
            .field("subject", &self.subject())
            .finish_non_exhaustive()
    }
}

/// PEM armour around DER.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every PEM block in a text: (label, DER).
pub fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            let line = line.trim();
            if line == end {
                closed = true;
                break;
            }
            if line.contains(':') {
                return Err(format!(
                    "the {label} block is encrypted; give an unencrypted key"
                ));
            }
            body.push_str(line);
        }
        if !closed {
            return Err(format!("the {label} block has no END line"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|err| format!("the {label} block is not valid base64: {err}"))?;
        blocks.push((label.to_string(), der));
    }
    Ok(blocks)
}

impl SealIdentity {
    /// A new self-signed CA and a signing certificate issued by it, both ECDSA P-256.
    pub fn generate(
        organization: &str,
        now: DateTime<Utc>,
    ) -> Result<(Self, GeneratedIdentity), IdentityError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
            PKCS_ECDSA_P256_SHA256,
        };
        let failed = |err: rcgen::Error| IdentityError::BadChain(err.to_string());
        let organization = if organization.trim().is_empty() {
            "signbridge"
        } else {
            organization.trim()
        };
        let params =
            |common_name: String, years: i64| -> Result<CertificateParams, IdentityError> {
                let mut params = CertificateParams::default();
                params
                    .distinguished_name
                    .push(DnType::OrganizationName, organization);
                params
                    .distinguished_name
                    .push(DnType::CommonName, common_name);
                params.not_before = rcgen_time(now - Duration::hours(1))?;
                params.not_after = rcgen_time(now + Duration::days(365 * years))?;
                Ok(params)
            };
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed)?;
        let mut ca_params = params(format!("{organization} Seal CA"), 25)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_certificate = ca_params.self_signed(&ca_key).map_err(failed)?;
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed)?;
        let mut leaf_params = params(format!("{organization} Document Seal"), 15)?;
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        leaf_params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::new(ca_params, ca_key);
        let certificate = leaf_params.signed_by(&leaf_key, &issuer).map_err(failed)?;
        let leaf_pkcs8 = leaf_key.serialize_der();
        let generated = GeneratedIdentity {
            ca_certificate_pem: pem("CERTIFICATE", ca_certificate.der()),
            certificate_pem: format!(
                "{}{}",
                pem("CERTIFICATE", certificate.der()),
                pem("CERTIFICATE", ca_certificate.der())
            ),
            key_pem: pem("PRIVATE KEY", &leaf_pkcs8),
        };
        let rng = SystemRandom::new();
        let key = Self::pkcs8_key(&leaf_pkcs8, &rng)?;
        let identity = Self::from_parts(
            key,
            vec![certificate.der().to_vec(), ca_certificate.der().to_vec()],
            rng,
        )?;
        Ok((identity, generated))
    }

    /// The operator's key (PKCS#8, SEC1 EC or PKCS#1 RSA, unencrypted PEM) and chain (PEM
    /// certificates, the signing certificate first).
    pub fn from_pem(key_pem: &str, chain_pem: &str) -> Result<Self, IdentityError> {
        let rng = SystemRandom::new();
        let chain: Vec<Vec<u8>> = pem_blocks(chain_pem)
            .map_err(IdentityError::BadChain)?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der)
            .collect();
        if chain.is_empty() {
            return Err(IdentityError::BadChain("no CERTIFICATE block found".into()));
        }
        let blocks = pem_blocks(key_pem).map_err(IdentityError::BadKey)?;
        let (label, key_der) = blocks
            .into_iter()
            .find(|(label, _)| label.ends_with("PRIVATE KEY"))
            .ok_or_else(|| IdentityError::BadKey("no PRIVATE KEY block found".into()))?;
        let key = match label.as_str() {
            "PRIVATE KEY" => Self::pkcs8_key(&key_der, &rng)?,
            "EC PRIVATE KEY" => Self::pkcs8_key(&sec1_to_pkcs8(&key_der)?, &rng)?,
            "RSA PRIVATE KEY" => SealKey::Rsa(
                RsaKeyPair::from_der(&key_der)
                    .map_err(|err| IdentityError::BadKey(err.to_string()))?,
            ),
            other => {
                return Err(IdentityError::BadKey(format!(
                    "{other} is not supported; convert it with `openssl pkcs8 -topk8 -nocrypt`"
                )))
            }
        };
        Self::from_parts(key, chain, rng)
    }

    /// The operator's PKCS#12 (`.p12`/`.pfx`) file: its private key and certificate chain.
    pub fn from_pkcs12(bytes: &[u8], password: &str) -> Result<Self, IdentityError> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            bytes,
            password,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|err| {
            IdentityError::BadKey(format!("the PKCS#12 file cannot be opened: {err}"))
        })?;
        let (_, entry) = store
            .private_key_chain()
            .ok_or_else(|| IdentityError::BadKey("the PKCS#12 file holds no private key".into()))?;
        let rng = SystemRandom::new();
        let key = Self::pkcs8_key(entry.key().as_der(), &rng)?;
        let chain: Vec<Vec<u8>> = entry.certs().iter().map(|c| c.as_der().to_vec()).collect();
        if chain.is_empty() {
            return Err(IdentityError::BadChain(
                "the PKCS#12 file holds no certificate for its key".into(),
            ));
        }
        Self::from_parts(key, chain, rng)
    }

    /// Checks that the key belongs to the first certificate.
    fn from_parts(
        key: SealKey,
        chain: Vec<Vec<u8>>,
        rng: SystemRandom,
    ) -> Result<Self, IdentityError> {
        let chain = chain
            .iter()
            .enumerate()
            .map(|(index, der)| {
                Cert::from_der(der).map_err(|err| {
                    IdentityError::BadChain(format!("certificate {}: {err}", index + 1))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let identity = Self { key, chain, rng };
        let leaf = identity.certificate();
        let probe = b"signbridge key check";
        let signature = identity.sign(probe)?;
        if !leaf.verifies(&identity.signature_algorithm_oid(), probe, &signature) {
            return Err(IdentityError::KeyMismatch);
        }
        Ok(identity)
    }

    fn pkcs8_key(pkcs8: &[u8], rng: &SystemRandom) -> Result<SealKey, IdentityError> {
        if let Ok(key) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, rng)
        {
            return Ok(SealKey::EcdsaP256(key));
        }
        if let Ok(key) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8, rng)
        {
            return Ok(SealKey::EcdsaP384(key));
        }
        RsaKeyPair::from_pkcs8(pkcs8)
            .map(SealKey::Rsa)
            .map_err(|err| {
                IdentityError::BadKey(format!(
                    "not an ECDSA P-256/P-384 or RSA key ({err}); EC keys must include their public key"
                ))
            })
    }

    /// Signs `message` (hashing it with the algorithm's digest).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, IdentityError> {
        match &self.key {
            SealKey::EcdsaP256(key) | SealKey::EcdsaP384(key) => key
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| IdentityError::SigningFailed),
            SealKey::Rsa(key) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut out)
                    .map_err(|_| IdentityError::SigningFailed)?;
                Ok(out)
            }
        }
    }

    /// The signature algorithm's OID.
    pub fn signature_algorithm_oid(&self) -> ObjectIdentifier {
        match self.key {
            SealKey::EcdsaP256(_) => oid::ECDSA_WITH_SHA256,
            SealKey::EcdsaP384(_) => oid::ECDSA_WITH_SHA384,
            SealKey::Rsa(_) => oid::SHA256_WITH_RSA,
        }
    }

    /// The certificates, the signing one first.
    pub fn chain(&self) -> &[Cert] {
        &self.chain
    }

    /// The signing certificate (there is always one: checked when the identity was made).
    pub fn certificate(&self) -> &Cert {
        &self.chain[0]
    }

    /// The signing certificate's subject, as `CN=…, O=…`.
    pub fn subject(&self) -> String {
        self.certificate().subject()
    }
}

/// Wraps a SEC1 `EC PRIVATE KEY` into PKCS#8, which ring reads.
fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Vec<u8>, IdentityError> {
    let bad = |what: &str| IdentityError::BadKey(format!("the EC PRIVATE KEY block {what}"));
    let key = EcPrivateKey::from_der(sec1).map_err(|err| bad(&format!("cannot be read: {err}")))?;
    if key.version != 1 {
        return Err(bad("is not version 1"));
    }
    let curve = key
        .parameters
        .ok_or_else(|| bad("does not name its curve"))?;
    if curve != oid::PRIME256V1 && curve != oid::SECP384R1 {
        return Err(bad("uses a curve other than P-256 or P-384"));
    }
    let info = PrivateKeyInfo {
        version: 0,
        algorithm: AlgorithmIdentifierOwned {
            oid: oid::EC_PUBLIC_KEY,
            parameters: Some(der::asn1::Any::from(&curve)),
        },
        private_key: OctetString::new(sec1.to_vec()).map_err(|err| bad(&err.to_string()))?,
    };
    info.to_der().map_err(|err| bad(&err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_identity_chains_to_its_ca_and_reloads_from_pem() {
        let (identity, files) = SealIdentity::generate("Acme Ltd", Utc::now()).unwrap();
        let leaf = identity.certificate();
        let ca = &identity.chain()[1];
        assert!(leaf.issued_by(ca));
        assert!(ca.issued_by(ca));
        assert!(!ca.issued_by(leaf));
        assert_eq!(leaf.subject(), "CN=Acme Ltd Document Seal, O=Acme Ltd");
        assert_eq!(leaf.common_name(), "Acme Ltd Document Seal");
        let reloaded = SealIdentity::from_pem(&files.key_pem, &files.certificate_pem).unwrap();
        let signature = reloaded.sign(b"hello").unwrap();
        assert!(leaf.verifies(&oid::ECDSA_WITH_SHA256, b"hello", &signature));
        assert!(!leaf.verifies(&oid::ECDSA_WITH_SHA256, b"hellO", &signature));
        let constraints = ca.basic_constraints().unwrap().unwrap();
        assert!(constraints.ca);
        assert!(!leaf.basic_constraints().unwrap().unwrap().ca);
        assert!(leaf.key_usage().unwrap().unwrap().digital_signature());
    }

    #[test]
    fn a_key_for_another_certificate_is_refused() {
        let (_, first) = SealIdentity::generate("One", Utc::now()).unwrap();
        let (_, second) = SealIdentity::generate("Two", Utc::now()).unwrap();
        assert_eq!(
            SealIdentity::from_pem(&first.key_pem, &second.certificate_pem).unwrap_err(),
            IdentityError::KeyMismatch
        );
        assert!(matches!(
            SealIdentity::from_pem("nonsense", &second.certificate_pem),
            Err(IdentityError::BadKey(_))
        ));
        assert!(matches!(
            SealIdentity::from_pem(
                &first.key_pem,
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            ),
            Err(IdentityError::BadChain(_))
        ));
    }
}
