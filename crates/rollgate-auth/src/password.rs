//! Password hashing with Argon2id.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`)
//! made with the `argon2` crate's defaults, which are OWASP's minimum. The
//! parameters travel inside the string, so they can be raised later and old
//! hashes upgraded on the next successful login (see [`needs_rehash`]).
//!
//! One hash costs tens of milliseconds of CPU: callers on an async runtime
//! should run these functions on a blocking thread.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params};

/// Hashes `password` with Argon2id, default parameters and a random 16-byte
/// salt, and returns the PHC string to store.
pub fn hash_password(password: &str) -> String {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        // With the default parameters and a generated salt this fails only
        // when the OS random number generator does, which we cannot recover from.
        .expect("Argon2id hashing with default parameters cannot fail unless OS randomness does");
    hash.to_string()
}

/// Returns true when `password` matches the PHC string `phc`.
///
/// Never panics: a malformed, truncated or non-Argon2 string is simply no
/// match. Strings asking for absurd costs are refused rather than computed,
/// so a corrupted row cannot make one login allocate gigabytes.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_MEMORY_KIB
        || params.t_cost() > MAX_ITERATIONS
        || params.p_cost() > MAX_LANES
    {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Returns true when `phc` was not made with the current algorithm and
/// parameters, so the caller should store `hash_password(password)` after a
/// successful [`verify_password`]. A malformed string also needs a rehash.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    let current = Params::default();
    parsed.algorithm != Algorithm::Argon2id.ident()
        || params.m_cost() != current.m_cost()
        || params.t_cost() != current.t_cost()
        || params.p_cost() != current.p_cost()
}

/// 1 GiB: well above any sensible setting, well below what takes a server down.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_LANES: u32 = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_accepts_the_right_password_only() {
        let phc = hash_password("correct horse battery staple");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery staple", &phc));
        assert!(!verify_password("correct horse battery stapler", &phc));
        assert!(!verify_password("", &phc));
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn same_password_gets_different_salts() {
        assert_ne!(hash_password("pw"), hash_password("pw"));
    }

    #[test]
    fn malformed_hashes_never_match_and_never_panic() {
        let good = hash_password("pw");
        let truncated = &good[..good.len() - 10];
        let huge_memory = "$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$\
                           AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        for phc in [
            "",
            "pw",
            "$argon2id$",
            "$argon2id$v=19$m=abc,t=2,p=1$salt$hash",
            "$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA",
            "$argon2id$v=19$m=19456,t=2,p=1$!!!$???",
            truncated,
            huge_memory,
        ] {
            assert!(!verify_password("pw", phc), "{phc:?} matched");
            assert!(needs_rehash(phc), "{phc:?} does not need a rehash");
        }
    }

    #[test]
    fn weaker_parameters_need_a_rehash() {
        let weak = Params::new(8 * 1024, 1, 1, None).unwrap();
        let phc = Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, weak)
            .hash_password(b"pw")
            .unwrap()
            .to_string();
        assert!(verify_password("pw", &phc));
        assert!(needs_rehash(&phc));
    }
}
