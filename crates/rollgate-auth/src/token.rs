//! Opaque bearer tokens: prefixed, checksummed, stored only as a hash.
//!
//! Format, after GitHub's: `<prefix><43 base62 chars of 32 random bytes><6 base62
//! chars of the CRC32 of everything before>`, for example
//! `rgs_2bX…9Qk01aZ`. The prefix names the kind ([`TokenKind`]) so secret
//! scanners can find leaked tokens; the checksum lets a scanner, and
//! [`parse`], tell a real token from a typo or a look-alike without a
//! database lookup. The checksum is not a security feature: the 256 random
//! bits are.
//!
//! Because tokens are high-entropy, a fast hash is the right one:
//! the store keeps only [`TokenHash`] (SHA-256, lowercase hex) and looks tokens
//! up by it. Plaintext exists only in [`Secret`], whose `Debug` and `Display`
//! print `rgs_****`.
//!
//! This module does not know about expiry, revocation or scopes; the store does.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// What a token authenticates, told by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A user's login session (`rgt_…`), short-lived.
    Session,
    /// A service account's key (`rgs_…`), used as its password; shown once.
    ServiceAccount,
}

impl TokenKind {
    pub const ALL: [TokenKind; 2] = [TokenKind::Session, TokenKind::ServiceAccount];

    /// The prefix, underscore included: `rgt_` or `rgs_`.
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Session => "rgt_",
            TokenKind::ServiceAccount => "rgs_",
        }
    }
}

/// A token in plaintext. Redacted in `Debug` and `Display`; zeroed on drop.
/// Use [`Secret::expose`] only at the point where it is handed to the user
/// (shown once) or sent as a credential.
#[derive(Clone)]
pub struct Secret {
    kind: TokenKind,
    text: Zeroizing<String>,
}

impl Secret {
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The plaintext token. Do not log it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The hash to store and to look the token up by.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.text)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}****)", self.kind.prefix())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}****", self.kind.prefix())
    }
}

/// Constant-time, so comparing a presented token with an expected one leaks
/// nothing through timing.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.text.as_bytes().ct_eq(other.text.as_bytes()).into()
    }
}

impl Eq for Secret {}

/// SHA-256 of a token's full text (prefix included), as 64 lowercase hex
/// digits: the only form a token is stored in.
#[derive(Clone)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hashes a token's text. Prefer [`parse`] followed by
    /// [`ParsedToken::hash`] for presented tokens, so garbage is rejected before
    /// it is hashed and looked up.
    pub fn of(token: &str) -> TokenHash {
        let digest = Sha256::digest(token.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest.iter() {
            hex.push(hex_digit(byte >> 4));
            hex.push(hex_digit(byte & 0x0f));
        }
        TokenHash(hex)
    }

    /// Reads a hash back from the store: exactly 64 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Result<TokenHash, TokenError> {
        if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(TokenHash(hex.to_owned()))
        } else {
            Err(TokenError::MalformedHash)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Constant-time, although hashes of high-entropy tokens are not secrets,
/// so a caller comparing in memory need not think about it.
impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for TokenHash {}

/// Agrees with the constant-time `PartialEq`: equal hashes are equal strings.
impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.0)
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A presented token whose prefix, length, alphabet and checksum are valid.
/// It may still be unknown, expired or revoked: that is for the store to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken {
    pub kind: TokenKind,
    pub secret: Secret,
}

impl ParsedToken {
    pub fn hash(&self) -> TokenHash {
        self.secret.hash()
    }
}

/// Why a presented string is not a Rollgate token. Messages never include the
/// presented text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token does not start with `rgt_` (session) or `rgs_` (service account key)")]
    UnknownPrefix,
    #[error("the token has {actual} characters after its prefix, expected {TOKEN_BODY_LEN}")]
    WrongLength { actual: usize },
    #[error("the token contains a character outside A-Z, a-z and 0-9 after its prefix")]
    InvalidCharacter,
    #[error(
        "the token's checksum does not match: it was mistyped or truncated, or is not a Rollgate token"
    )]
    BadChecksum,
    #[error("a stored token hash must be 64 lowercase hex digits")]
    MalformedHash,
}

/// Makes a new token of `kind` from 32 bytes of OS-seeded randomness and
/// returns it with the hash to store.
pub fn generate(kind: TokenKind) -> (Secret, TokenHash) {
    let mut random = Zeroizing::new([0u8; RANDOM_BYTES]);
    rand::rng().fill_bytes(random.as_mut());
    let mut text = Zeroizing::new(String::with_capacity(kind.prefix().len() + TOKEN_BODY_LEN));
    text.push_str(kind.prefix());
    push_base62(&mut text, random.as_ref(), RANDOM_CHARS);
    let checksum = crc32(text.as_bytes());
    push_base62(&mut text, &checksum.to_be_bytes(), CHECKSUM_CHARS);
    let secret = Secret { kind, text };
    let hash = secret.hash();
    (secret, hash)
}

/// Checks a presented token's prefix, length, alphabet and checksum, without
/// hashing it or touching any store.
pub fn parse(token: &str) -> Result<ParsedToken, TokenError> {
    let kind = TokenKind::ALL
        .into_iter()
        .find(|kind| token.starts_with(kind.prefix()))
        .ok_or(TokenError::UnknownPrefix)?;
    let body = &token[kind.prefix().len()..];
    if body.len() != TOKEN_BODY_LEN {
        return Err(TokenError::WrongLength {
            actual: body.chars().count(),
        });
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TokenError::InvalidCharacter);
    }
    let (checked, checksum) = token.split_at(token.len() - CHECKSUM_CHARS);
    let mut expected = String::with_capacity(CHECKSUM_CHARS);
    push_base62(
        &mut expected,
        &crc32(checked.as_bytes()).to_be_bytes(),
        CHECKSUM_CHARS,
    );
    if !bool::from(expected.as_bytes().ct_eq(checksum.as_bytes())) {
        return Err(TokenError::BadChecksum);
    }
    Ok(ParsedToken {
        kind,
        secret: Secret {
            kind,
            text: Zeroizing::new(token.to_owned()),
        },
    })
}

impl FromStr for ParsedToken {
    type Err = TokenError;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        parse(token)
    }
}

const RANDOM_BYTES: usize = 32;
/// 62^43 > 2^256, so 43 base62 digits hold any 32 bytes.
const RANDOM_CHARS: usize = 43;
/// 62^6 > 2^32, so 6 base62 digits hold any CRC32.
const CHECKSUM_CHARS: usize = 6;
const TOKEN_BODY_LEN: usize = RANDOM_CHARS + CHECKSUM_CHARS;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Appends `bytes`, read as a big-endian number, as exactly `width` base62
/// digits, most significant first (zero-padded), so every token has the same length.
fn push_base62(out: &mut String, bytes: &[u8], width: usize) {
    let mut number = Zeroizing::new(bytes.to_vec());
    let mut digits = Zeroizing::new(vec![0u8; width]);
    for slot in digits.iter_mut().rev() {
        // Long division of the whole number by 62; the remainder is the next digit.
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        *slot = BASE62[remainder as usize];
    }
    debug_assert!(number.iter().all(|&b| b == 0), "base62 width too small");
    out.extend(digits.iter().map(|&d| char::from(d)));
}

/// CRC-32 (IEEE 802.3, as in zip and GitHub's token checksum), bitwise:
/// tokens are short, so a table is not worth it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_hash_consistently() {
        for kind in TokenKind::ALL {
            let (secret, hash) = generate(kind);
            let text = secret.expose();
            assert!(text.starts_with(kind.prefix()));
            assert_eq!(text.len(), 4 + 43 + 6, "{}", text.len());
            let parsed = parse(text).unwrap();
            assert_eq!(parsed.kind, kind);
            assert_eq!(parsed.hash(), hash);
            assert_eq!(parsed.secret, secret);
            assert_eq!(hash, TokenHash::of(text));
            assert_eq!(TokenHash::from_hex(hash.as_str()).unwrap(), hash);
        }
    }

    #[test]
    fn tokens_are_unique() {
        let (a, ha) = generate(TokenKind::ServiceAccount);
        let (b, hb) = generate(TokenKind::ServiceAccount);
        assert_ne!(a, b);
        assert_ne!(ha, hb);
    }

    #[test]
    fn token_hash_is_sha256_hex_of_the_full_text() {
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(TokenHash::from_hex("ABC"), Err(TokenError::MalformedHash));
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn base62_is_fixed_width_and_big_endian() {
        let mut out = String::new();
        push_base62(&mut out, &[0, 0, 0, 63], 6);
        assert_eq!(out, "000011");
        let mut max = String::new();
        push_base62(&mut max, &[0xff; 32], 43);
        assert_eq!(max.len(), 43);
    }

    #[test]
    fn tampered_or_foreign_tokens_are_rejected() {
        let (secret, _) = generate(TokenKind::Session);
        let text = secret.expose();

        // Change one random character, keeping the alphabet.
        let mut tampered = text.as_bytes().to_vec();
        tampered[10] = if tampered[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            parse(std::str::from_utf8(&tampered).unwrap()),
            Err(TokenError::BadChecksum)
        );

        // Change one checksum character.
        let mut bad_checksum = text.as_bytes().to_vec();
        let last = bad_checksum.len() - 1;
        bad_checksum[last] = if bad_checksum[last] == b'0' {
            b'1'
        } else {
            b'0'
        };
        assert_eq!(
            parse(std::str::from_utf8(&bad_checksum).unwrap()),
            Err(TokenError::BadChecksum)
        );

        // The same body under the other prefix fails its checksum too.
        let swapped = text.replacen("rgt_", "rgs_", 1);
        assert_eq!(parse(&swapped), Err(TokenError::BadChecksum));

        assert_eq!(
            parse(&text.replacen("rgt_", "ghp_", 1)),
            Err(TokenError::UnknownPrefix)
        );
        assert_eq!(parse(""), Err(TokenError::UnknownPrefix));
        assert_eq!(
            parse(&text[..text.len() - 1]),
            Err(TokenError::WrongLength { actual: 48 })
        );
        assert_eq!(parse("rgs_é"), Err(TokenError::WrongLength { actual: 1 }));
        let with_dash = format!("rgs_{}-", &text[4..text.len() - 1]);
        assert_eq!(parse(&with_dash), Err(TokenError::InvalidCharacter));
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let (secret, _) = generate(TokenKind::ServiceAccount);
        let body = &secret.expose()[4..];
        let parsed = parse(secret.expose()).unwrap();
        for shown in [
            format!("{secret:?}"),
            format!("{secret}"),
            format!("{secret:#?}"),
            format!("{parsed:?}"),
            format!("{parsed:#?}"),
        ] {
            assert!(!shown.contains(body), "{shown}");
            assert!(!shown.contains(&body[..8]), "{shown}");
            assert!(shown.contains("rgs_****"), "{shown}");
        }
        assert_eq!(secret.to_string(), "rgs_****");
    }

    #[test]
    fn errors_never_echo_the_token() {
        let (secret, _) = generate(TokenKind::ServiceAccount);
        let mut text = secret.expose().to_owned();
        text.pop();
        text.push('!');
        let message = parse(&text).unwrap_err().to_string();
        assert!(!message.contains(&text[4..20]), "{message}");
    }
}
