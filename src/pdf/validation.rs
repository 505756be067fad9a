//! Certificate path validation, a step of its own: builds the path from a signer's certificate
//! to a root out of the certificates at hand, and checks it the way RFC 5280 asks of a seal —
//! each issuer a CA (basicConstraints) allowed to sign certificates (keyUsage keyCertSign),
//! path lengths, every certificate valid at the time of signing, the leaf's own key usage — and
//! whether it ends at a trust anchor.

use super::x509::Cert;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What the end certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Signing documents: keyUsage, when present, allows digitalSignature or nonRepudiation.
    Signing,
    /// Time-stamping: keyUsage, when present, allows digitalSignature or nonRepudiation;
    /// the extended key usage is checked with the token.
    TimeStamping,
}

/// How a path ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Anchor {
    /// At one of the configured trust anchors.
    Trusted { subject: String },
    /// At a self-signed root that is not among the configured anchors.
    NotTrusted { subject: String },
    /// At a self-signed root, and no trust anchors were given.
    NoAnchorsGiven { subject: String },
    /// Nowhere: an issuer is missing.
    Incomplete { missing_issuer: String },
}

/// A validated (or refused) certificate path.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathReport {
    /// Subjects from the end certificate up.
    pub path: Vec<String>,
    pub anchor: Anchor,
    /// The time the certificates were checked at.
    pub checked_at: DateTime<Utc>,
    /// Every rule the path breaks, in words; empty when it breaks none.
    pub problems: Vec<String>,
    /// DER of the path's certificates (for long-term validation data), not reported.
    #[serde(skip)]
    pub certificates: Vec<Cert>,
}

impl PathReport {
    /// No rule is broken and the path ends at a trust anchor (or none were given).
    pub fn acceptable(&self) -> bool {
        self.problems.is_empty()
            && matches!(
                self.anchor,
                Anchor::Trusted { .. } | Anchor::NoAnchorsGiven { .. }
            )
    }
}

fn same_key_and_name(a: &Cert, b: &Cert) -> bool {
    a.subject_name() == b.subject_name() && a.public_key() == b.public_key()
}

/// Builds and checks the path of `end` out of `pool`, at time `at`, against `anchors`.
pub fn validate_path(
    end: &Cert,
    pool: &[Cert],
    anchors: &[Cert],
    at: DateTime<Utc>,
    purpose: Purpose,
) -> PathReport {
    let mut path = vec![end.clone()];
    let mut problems = Vec::new();
    let anchor = loop {
        let current = path.last().cloned().unwrap_or_else(|| end.clone());
        if let Some(anchor) = anchors.iter().find(|a| same_key_and_name(a, &current)) {
            break Anchor::Trusted {
                subject: anchor.subject(),
            };
        }
        if current.is_self_signed() {
            break if anchors.is_empty() {
                Anchor::NoAnchorsGiven {
                    subject: current.subject(),
                }
            } else {
                Anchor::NotTrusted {
                    subject: current.subject(),
                }
            };
        }
        let issuer = anchors
            .iter()
            .chain(pool.iter())
            .find(|candidate| !path.contains(candidate) && current.issued_by(candidate));
        match issuer {
            Some(issuer) if path.len() < 16 => path.push(issuer.clone()),
            _ => {
                break Anchor::Incomplete {
                    missing_issuer: current.issuer(),
                }
            }
        }
    };

    for certificate in &path {
        if at < certificate.not_before() || at > certificate.not_after() {
            problems.push(format!(
                "{} is not valid at {} (valid from {} to {})",
                certificate.subject(),
                at.format("%Y-%m-%d %H:%M:%S UTC"),
                certificate.not_before().format("%Y-%m-%d %H:%M:%S UTC"),
                certificate.not_after().format("%Y-%m-%d %H:%M:%S UTC"),
            ));
        }
    }
    // Issuers: a CA allowed to sign certificates, within its path length.
    for (index, issuer) in path.iter().enumerate().skip(1) {
        let issued = &path[index - 1];
        match issuer.basic_constraints() {
            Ok(Some(constraints)) if constraints.ca => {
                // Intermediate CAs below this issuer, self-issued ones not counted.
                let below = path[1..index]
                    .iter()
                    .filter(|c| !c.is_self_issued())
                    .count();
                if let Some(limit) = constraints.path_len_constraint {
                    if below > usize::from(limit) {
                        problems.push(format!(
                            "{} allows {limit} intermediate CA(s) below it, the path has {below}",
                            issuer.subject()
                        ));
                    }
                }
            }
            Ok(_) => problems.push(format!(
                "{} is not a CA (basicConstraints) but issued {}",
                issuer.subject(),
                issued.subject()
            )),
            Err(err) => problems.push(format!("{}: {err}", issuer.subject())),
        }
        match issuer.key_usage() {
            Ok(Some(usage)) if !usage.key_cert_sign() => problems.push(format!(
                "{} may not sign certificates (keyUsage without keyCertSign) but issued {}",
                issuer.subject(),
                issued.subject()
            )),
            Ok(_) => {}
            Err(err) => problems.push(format!("{}: {err}", issuer.subject())),
        }
    }
    match end.key_usage() {
        Ok(Some(usage)) if !(usage.digital_signature() || usage.non_repudiation()) => problems
            .push(format!(
                "{} may not make signatures (keyUsage without digitalSignature or nonRepudiation)",
                end.subject()
            )),
        Ok(_) => {}
        Err(err) => problems.push(format!("{}: {err}", end.subject())),
    }
    if purpose == Purpose::Signing {
        if let Ok(Some((_, purposes))) = end.extended_key_usage() {
            if purposes.contains(&super::asn1::oid::KP_TIME_STAMPING) && purposes.len() == 1 {
                problems.push(format!(
                    "{} is a time-stamping certificate, not a signing one",
                    end.subject()
                ));
            }
        }
    }
    PathReport {
        path: path.iter().map(Cert::subject).collect(),
        anchor,
        checked_at: at,
        problems,
        certificates: path,
    }
}
