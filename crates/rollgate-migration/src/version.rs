//! Migration versions: the leading number of a migration file name.
//!
//! A version is one or more runs of digits separated by dots (`202505121650`,
//! `1.2.3`). It is compared numerically part by part, never as text and never
//! through a fixed-width integer, so a 30-digit timestamp neither overflows
//! nor sorts wrongly. This module does not know about file names beyond
//! splitting the version off the front of one; `name.rs` does the rest.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A parsed migration version.
///
/// Equality, ordering and hashing are numeric: `0001` equals `1`, `1.10` is
/// greater than `1.9`. Missing trailing parts count as zero, and when all
/// parts compare equal the version with fewer parts sorts first, so `1.2` <
/// `1.2.0`. That keeps the order total and deterministic while still treating
/// `1.2` and `1.2.0` as different versions.
#[derive(Debug, Clone)]
pub struct Version {
    /// The version as written, without a leading `v`/`V`.
    text: String,
    /// Each dot-separated part with leading zeros stripped (`"0"` for zero),
    /// so comparing two parts is "shorter is smaller, else compare text".
    parts: Vec<String>,
}

/// Why a string is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("the version is empty; write digits separated by dots, e.g. 202501011200 or 1.2.3")]
    Empty,
    #[error(
        "`{text}` is not a version; write digits separated by dots with an optional leading `v`, \
         e.g. 202501011200, 1.2.3 or v1.2.3"
    )]
    Invalid { text: String },
}

impl Version {
    /// Parses a whole string as a version: optional `v`/`V`, then digits with
    /// optional single dots between runs of digits. Nothing may follow.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        match Version::split_prefix(text) {
            Some((version, "")) => Ok(version),
            _ => Err(VersionError::Invalid {
                text: text.to_string(),
            }),
        }
    }

    /// Splits the longest version off the front of `text` and returns it with
    /// the remainder. A dot is part of the version only when a digit follows
    /// it, so `0001.sql` yields `0001` and `.sql`.
    pub fn split_prefix(text: &str) -> Option<(Version, &str)> {
        let digits_start = usize::from(text.starts_with(['v', 'V']));
        let bytes = text.as_bytes();
        let mut end = digits_start;
        loop {
            let run = bytes[end..]
                .iter()
                .take_while(|byte| byte.is_ascii_digit())
                .count();
            if run == 0 {
                // Only possible on the first pass: a dot is consumed only
                // when a digit follows it.
                break;
            }
            end += run;
            let dot_then_digit =
                bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
            if !dot_then_digit {
                break;
            }
            end += 1;
        }
        if end == digits_start {
            return None;
        }
        // Every byte in `digits_start..end` is an ASCII digit or dot, so both
        // slice boundaries are character boundaries.
        let written = &text[digits_start..end];
        let parts = written.split('.').map(normalize_part).collect();
        Some((
            Version {
                text: written.to_string(),
                parts,
            },
            &text[end..],
        ))
    }

    /// The version as written, without a leading `v`/`V`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        let longest = self.parts.len().max(other.parts.len());
        for index in 0..longest {
            let left = self.parts.get(index).map_or("0", String::as_str);
            let right = other.parts.get(index).map_or("0", String::as_str);
            match compare_part(left, right) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        self.parts.len().cmp(&other.parts.len())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// `cmp` returns Equal exactly when both have the same number of parts and
// every normalized part is equal, so comparing and hashing the normalized
// parts keeps Eq and Hash consistent with Ord.
impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.parts == other.parts
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts.hash(state);
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Version, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Version::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn normalize_part(part: &str) -> String {
    match part.trim_start_matches('0') {
        "" => "0".to_string(),
        significant => significant.to_string(),
    }
}

/// Compares two digit strings without leading zeros: a longer one is a
/// bigger number, equal lengths compare like text.
fn compare_part(left: &str, right: &str) -> Ordering {
    left.len().cmp(&right.len()).then_with(|| left.cmp(right))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_order(smaller: &str, bigger: &str) {
        let (a, b) = (
            Version::parse(smaller).unwrap(),
            Version::parse(bigger).unwrap(),
        );
        assert!(a < b, "expected {smaller} < {bigger}");
        assert!(b > a, "expected {bigger} > {smaller}");
        assert_ne!(a, b);
    }

    fn check_equal(left: &str, right: &str) {
        let (a, b) = (
            Version::parse(left).unwrap(),
            Version::parse(right).unwrap(),
        );
        assert_eq!(a.cmp(&b), Ordering::Equal, "{left} vs {right}");
        assert_eq!(a, b);
        let hash = |v: &Version| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            v.hash(&mut hasher);
            hasher.finish()
        };
        assert_eq!(hash(&a), hash(&b));
    }

    #[test]
    fn orders_numerically_part_by_part() {
        check_order("1.9", "1.10");
        check_order("2", "10");
        check_order("1.2", "1.2.0");
        check_order("1.2.0", "1.2.1");
        check_order("1.2.9", "1.3");
        check_order("0", "0.0");
        check_order("202501011200", "202505121650");
    }

    #[test]
    fn leading_zeros_do_not_matter() {
        check_equal("0001", "1");
        check_equal("v01.002", "1.2");
        check_equal("000", "0");
    }

    #[test]
    fn huge_parts_compare_without_overflow() {
        check_order(
            "99999999999999999999999999999",
            "100000000000000000000000000000",
        );
        check_order("18446744073709551615", "18446744073709551616");
        check_equal(
            "000123456789012345678901234567890",
            "123456789012345678901234567890",
        );
    }

    #[test]
    fn parse_accepts_and_rejects() {
        assert_eq!(Version::parse("v1.2.3").unwrap().as_str(), "1.2.3");
        assert_eq!(Version::parse("V0001").unwrap().to_string(), "0001");
        for bad in [
            "", "v", "1.", ".1", "1..2", "1.2a", "a1", " 1", "1 ", "vv1", "-1",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(
            Version::parse("1x")
                .unwrap_err()
                .to_string()
                .contains("`1x`")
        );
    }

    #[test]
    fn split_prefix_stops_before_a_dot_without_digits() {
        let split = |text| Version::split_prefix(text).map(|(v, rest)| (v.text, rest));
        assert_eq!(split("0001.sql"), Some(("0001".to_string(), ".sql")));
        assert_eq!(split("v1.2.3_x.sql"), Some(("1.2.3".to_string(), "_x.sql")));
        assert_eq!(split("1.2.sql"), Some(("1.2".to_string(), ".sql")));
        assert_eq!(split("vacuum.sql"), None);
        assert_eq!(split(".1"), None);
    }

    #[test]
    fn serializes_as_written() {
        let version = Version::parse("v007.1").unwrap();
        assert_eq!(serde_json::to_string(&version).unwrap(), "\"007.1\"");
        let back: Version = serde_json::from_str("\"7.1\"").unwrap();
        assert_eq!(back, version);
    }
}
