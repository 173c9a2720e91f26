//! Authentication and secret-handling primitives for the Rollgate server.
//!
//! This crate is pure: no async, no network, no database. It only reads OS
//! randomness. The server wires these pieces to its `Store` and HTTP layer.
//!
//! - [`password`]: Argon2id password hashes as PHC strings.
//! - [`token`]: opaque, prefixed, checksummed bearer tokens (`rgt_…` user
//!   sessions, `rgs_…` service-account keys), stored only as SHA-256 hashes.
//! - [`crypto`]: encryption at rest of database credentials
//!   (XChaCha20-Poly1305 in a versioned envelope bound to its row).
//! - [`permission`]: named permissions (`rg.<resource>.<verb>`) and the
//!   built-in roles, modelled on Bytebase's.
//!
//! Invariant: anything holding a secret here has a redacting `Debug`, and no
//! error message contains a secret.

pub mod crypto;
pub mod password;
pub mod permission;
pub mod token;

pub use crypto::{CryptoError, KeyId, KeyRing, MasterKey};
pub use password::{hash_password, needs_rehash, verify_password};
pub use permission::{
    Permission, Role, RoleScope, has_permission, permission_table, role_permissions,
};
pub use token::{ParsedToken, Secret, TokenError, TokenHash, TokenKind};
