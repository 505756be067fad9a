//! A small DER writer and reader: the ASN.1 needed for X.509 certificates, CMS SignedData
//! (the PAdES seal) and RFC 3161 time-stamps, and nothing more.

/// Universal tags used here.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const IA5_STRING: u8 = 0x16;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
}

/// Well-known object identifiers.
pub mod oid {
    pub const DATA: &str = "1.2.840.113549.1.7.1";
    pub const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
    pub const CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
    pub const MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
    pub const SIGNING_CERTIFICATE_V2: &str = "1.2.840.113549.1.9.16.2.47";
    pub const SIGNATURE_TIME_STAMP_TOKEN: &str = "1.2.840.113549.1.9.16.2.14";
    pub const TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
    pub const SHA256: &str = "2.16.840.1.101.3.4.2.1";
    pub const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
    pub const ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";
    pub const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
    pub const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
    pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
    pub const PRIME256V1: &str = "1.2.840.10045.3.1.7";
    pub const SECP384R1: &str = "1.3.132.0.34";
    pub const COMMON_NAME: &str = "2.5.4.3";
    pub const COUNTRY: &str = "2.5.4.6";
    pub const ORGANIZATION: &str = "2.5.4.10";
    pub const BASIC_CONSTRAINTS: &str = "2.5.29.19";
    pub const KEY_USAGE: &str = "2.5.29.15";
    pub const SUBJECT_KEY_ID: &str = "2.5.29.14";
    pub const AUTHORITY_KEY_ID: &str = "2.5.29.35";
}

/// One tag-length-value.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

pub fn sequence(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(tag::SEQUENCE, &items.concat())
}

/// A SET OF in DER order (elements sorted by their encodings).
pub fn set_of(mut items: Vec<Vec<u8>>) -> Vec<u8> {
    items.sort();
    tlv(tag::SET, &items.concat())
}

/// `[n]` constructed: an EXPLICIT tag around one element, or an IMPLICIT SET/SEQUENCE.
pub fn context(number: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xa0 | number, content)
}

/// `[n]` primitive (IMPLICIT on a primitive type).
pub fn context_primitive(number: u8, content: &[u8]) -> Vec<u8> {
    tlv(0x80 | number, content)
}

pub fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|a| a.parse().ok()).collect();
    let mut content = Vec::new();
    if arcs.len() >= 2 {
        push_base128(&mut content, arcs[0] * 40 + arcs[1]);
        for arc in &arcs[2..] {
            push_base128(&mut content, *arc);
        }
    }
    tlv(tag::OID, &content)
}

fn push_base128(out: &mut Vec<u8>, mut value: u64) {
    let mut groups = vec![(value & 0x7f) as u8];
    value >>= 7;
    while value > 0 {
        groups.push(0x80 | (value & 0x7f) as u8);
        value >>= 7;
    }
    groups.reverse();
    out.extend(groups);
}

/// A non-negative INTEGER from big-endian magnitude bytes.
pub fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = {
        let skip = magnitude.iter().take_while(|b| **b == 0).count();
        &magnitude[skip.min(magnitude.len().saturating_sub(1))..]
    };
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.is_empty() {
        content.push(0);
    } else {
        if trimmed[0] & 0x80 != 0 {
            content.push(0);
        }
        content.extend_from_slice(trimmed);
    }
    tlv(tag::INTEGER, &content)
}

pub fn small_integer(value: u64) -> Vec<u8> {
    unsigned_integer(&value.to_be_bytes())
}

pub fn octet_string(bytes: &[u8]) -> Vec<u8> {
    tlv(tag::OCTET_STRING, bytes)
}

pub fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    tlv(tag::BIT_STRING, &content)
}

pub fn boolean(value: bool) -> Vec<u8> {
    tlv(tag::BOOLEAN, &[if value { 0xff } else { 0 }])
}

pub fn null() -> Vec<u8> {
    vec![tag::NULL, 0]
}

pub fn utf8_string(text: &str) -> Vec<u8> {
    tlv(tag::UTF8_STRING, text.as_bytes())
}

/// A time as UTCTime up to 2049 and GeneralizedTime after, as RFC 5280 asks.
pub fn time(at: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    use chrono::Datelike;
    if at.year() < 2050 {
        tlv(
            tag::UTC_TIME,
            at.format("%y%m%d%H%M%SZ").to_string().as_bytes(),
        )
    } else {
        tlv(
            tag::GENERALIZED_TIME,
            at.format("%Y%m%d%H%M%SZ").to_string().as_bytes(),
        )
    }
}

/// AlgorithmIdentifier with no parameters (ECDSA) or NULL parameters (RSA, SHA-2).
pub fn algorithm(dotted: &str, null_parameters: bool) -> Vec<u8> {
    if null_parameters {
        sequence(&[oid(dotted), null()])
    } else {
        sequence(&[oid(dotted)])
    }
}

/// A distinguished name from (attribute OID, value) pairs, one attribute per RDN.
pub fn name(attributes: &[(&str, &str)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attributes
        .iter()
        .map(|(kind, value)| {
            let value = if *kind == oid::COUNTRY {
                tlv(tag::PRINTABLE_STRING, value.as_bytes())
            } else {
                utf8_string(value)
            };
            set_of(vec![sequence(&[oid(kind), value])])
        })
        .collect();
    sequence(&rdns)
}

/// Why DER bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed DER: {0}")]
pub struct DerError(pub &'static str);

/// One element read from DER.
#[derive(Debug, Clone, Copy)]
pub struct Element<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    /// The whole element, tag and length included.
    pub raw: &'a [u8],
}

impl<'a> Element<'a> {
    /// The elements inside a constructed element.
    pub fn children(&self) -> Reader<'a> {
        Reader::new(self.content)
    }

    pub fn expect(self, tag: u8) -> Result<Self, DerError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(DerError("unexpected element"))
        }
    }

    pub fn oid_string(&self) -> Result<String, DerError> {
        if self.tag != tag::OID || self.content.is_empty() {
            return Err(DerError("expected an object identifier"));
        }
        let mut arcs = Vec::new();
        let mut value: u64 = 0;
        for byte in self.content {
            value = value
                .checked_mul(128)
                .ok_or(DerError("object identifier arc too large"))?
                | u64::from(byte & 0x7f);
            if byte & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = (value / 40).min(2);
                    arcs.push(first);
                    arcs.push(value - first * 40);
                } else {
                    arcs.push(value);
                }
                value = 0;
            }
        }
        Ok(arcs
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."))
    }
}

/// Reads consecutive elements.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.position >= self.bytes.len()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    #[allow(
        clippy::should_implement_trait,
        reason = "a fallible reader, not an Iterator: each call can fail"
    )]
    pub fn next(&mut self) -> Result<Element<'a>, DerError> {
        let start = self.position;
        let tag = *self.bytes.get(start).ok_or(DerError("unexpected end"))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-byte tags are not supported"));
        }
        let first = *self
            .bytes
            .get(start + 1)
            .ok_or(DerError("unexpected end"))?;
        let (length, header) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let count = (first & 0x7f) as usize;
            if count == 0 || count > 4 {
                return Err(DerError("unsupported length"));
            }
            let bytes = self
                .bytes
                .get(start + 2..start + 2 + count)
                .ok_or(DerError("unexpected end"))?;
            let length = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (length, 2 + count)
        };
        let end = start
            .checked_add(header)
            .and_then(|v| v.checked_add(length))
            .ok_or(DerError("length overflow"))?;
        if end > self.bytes.len() {
            return Err(DerError("element longer than its container"));
        }
        self.position = end;
        Ok(Element {
            tag,
            content: &self.bytes[start + header..end],
            raw: &self.bytes[start..end],
        })
    }

    /// The next element, which must carry `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Element<'a>, DerError> {
        self.next()?.expect(tag)
    }

    /// The next element if it carries `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Element<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.next().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Parses one whole element (nothing may follow it).
pub fn parse(bytes: &[u8]) -> Result<Element<'_>, DerError> {
    let mut reader = Reader::new(bytes);
    let element = reader.next()?;
    if !reader.is_empty() {
        return Err(DerError("trailing bytes"));
    }
    Ok(element)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_identifiers_round_trip() {
        for dotted in [
            oid::SHA256,
            oid::SIGNING_CERTIFICATE_V2,
            oid::PRIME256V1,
            "2.5.4.3",
        ] {
            let encoded = oid(dotted);
            assert_eq!(parse(&encoded).unwrap().oid_string().unwrap(), dotted);
        }
        assert_eq!(
            oid(oid::SHA256),
            hex::decode("0609608648016503040201").unwrap()
        );
    }

    #[test]
    fn lengths_and_integers_follow_der() {
        assert_eq!(small_integer(0), vec![2, 1, 0]);
        assert_eq!(small_integer(128), vec![2, 2, 0, 128]);
        assert_eq!(unsigned_integer(&[0, 0, 1]), vec![2, 1, 1]);
        let long = octet_string(&[7; 300]);
        assert_eq!(&long[..4], &[4, 0x82, 1, 44]);
        let element = parse(&long).unwrap();
        assert_eq!(element.content.len(), 300);
        assert!(parse(&long[..200]).is_err());
        assert!(parse(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_err());
    }
}
