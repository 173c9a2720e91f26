//! `AnyEngine`: the engine a URL names, behind one type.
//!
//! The `Engine` trait uses `async fn`s, which are not object-safe; an enum
//! forwards each call to the concrete engine instead of boxing futures.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::mysql::MysqlEngine;
use crate::postgres::PostgresEngine;
use crate::schema::SchemaSnapshot;
use crate::sqlite::SqliteEngine;
use crate::{
    Applied, ApplyFile, ApplyOptions, Engine, EngineError, EngineKind, HistoryRecord, NewRecord,
    Progress, TargetUrl,
};

pub enum AnyEngine {
    Postgres(PostgresEngine),
    Mysql(MysqlEngine),
    Sqlite(SqliteEngine),
}

impl AnyEngine {
    /// Connects to the database `url` names. `history_schema` is the schema
    /// (PostgreSQL) or database (MySQL) of the history table.
    pub async fn connect(
        url: &TargetUrl,
        history_schema: Option<&str>,
    ) -> Result<AnyEngine, EngineError> {
        Ok(match url.kind() {
            EngineKind::Postgres => {
                AnyEngine::Postgres(PostgresEngine::connect(url, history_schema).await?)
            }
            EngineKind::Mysql => AnyEngine::Mysql(MysqlEngine::connect(url, history_schema).await?),
            EngineKind::Sqlite => {
                AnyEngine::Sqlite(SqliteEngine::connect(url, history_schema).await?)
            }
        })
    }
}

macro_rules! forward {
    ($self:ident, $engine:ident => $call:expr) => {
        match $self {
            AnyEngine::Postgres($engine) => $call,
            AnyEngine::Mysql($engine) => $call,
            AnyEngine::Sqlite($engine) => $call,
        }
    };
}

impl Engine for AnyEngine {
    fn kind(&self) -> EngineKind {
        forward!(self, e => e.kind())
    }

    async fn lock(&mut self, timeout: Duration) -> Result<(), EngineError> {
        forward!(self, e => e.lock(timeout).await)
    }

    async fn unlock(&mut self) -> Result<(), EngineError> {
        forward!(self, e => e.unlock().await)
    }

    async fn history(&mut self) -> Result<Vec<HistoryRecord>, EngineError> {
        forward!(self, e => e.history().await)
    }

    async fn read_history(&mut self) -> Result<Vec<HistoryRecord>, EngineError> {
        forward!(self, e => e.read_history().await)
    }

    async fn apply(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Applied, EngineError> {
        forward!(self, e => e.apply(file, options, progress).await)
    }

    async fn record(&mut self, record: &NewRecord) -> Result<(), EngineError> {
        forward!(self, e => e.record(record).await)
    }

    async fn dry_run(&mut self, files: &[ApplyFile]) -> Result<(), EngineError> {
        forward!(self, e => e.dry_run(files).await)
    }

    async fn dump_schema(&mut self) -> Result<SchemaSnapshot, EngineError> {
        forward!(self, e => e.dump_schema().await)
    }

    async fn table_rows(&mut self) -> Result<BTreeMap<String, u64>, EngineError> {
        forward!(self, e => e.table_rows().await)
    }

    async fn explain_rows(&mut self, sql: &str) -> Result<Option<u64>, EngineError> {
        forward!(self, e => e.explain_rows(sql).await)
    }
}
