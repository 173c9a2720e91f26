//! The connection URL of a target database: the instance's URL, decrypted
//! with the master key, re-targeted to the database by
//! [`TargetUrl::for_database`] (the URL's path on PostgreSQL and MySQL; the
//! file `NAME.db` in the instance's directory on SQLite). Shared by the
//! workers, the release check and the changelog, so all three connect to
//! the same database. Messages name the instance and database, never the URL.

use rollgate_auth::KeyRing;
use rollgate_engine::TargetUrl;
use rollgate_store::Instance;

use crate::worker::instance_url_aad;

/// The URL of database `database` of `instance`, or a message saying why
/// there is none.
pub(crate) fn database_url(
    key_ring: &KeyRing,
    instance: &Instance,
    database: &str,
) -> Result<TargetUrl, String> {
    let url_text = key_ring
        .decrypt(&instance.url_envelope, &instance_url_aad(&instance.id))
        .map_err(|e| {
            format!(
                "cannot decrypt the connection URL of instances/{}: {e}; set the instance's URL again",
                instance.id
            )
        })?;
    let url = TargetUrl::parse(&url_text).map_err(|e| {
        format!(
            "the connection URL of instances/{} is not a database URL ({e}); set it again",
            instance.id
        )
    })?;
    drop(url_text);
    url.for_database(database)
        .map_err(|e| format!("instances/{}/databases/{database}: {e}", instance.id))
}
