//! Encryption at rest of database credentials.
//!
//! A credential is stored as a text envelope
//! `v1:<key-id>:<nonce>:<ciphertext>`, where nonce and ciphertext are
//! base64url without padding, the cipher is XChaCha20-Poly1305 and the nonce
//! is 192 random bits (large enough that random nonces never collide in
//! practice). The associated data names the row and column the credential
//! belongs to (for example `instances/prod-db:password`), so a ciphertext
//! copied to another row fails to decrypt. The envelope's version and key id
//! are authenticated too.
//!
//! The master key is 32 bytes supplied by the operator (environment or key
//! file, never the metadata store). Its key id is derived from the key, so a
//! [`KeyRing`] can hold the active key plus retired ones: envelopes under a
//! retired key still decrypt, and [`KeyRing::reencrypt`] moves them to the
//! active key.
//!
//! What this is not: key storage or loading from files; that is the server's
//! job. Decrypted credentials are [`Zeroizing`] and no error contains one.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use rand::Rng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The current envelope version: the only one [`KeyRing::decrypt`] accepts.
pub const ENVELOPE_VERSION: &str = "v1";

/// A 256-bit master key. Redacted in `Debug`; zeroed on drop.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; KEY_BYTES]>);

impl MasterKey {
    /// A new key from OS-seeded randomness, for the key file created on first start.
    pub fn generate() -> MasterKey {
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        rand::rng().fill_bytes(key.as_mut());
        MasterKey(key)
    }

    /// Reads a key as base64 of exactly 32 bytes (standard or URL-safe
    /// alphabet, padding optional, surrounding whitespace ignored), as in
    /// `ROLLGATE_MASTER_KEY` or the key file.
    pub fn from_base64(text: &str) -> Result<MasterKey, CryptoError> {
        let text = text.trim();
        let decoded = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .map(Zeroizing::new)
            .ok_or(CryptoError::MasterKeyNotBase64)?;
        let bytes: [u8; KEY_BYTES] =
            decoded
                .as_slice()
                .try_into()
                .map_err(|_| CryptoError::MasterKeyWrongLength {
                    actual: decoded.len(),
                })?;
        Ok(MasterKey(Zeroizing::new(bytes)))
    }

    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> MasterKey {
        MasterKey(Zeroizing::new(bytes))
    }

    /// The key as standard padded base64, for writing the key file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.as_ref()))
    }

    /// The key's id: the first 8 hex digits of a domain-separated SHA-256 of
    /// the key. It names the key in envelopes without revealing it.
    pub fn id(&self) -> KeyId {
        let mut hasher = Sha256::new();
        hasher.update(b"rollgate master key id v1\0");
        hasher.update(self.0.as_ref());
        let digest = hasher.finalize();
        let mut id = String::with_capacity(8);
        for byte in &digest[..4] {
            id.push(char::from(HEX[usize::from(byte >> 4)]));
            id.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        KeyId(id)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(*self.0))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id: {}, key: ****)", self.id())
    }
}

/// The id of a master key as written in envelopes: 8 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The active master key, which encrypts, plus retired keys, which only decrypt.
#[derive(Clone)]
pub struct KeyRing {
    active: KeyId,
    keys: BTreeMap<KeyId, MasterKey>,
}

impl KeyRing {
    /// A ring whose only key is `active`.
    pub fn new(active: MasterKey) -> KeyRing {
        let id = active.id();
        KeyRing {
            active: id.clone(),
            keys: BTreeMap::from([(id, active)]),
        }
    }

    /// Adds a retired key, so envelopes written under it still decrypt.
    /// Adding the active key again changes nothing.
    pub fn with_retired(mut self, retired: MasterKey) -> KeyRing {
        self.keys.entry(retired.id()).or_insert(retired);
        self
    }

    pub fn active_key_id(&self) -> &KeyId {
        &self.active
    }

    /// Ids of all keys, active and retired, in sorted order.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }

    /// Encrypts `plaintext` under the active key, bound to `aad` (the row and
    /// column it is stored in, e.g. `instances/prod-db:password`).
    pub fn encrypt(&self, plaintext: &str, aad: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let key = &self.keys[&self.active];
        let ciphertext = key
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &bound_aad(&self.active, aad),
                },
            )
            // Fails only for inputs near 256 GiB, far beyond any credential.
            .expect("XChaCha20-Poly1305 encryption of a credential cannot fail");
        format!(
            "{ENVELOPE_VERSION}:{}:{}:{}",
            self.active,
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ciphertext)
        )
    }

    /// Decrypts an envelope made by [`KeyRing::encrypt`] with the same `aad`,
    /// under whichever key of the ring its key id names.
    pub fn decrypt(&self, envelope: &str, aad: &str) -> Result<Zeroizing<String>, CryptoError> {
        let parts = Envelope::parse(envelope)?;
        let key = self
            .keys
            .get(&parts.key_id)
            .ok_or_else(|| CryptoError::UnknownKeyId {
                key_id: parts.key_id.0.clone(),
                known: self
                    .keys
                    .keys()
                    .map(|id| id.0.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let plaintext = key
            .cipher()
            .decrypt(
                &parts.nonce,
                Payload {
                    msg: &parts.ciphertext,
                    aad: &bound_aad(&parts.key_id, aad),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Decryption {
                aad: aad.to_owned(),
                key_id: parts.key_id.0.clone(),
            })?;
        let text = String::from_utf8(plaintext.to_vec()).map_err(|error| {
            // Zero the rejected bytes too: they are still a credential.
            drop(Zeroizing::new(error.into_bytes()));
            CryptoError::NotUtf8 {
                aad: aad.to_owned(),
            }
        })?;
        Ok(Zeroizing::new(text))
    }

    /// True when `envelope` is not under the active key (or is unreadable), so
    /// a key rotation should [`KeyRing::reencrypt`] it.
    pub fn needs_reencrypt(&self, envelope: &str) -> bool {
        Envelope::parse(envelope).map_or(true, |parts| parts.key_id != self.active)
    }

    /// Decrypts `envelope` under its own key and encrypts it again under the
    /// active key, with a fresh nonce and the same `aad`.
    pub fn reencrypt(&self, envelope: &str, aad: &str) -> Result<String, CryptoError> {
        let plaintext = self.decrypt(envelope, aad)?;
        Ok(self.encrypt(&plaintext, aad))
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active.0)
            .field(
                "keys",
                &self.keys.keys().map(|id| id.0.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a master key or an envelope could not be used. Messages name the row
/// (the associated data) and the key id, never key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "the master key is not valid base64; generate one with 32 random bytes, e.g. `openssl rand -base64 32`"
    )]
    MasterKeyNotBase64,
    #[error(
        "the master key decodes to {actual} bytes, expected 32; generate one with `openssl rand -base64 32`"
    )]
    MasterKeyWrongLength { actual: usize },
    #[error("encrypted value is malformed: {reason}; expected `v1:<key-id>:<nonce>:<ciphertext>`")]
    Malformed { reason: &'static str },
    #[error(
        "encrypted value has envelope version `{version}`, but this server only reads `{ENVELOPE_VERSION}`; was it written by a newer Rollgate?"
    )]
    UnsupportedVersion { version: String },
    #[error(
        "encrypted value was written under master key `{key_id}`, which is not configured (known keys: {known}); add that key as a retired key"
    )]
    UnknownKeyId { key_id: String, known: String },
    #[error(
        "could not decrypt the value stored for `{aad}` with master key `{key_id}`: it was altered, copied from another row, or the key is wrong"
    )]
    Decryption { aad: String, key_id: String },
    #[error("the value decrypted for `{aad}` is not UTF-8 text")]
    NotUtf8 { aad: String },
}

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
const HEX: &[u8; 16] = b"0123456789abcdef";

struct Envelope {
    key_id: KeyId,
    nonce: XNonce,
    ciphertext: Vec<u8>,
}

impl Envelope {
    fn parse(envelope: &str) -> Result<Envelope, CryptoError> {
        let mut fields = envelope.split(':');
        let version = fields.next().unwrap_or_default();
        if version != ENVELOPE_VERSION {
            if fields.next().is_none() {
                return Err(CryptoError::Malformed {
                    reason: "it has no `:`-separated fields",
                });
            }
            let version: String = version.chars().take(16).collect();
            return Err(CryptoError::UnsupportedVersion { version });
        }
        let (Some(key_id), Some(nonce), Some(ciphertext), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(CryptoError::Malformed {
                reason: "it does not have exactly 4 fields",
            });
        };
        if key_id.len() != 8 || !key_id.bytes().all(|b| HEX.contains(&b)) {
            return Err(CryptoError::Malformed {
                reason: "the key id is not 8 lowercase hex digits",
            });
        }
        let nonce: [u8; NONCE_BYTES] = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(CryptoError::Malformed {
                reason: "the nonce is not 24 bytes of base64url",
            })?;
        let ciphertext =
            URL_SAFE_NO_PAD
                .decode(ciphertext)
                .map_err(|_| CryptoError::Malformed {
                    reason: "the ciphertext is not base64url",
                })?;
        Ok(Envelope {
            key_id: KeyId(key_id.to_owned()),
            nonce: XNonce::from(nonce),
            ciphertext,
        })
    }
}

/// The associated data actually authenticated: envelope version, key id and
/// the caller's row binding, separated by NUL so no two triples collide.
fn bound_aad(key_id: &KeyId, aad: &str) -> Vec<u8> {
    format!("rollgate {ENVELOPE_VERSION}\0{key_id}\0{aad}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = "instances/prod-db:password";

    fn ring() -> KeyRing {
        KeyRing::new(MasterKey::from_bytes([7; 32]))
    }

    #[test]
    fn roundtrip() {
        let ring = ring();
        let envelope = ring.encrypt("s3cret p@ss", ROW);
        let fields: Vec<&str> = envelope.split(':').collect();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[0], "v1");
        assert_eq!(fields[1], ring.active_key_id().as_str());
        assert_eq!(URL_SAFE_NO_PAD.decode(fields[2]).unwrap().len(), 24);
        assert!(!envelope.contains("s3cret"));
        assert_eq!(
            ring.decrypt(&envelope, ROW).unwrap().as_str(),
            "s3cret p@ss"
        );
        assert_eq!(
            ring.decrypt(&ring.encrypt("", ROW), ROW).unwrap().as_str(),
            ""
        );
    }

    #[test]
    fn nonces_are_fresh() {
        let ring = ring();
        assert_ne!(ring.encrypt("same", ROW), ring.encrypt("same", ROW));
    }

    #[test]
    fn wrong_aad_fails() {
        let ring = ring();
        let envelope = ring.encrypt("s3cret", ROW);
        let error = ring
            .decrypt(&envelope, "instances/test-db:password")
            .unwrap_err();
        assert_eq!(
            error,
            CryptoError::Decryption {
                aad: "instances/test-db:password".into(),
                key_id: ring.active_key_id().0.clone()
            }
        );
        assert!(!error.to_string().contains("s3cret"));
    }

    #[test]
    fn wrong_key_with_forged_key_id_fails() {
        let ring = ring();
        let other = KeyRing::new(MasterKey::from_bytes([8; 32]));
        let envelope = ring.encrypt("s3cret", ROW);
        // Relabel the envelope with the other ring's key id, so the other key is tried.
        let forged = envelope.replacen(
            ring.active_key_id().as_str(),
            other.active_key_id().as_str(),
            1,
        );
        assert!(matches!(
            other.decrypt(&forged, ROW),
            Err(CryptoError::Decryption { .. })
        ));
    }

    #[test]
    fn unknown_key_id_is_named() {
        let envelope = ring().encrypt("s3cret", ROW);
        let other = KeyRing::new(MasterKey::from_bytes([8; 32]));
        let error = other.decrypt(&envelope, ROW).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(ring().active_key_id().as_str()),
            "{message}"
        );
        assert!(
            message.contains(other.active_key_id().as_str()),
            "{message}"
        );
        assert!(message.contains("not configured"), "{message}");
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let ring = ring();
        let envelope = ring.encrypt("s3cret", ROW);
        let (head, ciphertext) = envelope.rsplit_once(':').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(ciphertext).unwrap();
        bytes[0] ^= 1;
        let tampered = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert!(matches!(
            ring.decrypt(&tampered, ROW),
            Err(CryptoError::Decryption { .. })
        ));

        let (start, nonce_and_rest) = envelope.split_at(12);
        let mut flipped = nonce_and_rest.to_owned();
        flipped.replace_range(0..1, if flipped.starts_with('A') { "B" } else { "A" });
        assert!(ring.decrypt(&format!("{start}{flipped}"), ROW).is_err());
    }

    #[test]
    fn malformed_and_unknown_versions_are_clear() {
        let ring = ring();
        let envelope = ring.encrypt("s3cret", ROW);
        let v2 = envelope.replacen("v1:", "v2:", 1);
        assert_eq!(
            ring.decrypt(&v2, ROW),
            Err(CryptoError::UnsupportedVersion {
                version: "v2".into()
            })
        );
        assert!(
            ring.decrypt(&v2, ROW)
                .unwrap_err()
                .to_string()
                .contains("`v2`")
        );
        for bad in [
            "",
            "plaintext-password",
            "v1:",
            "v1:abc:def",
            "v1:zzzzzzzz:AAAA:AAAA",
            "v1:0011aabb:AAAA:AAAA",
            "v1:0011aabb:***:AAAA",
        ] {
            assert!(
                matches!(ring.decrypt(bad, ROW), Err(CryptoError::Malformed { .. })),
                "{bad}"
            );
        }
        let extra = format!("{envelope}:more");
        assert!(matches!(
            ring.decrypt(&extra, ROW),
            Err(CryptoError::Malformed { .. })
        ));
    }

    #[test]
    fn rotation_reencrypts_under_the_active_key() {
        let old = ring();
        let envelope = old.encrypt("s3cret", ROW);
        let new_key = MasterKey::generate();
        let rotated = KeyRing::new(new_key.clone()).with_retired(MasterKey::from_bytes([7; 32]));
        assert_eq!(rotated.active_key_id(), &new_key.id());
        assert_eq!(rotated.key_ids().count(), 2);
        assert!(rotated.needs_reencrypt(&envelope));
        assert_eq!(rotated.decrypt(&envelope, ROW).unwrap().as_str(), "s3cret");

        let moved = rotated.reencrypt(&envelope, ROW).unwrap();
        assert!(!rotated.needs_reencrypt(&moved));
        assert!(moved.starts_with(&format!("v1:{}:", new_key.id())));
        assert_eq!(
            KeyRing::new(new_key).decrypt(&moved, ROW).unwrap().as_str(),
            "s3cret"
        );
        assert!(matches!(
            old.decrypt(&moved, ROW),
            Err(CryptoError::UnknownKeyId { .. })
        ));
        assert!(matches!(
            rotated.reencrypt(&envelope, "other:row"),
            Err(CryptoError::Decryption { .. })
        ));
    }

    #[test]
    fn master_key_base64_and_redaction() {
        let key = MasterKey::generate();
        let text = key.to_base64();
        let back = MasterKey::from_base64(&format!("  {}\n", text.as_str())).unwrap();
        assert_eq!(back.id(), key.id());
        let url_safe_no_pad = URL_SAFE_NO_PAD.encode([0xfb; 32]);
        assert!(MasterKey::from_base64(&url_safe_no_pad).is_ok());
        assert!(matches!(
            MasterKey::from_base64("not base64!"),
            Err(CryptoError::MasterKeyNotBase64)
        ));
        assert!(matches!(
            MasterKey::from_base64(&STANDARD.encode([1; 16])),
            Err(CryptoError::MasterKeyWrongLength { actual: 16 })
        ));

        let shown = format!("{key:?} {:?}", KeyRing::new(key.clone()));
        assert!(!shown.contains(text.as_str()), "{shown}");
        assert!(!shown.contains(&text[..8]), "{shown}");
        assert!(shown.contains("****"), "{shown}");
        assert!(shown.contains(key.id().as_str()), "{shown}");
    }
}
