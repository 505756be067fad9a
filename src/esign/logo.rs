//! The account's logo: read once at start, checked to be a PNG, JPEG or SVG image of at most
//! [`MAX_LOGO_BYTES`], shown on the signing pages and in the emails.

use std::path::Path;

/// A logo larger than this is refused at start (it is sent with every page).
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// The logo's bytes and media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

impl Logo {
    /// Reads and checks the logo file; the error says what is wrong with it.
    pub fn load(path: &Path) -> Result<Logo, String> {
        let bytes =
            std::fs::read(path).map_err(|err| format!("account.logo {}: {err}", path.display()))?;
        Self::from_bytes(bytes).map_err(|why| format!("account.logo {}: {why}", path.display()))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Logo, String> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(format!(
                "{} bytes; a logo is at most {MAX_LOGO_BYTES}",
                bytes.len()
            ));
        }
        let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            "image/jpeg"
        } else if std::str::from_utf8(&bytes).is_ok_and(|text| text.contains("<svg")) {
            "image/svg+xml"
        } else {
            return Err("not a PNG, JPEG or SVG image".into());
        };
        Ok(Logo {
            bytes,
            content_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_only_and_small() {
        assert_eq!(
            Logo::from_bytes(b"\x89PNG\r\n\x1a\nrest".to_vec())
                .unwrap()
                .content_type,
            "image/png"
        );
        assert_eq!(
            Logo::from_bytes(b"<?xml version=\"1.0\"?><svg/>".to_vec())
                .unwrap()
                .content_type,
            "image/svg+xml"
        );
        assert!(Logo::from_bytes(b"%PDF-1.7".to_vec()).is_err());
        assert!(Logo::from_bytes(vec![0xFF; MAX_LOGO_BYTES + 1]).is_err());
    }
}
