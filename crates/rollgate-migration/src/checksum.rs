//! Content checksums that identify what was applied.
//!
//! A checksum is tagged with its algorithm (`sha256-v1:<hex>`) so that the
//! algorithm can change later without breaking recorded history: unknown tags
//! parse fine, they just never match freshly computed text.

use std::borrow::Cow;
use std::fmt;

use sha2::{Digest, Sha256};

/// The tag of the algorithm `Checksum::of` uses: SHA-256 over the text with a
/// leading BOM removed and line endings normalized to LF, so that an editor
/// re-saving a file with CRLF does not look like an edit.
pub const SHA256_V1: &str = "sha256-v1";

/// An algorithm-tagged checksum, `<algorithm>-v<N>:<lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checksum(String);

/// Why a stored checksum string cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "checksum `{text}` is malformed: {reason}; expected `<algorithm>-v<N>:<hex>` such as \
     `sha256-v1:` followed by 64 hex digits. Check where it was recorded (the migration history)"
)]
pub struct ChecksumError {
    pub text: String,
    pub reason: &'static str,
}

impl Checksum {
    /// Computes the `sha256-v1` checksum of migration text.
    pub fn of(text: &str) -> Checksum {
        let digest = Sha256::digest(normalize(text).as_bytes());
        let mut tagged = String::with_capacity(SHA256_V1.len() + 1 + 64);
        tagged.push_str(SHA256_V1);
        tagged.push(':');
        for byte in digest.iter() {
            tagged.push(hex_digit(byte >> 4));
            tagged.push(hex_digit(byte & 0x0f));
        }
        Checksum(tagged)
    }

    /// Reads a stored checksum. Any well-formed `algo-vN:hex` tag is accepted;
    /// hex digits are lowercased so hand-edited uppercase still compares equal.
    pub fn parse(text: &str) -> Result<Checksum, ChecksumError> {
        let malformed = |reason| ChecksumError {
            text: shorten(text),
            reason,
        };
        let lowered = text.to_ascii_lowercase();
        let (tag, hex) = lowered
            .split_once(':')
            .ok_or(malformed("there is no `:`"))?;
        let (algorithm, generation) = tag
            .rsplit_once("-v")
            .ok_or(malformed("the tag has no `-v<N>`"))?;
        if algorithm.is_empty()
            || !algorithm
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(malformed(
                "the algorithm name must be letters, digits, `_` or `-`",
            ));
        }
        if generation.is_empty() || !generation.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("the tag's `-v` must be followed by digits"));
        }
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("the value after `:` must be hex digits"));
        }
        if tag == SHA256_V1 && hex.len() != 64 {
            return Err(malformed("a sha256-v1 value has exactly 64 hex digits"));
        }
        Ok(Checksum(lowered))
    }

    /// The tag before the `:`, e.g. `sha256-v1`.
    pub fn algorithm(&self) -> &str {
        // Both constructors guarantee a `:`.
        self.0.split_once(':').map_or("", |(tag, _)| tag)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` has this checksum. Always false for an algorithm this
    /// build does not know, since it cannot be recomputed.
    pub fn matches(&self, text: &str) -> bool {
        self.algorithm() == SHA256_V1 && Checksum::of(text) == *self
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Checksum {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Checksum {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Checksum, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        Checksum::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Removes a leading BOM and turns CRLF and lone CR into LF. Borrows when
/// there is nothing to change, which is the common case.
fn normalize(text: &str) -> Cow<'_, str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// Keeps error messages readable when a whole file was pasted as a checksum.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 100;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_same(left: &str, right: &str) {
        assert_eq!(
            Checksum::of(left),
            Checksum::of(right),
            "{left:?} vs {right:?}"
        );
    }

    fn check_different(left: &str, right: &str) {
        assert_ne!(
            Checksum::of(left),
            Checksum::of(right),
            "{left:?} vs {right:?}"
        );
    }

    #[test]
    fn known_value() {
        // Same as `printf 'select 1;\n' | sha256sum`.
        let expected = "sha256-v1:4a45092ccf992ea92250053a80b931b787924ba61648f420555511b84f10ab6c";
        assert_eq!(Checksum::of("select 1;\n").as_str(), expected);
        assert_eq!(Checksum::of("select 1;\r\n").as_str(), expected);
    }

    #[test]
    fn invariant_under_line_endings_and_bom() {
        check_same("a;\nb;\n", "a;\r\nb;\r\n");
        check_same("a;\nb;\n", "a;\rb;\r");
        check_same("a;\nb;\n", "\u{feff}a;\r\nb;\n");
        check_same("", "\u{feff}");
    }

    #[test]
    fn changes_with_content() {
        check_different("select 1;", "select 2;");
        check_different("select 1;", "select 1; ");
        check_different("a;\n", "a;\n\n");
        check_different("a;\n", "\u{feff}\u{feff}a;\n");
    }

    #[test]
    fn parse_round_trips_and_keeps_unknown_algorithms() {
        let computed = Checksum::of("x");
        assert_eq!(Checksum::parse(computed.as_str()).unwrap(), computed);
        assert_eq!(
            Checksum::parse(&computed.as_str().to_uppercase()).unwrap(),
            computed
        );
        let future = Checksum::parse("blake3-v2:abcdef").unwrap();
        assert_eq!(future.algorithm(), "blake3-v2");
        assert!(!future.matches("x"));
        assert!(computed.matches("x"));
        assert!(computed.matches("\u{feff}x"));
        assert!(!computed.matches("y"));
    }

    #[test]
    fn parse_rejects_malformed() {
        for bad in [
            "",
            "abc",
            "sha256:ab",
            "sha256-v:ab",
            "-v1:ab",
            "sha256-v1:",
            "sha256-v1:zz",
            "sha256-v1:abcd",
            "a b-v1:00",
        ] {
            let error = Checksum::parse(bad).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("expected `<algorithm>-v<N>:<hex>`"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn serde_as_string() {
        let checksum = Checksum::of("x");
        let json = serde_json::to_string(&checksum).unwrap();
        assert_eq!(json, format!("\"{checksum}\""));
        assert_eq!(serde_json::from_str::<Checksum>(&json).unwrap(), checksum);
        assert!(serde_json::from_str::<Checksum>("\"nope\"").is_err());
    }
}
