//! The metadata store the server runs on: one of the two `Store`
//! implementations, chosen at start-up. `Store` has `async fn`s in its trait,
//! so it is not object-safe; an enum plus the [`store_call!`] macro stands in
//! for `dyn Store`.

use rollgate_store::{PostgresStore, SqliteStore};

#[derive(Debug, Clone)]
pub enum MetadataStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// `store_call!(store, s => s.method(args).await)` runs the expression on
/// whichever implementation `store` holds.
macro_rules! store_call {
    ($store:expr, $s:ident => $body:expr) => {{
        use rollgate_store::Store as _;
        match $store {
            $crate::store::MetadataStore::Sqlite($s) => $body,
            $crate::store::MetadataStore::Postgres($s) => $body,
        }
    }};
}
pub(crate) use store_call;

impl MetadataStore {
    pub async fn close(&self) {
        match self {
            MetadataStore::Sqlite(store) => store.close().await,
            MetadataStore::Postgres(store) => store.close().await,
        }
    }
}
