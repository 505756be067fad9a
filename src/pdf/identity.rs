//! The platform's sealing identity: a private key with its certificate chain. Generated on first
//! start (a self-signed CA and a P-256 signing certificate), or the operator's own PEM key and
//! chain. Also reads certificates enough to verify seals.

use super::der::{self, oid, tag, Element, Reader};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use sha2::{Digest, Sha256};

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

/// A key and its chain (leaf first, DER).
pub struct SealIdentity {
    key: SealKey,
    chain: Vec<Vec<u8>>,
    rng: SystemRandom,
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

fn random_serial(rng: &SystemRandom) -> Vec<u8> {
    let mut serial = [0u8; 16];
    // SystemRandom fails only when the OS has no randomness at all.
    let _ = rng.fill(&mut serial);
    serial[0] &= 0x7f;
    serial[0] |= 0x10;
    serial.to_vec()
}

fn ec_spki(public_point: &[u8], curve: &str) -> Vec<u8> {
    der::sequence(&[
        der::sequence(&[der::oid(oid::EC_PUBLIC_KEY), der::oid(curve)]),
        der::bit_string(public_point),
    ])
}

fn key_identifier(public_point: &[u8]) -> Vec<u8> {
    Sha256::digest(public_point)[..20].to_vec()
}

fn extension(kind: &str, critical: bool, value: Vec<u8>) -> Vec<u8> {
    let mut parts = vec![der::oid(kind)];
    if critical {
        parts.push(der::boolean(true));
    }
    parts.push(der::octet_string(&value));
    der::sequence(&parts)
}

struct CertificateRequest<'a> {
    serial: Vec<u8>,
    issuer: Vec<u8>,
    subject: Vec<u8>,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    public_point: &'a [u8],
    issuer_point: &'a [u8],
    /// Key usage as a DER BIT STRING.
    key_usage: Vec<u8>,
    is_ca: bool,
}

fn make_certificate(
    request: CertificateRequest<'_>,
    issuer_key: &EcdsaKeyPair,
    rng: &SystemRandom,
) -> Result<Vec<u8>, IdentityError> {
    let basic_constraints = if request.is_ca {
        der::sequence(&[der::boolean(true), der::small_integer(0)])
    } else {
        der::sequence(&[])
    };
    let extensions = der::sequence(&[
        extension(oid::BASIC_CONSTRAINTS, true, basic_constraints),
        extension(oid::KEY_USAGE, true, request.key_usage),
        extension(
            oid::SUBJECT_KEY_ID,
            false,
            der::octet_string(&key_identifier(request.public_point)),
        ),
        extension(
            oid::AUTHORITY_KEY_ID,
            false,
            der::sequence(&[der::context_primitive(
                0,
                &key_identifier(request.issuer_point),
            )]),
        ),
    ]);
    let signature_algorithm = der::algorithm(oid::ECDSA_WITH_SHA256, false);
    let tbs = der::sequence(&[
        der::context(0, &der::small_integer(2)),
        der::unsigned_integer(&request.serial),
        signature_algorithm.clone(),
        request.issuer,
        der::sequence(&[der::time(request.not_before), der::time(request.not_after)]),
        request.subject,
        ec_spki(request.public_point, oid::PRIME256V1),
        der::context(3, &extensions),
    ]);
    let signature = issuer_key
        .sign(rng, &tbs)
        .map_err(|_| IdentityError::SigningFailed)?;
    Ok(der::sequence(&[
        tbs,
        signature_algorithm,
        der::bit_string(signature.as_ref()),
    ]))
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
        let rng = SystemRandom::new();
        let algorithm = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let ca_pkcs8 = EcdsaKeyPair::generate_pkcs8(algorithm, &rng)
            .map_err(|_| IdentityError::SigningFailed)?;
        let ca_key = EcdsaKeyPair::from_pkcs8(algorithm, ca_pkcs8.as_ref(), &rng)
            .map_err(|err| IdentityError::BadKey(err.to_string()))?;
        let leaf_pkcs8 = EcdsaKeyPair::generate_pkcs8(algorithm, &rng)
            .map_err(|_| IdentityError::SigningFailed)?;
        let leaf_key = EcdsaKeyPair::from_pkcs8(algorithm, leaf_pkcs8.as_ref(), &rng)
            .map_err(|err| IdentityError::BadKey(err.to_string()))?;
        let organization = if organization.trim().is_empty() {
            "signbridge"
        } else {
            organization.trim()
        };
        let ca_name = der::name(&[
            (oid::ORGANIZATION, organization),
            (oid::COMMON_NAME, &format!("{organization} Seal CA")),
        ]);
        let leaf_name = der::name(&[
            (oid::ORGANIZATION, organization),
            (oid::COMMON_NAME, &format!("{organization} Document Seal")),
        ]);
        let not_before = now - Duration::hours(1);
        let ca_point = ca_key.public_key().as_ref().to_vec();
        let leaf_point = leaf_key.public_key().as_ref().to_vec();
        let ca_certificate = make_certificate(
            CertificateRequest {
                serial: random_serial(&rng),
                issuer: ca_name.clone(),
                subject: ca_name.clone(),
                not_before,
                not_after: now + Duration::days(365 * 25),
                public_point: &ca_point,
                issuer_point: &ca_point,
                // keyCertSign (5) and cRLSign (6): one unused bit.
                key_usage: der::tlv(tag::BIT_STRING, &[1, 0b0000_0110]),
                is_ca: true,
            },
            &ca_key,
            &rng,
        )?;
        let certificate = make_certificate(
            CertificateRequest {
                serial: random_serial(&rng),
                issuer: ca_name,
                subject: leaf_name,
                not_before,
                not_after: now + Duration::days(365 * 15),
                public_point: &leaf_point,
                issuer_point: &ca_point,
                // digitalSignature (0) and nonRepudiation (1): six unused bits.
                key_usage: der::tlv(tag::BIT_STRING, &[6, 0b1100_0000]),
                is_ca: false,
            },
            &ca_key,
            &rng,
        )?;
        let generated = GeneratedIdentity {
            ca_certificate_pem: pem("CERTIFICATE", &ca_certificate),
            certificate_pem: format!(
                "{}{}",
                pem("CERTIFICATE", &certificate),
                pem("CERTIFICATE", &ca_certificate)
            ),
            key_pem: pem("PRIVATE KEY", leaf_pkcs8.as_ref()),
        };
        Ok((
            Self {
                key: SealKey::EcdsaP256(leaf_key),
                chain: vec![certificate, ca_certificate],
                rng,
            },
            generated,
        ))
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
            "EC PRIVATE KEY" => {
                let curve = sec1_curve(&key_der)
                    .ok_or_else(|| IdentityError::BadKey("unknown EC curve".into()))?;
                let wrapped = der::sequence(&[
                    der::small_integer(0),
                    der::sequence(&[der::oid(oid::EC_PUBLIC_KEY), der::oid(curve)]),
                    der::octet_string(&key_der),
                ]);
                Self::pkcs8_key(&wrapped, &rng)?
            }
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
        for (index, certificate) in chain.iter().enumerate() {
            Certificate::parse(certificate).map_err(|err| {
                IdentityError::BadChain(format!("certificate {}: {err}", index + 1))
            })?;
        }
        let identity = Self { key, chain, rng };
        let leaf = identity.certificate();
        let probe = b"signbridge key check";
        let signature = identity.sign(probe)?;
        if !leaf.verifies(identity.signature_algorithm_oid(), probe, &signature) {
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
    pub fn signature_algorithm_oid(&self) -> &'static str {
        match self.key {
            SealKey::EcdsaP256(_) => oid::ECDSA_WITH_SHA256,
            SealKey::EcdsaP384(_) => oid::ECDSA_WITH_SHA384,
            SealKey::Rsa(_) => oid::SHA256_WITH_RSA,
        }
    }

    /// The certificates, the signing one first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The signing certificate.
    pub fn certificate(&self) -> Certificate<'_> {
        // Checked when the identity was made.
        Certificate::parse(&self.chain[0]).unwrap_or_else(|_| unreachable!("parsed on load"))
    }

    /// The signing certificate's subject, as `CN=…, O=…`.
    pub fn subject(&self) -> String {
        self.certificate().subject_summary()
    }
}

fn sec1_curve(sec1: &[u8]) -> Option<&'static str> {
    let outer = der::parse(sec1).ok()?;
    let mut reader = outer.children();
    while !reader.is_empty() {
        let element = reader.next().ok()?;
        if element.tag == 0xa0 {
            let curve = der::parse(element.content).ok()?.oid_string().ok()?;
            return match curve.as_str() {
                oid::PRIME256V1 => Some(oid::PRIME256V1),
                oid::SECP384R1 => Some(oid::SECP384R1),
                _ => None,
            };
        }
    }
    None
}

/// The parts of an X.509 certificate a seal needs.
#[derive(Debug, Clone)]
pub struct Certificate<'a> {
    pub raw: &'a [u8],
    pub tbs: &'a [u8],
    /// The serial number INTEGER, tag and length included.
    pub serial: &'a [u8],
    pub issuer: &'a [u8],
    pub subject: &'a [u8],
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    spki_algorithm: String,
    spki_curve: Option<String>,
    public_key: &'a [u8],
    signature_algorithm: String,
    signature: &'a [u8],
}

fn parse_time(element: &Element<'_>) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(element.content).ok()?;
    let full = match element.tag {
        tag::UTC_TIME => {
            let year: u32 = text.get(0..2)?.parse().ok()?;
            format!("{}{text}", if year >= 50 { "19" } else { "20" })
        }
        tag::GENERALIZED_TIME => text.to_string(),
        _ => return None,
    };
    chrono::NaiveDateTime::parse_from_str(full.trim_end_matches('Z'), "%Y%m%d%H%M%S")
        .ok()
        .map(|naive| naive.and_utc())
}

impl<'a> Certificate<'a> {
    pub fn parse(raw: &'a [u8]) -> Result<Self, der::DerError> {
        let certificate = der::parse(raw)?.expect(tag::SEQUENCE)?;
        let mut parts = certificate.children();
        let tbs = parts.expect(tag::SEQUENCE)?;
        let signature_algorithm = parts
            .expect(tag::SEQUENCE)?
            .children()
            .next()?
            .oid_string()?;
        let signature_bits = parts.expect(tag::BIT_STRING)?;
        let signature = signature_bits
            .content
            .get(1..)
            .ok_or(der::DerError("empty signature"))?;
        let mut fields = tbs.children();
        fields.optional(0xa0)?;
        let serial = fields.expect(tag::INTEGER)?;
        fields.expect(tag::SEQUENCE)?;
        let issuer = fields.expect(tag::SEQUENCE)?;
        let validity = fields.expect(tag::SEQUENCE)?;
        let mut times = validity.children();
        let not_before = parse_time(&times.next()?);
        let not_after = parse_time(&times.next()?);
        let subject = fields.expect(tag::SEQUENCE)?;
        let spki = fields.expect(tag::SEQUENCE)?;
        let mut spki_parts = spki.children();
        let mut algorithm = spki_parts.expect(tag::SEQUENCE)?.children();
        let spki_algorithm = algorithm.next()?.oid_string()?;
        let spki_curve = algorithm
            .optional(tag::OID)?
            .and_then(|e| e.oid_string().ok());
        let key_bits = spki_parts.expect(tag::BIT_STRING)?;
        Ok(Self {
            raw: certificate.raw,
            tbs: tbs.raw,
            serial: serial.raw,
            issuer: issuer.raw,
            subject: subject.raw,
            not_before,
            not_after,
            spki_algorithm,
            spki_curve,
            public_key: key_bits
                .content
                .get(1..)
                .ok_or(der::DerError("empty key"))?,
            signature_algorithm,
            signature,
        })
    }

    /// Whether `signature` over `message` was made with this certificate's key.
    pub fn verifies(&self, algorithm_oid: &str, message: &[u8], signature: &[u8]) -> bool {
        let algorithm: &dyn signature::VerificationAlgorithm = match (
            algorithm_oid,
            self.spki_algorithm.as_str(),
            self.spki_curve.as_deref(),
        ) {
            (oid::ECDSA_WITH_SHA256, oid::EC_PUBLIC_KEY, Some(oid::PRIME256V1)) => {
                &signature::ECDSA_P256_SHA256_ASN1
            }
            (oid::ECDSA_WITH_SHA256, oid::EC_PUBLIC_KEY, Some(oid::SECP384R1)) => {
                &signature::ECDSA_P384_SHA256_ASN1
            }
            (oid::ECDSA_WITH_SHA384, oid::EC_PUBLIC_KEY, Some(oid::PRIME256V1)) => {
                &signature::ECDSA_P256_SHA384_ASN1
            }
            (oid::ECDSA_WITH_SHA384, oid::EC_PUBLIC_KEY, Some(oid::SECP384R1)) => {
                &signature::ECDSA_P384_SHA384_ASN1
            }
            (oid::SHA256_WITH_RSA, oid::RSA_ENCRYPTION, _) => {
                &signature::RSA_PKCS1_2048_8192_SHA256
            }
            _ => return false,
        };
        signature::UnparsedPublicKey::new(algorithm, self.public_key)
            .verify(message, signature)
            .is_ok()
    }

    /// Whether `issuer` signed this certificate.
    pub fn issued_by(&self, issuer: &Certificate<'_>) -> bool {
        self.issuer == issuer.subject
            && issuer.verifies(&self.signature_algorithm, self.tbs, self.signature)
    }

    pub fn subject_summary(&self) -> String {
        name_summary(self.subject)
    }

    pub fn issuer_summary(&self) -> String {
        name_summary(self.issuer)
    }

    /// The subject's common name, or the whole subject when it has none.
    pub fn common_name(&self) -> String {
        name_attributes(self.subject)
            .into_iter()
            .find(|(kind, _)| kind == "CN")
            .map(|(_, value)| value)
            .unwrap_or_else(|| self.subject_summary())
    }

    /// SHA-256 of the whole certificate.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.raw).into()
    }
}

fn name_attributes(name: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(sequence) = der::parse(name) else {
        return out;
    };
    let mut rdns = sequence.children();
    while let Ok(rdn) = rdns.next() {
        let mut attributes = rdn.children();
        while let Ok(attribute) = attributes.next() {
            let mut parts: Reader<'_> = attribute.children();
            let (Ok(kind), Ok(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let kind = match kind.oid_string().as_deref() {
                Ok(oid::COMMON_NAME) => "CN".to_string(),
                Ok(oid::ORGANIZATION) => "O".to_string(),
                Ok(oid::COUNTRY) => "C".to_string(),
                Ok("2.5.4.11") => "OU".to_string(),
                Ok("2.5.4.7") => "L".to_string(),
                Ok(other) => other.to_string(),
                Err(_) => continue,
            };
            out.push((kind, String::from_utf8_lossy(value.content).into_owned()));
        }
    }
    out
}

/// A name as `CN=…, O=…`.
pub fn name_summary(name: &[u8]) -> String {
    let mut attributes = name_attributes(name);
    attributes.reverse();
    attributes
        .iter()
        .map(|(kind, value)| format!("{kind}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_identity_chains_to_its_ca_and_reloads_from_pem() {
        let (identity, files) = SealIdentity::generate("Acme Ltd", Utc::now()).unwrap();
        let leaf = identity.certificate();
        let ca = Certificate::parse(&identity.chain()[1]).unwrap();
        assert!(leaf.issued_by(&ca));
        assert!(ca.issued_by(&ca));
        assert!(!ca.issued_by(&leaf));
        assert_eq!(
            leaf.subject_summary(),
            "CN=Acme Ltd Document Seal, O=Acme Ltd"
        );
        assert_eq!(leaf.common_name(), "Acme Ltd Document Seal");
        let reloaded = SealIdentity::from_pem(&files.key_pem, &files.certificate_pem).unwrap();
        let signature = reloaded.sign(b"hello").unwrap();
        assert!(leaf.verifies(oid::ECDSA_WITH_SHA256, b"hello", &signature));
        assert!(!leaf.verifies(oid::ECDSA_WITH_SHA256, b"hellO", &signature));
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
