//! Connection URLs: which engine, and how to show one without its password.

use std::fmt;

use crate::{EngineError, EngineKind};

/// A target database URL: `postgres://…`, `mysql://…`/`mariadb://…`, or
/// `sqlite://path` (created when missing). Its `Debug` and `Display` never
/// show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct TargetUrl {
    kind: EngineKind,
    /// The URL to connect with; `mariadb://` is rewritten to `mysql://`.
    url: String,
    redacted: String,
}

impl TargetUrl {
    pub fn parse(text: &str) -> Result<TargetUrl, EngineError> {
        let text = text.trim();
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            EngineError::BadUrl(format!(
                "database URL \"{}\" has no scheme; use postgres://, mysql://, mariadb:// or sqlite://",
                redact(text)
            ))
        })?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => EngineKind::Postgres,
            "mysql" | "mariadb" => EngineKind::Mysql,
            "sqlite" => EngineKind::Sqlite,
            other => {
                return Err(EngineError::BadUrl(format!(
                    "unknown database URL scheme \"{other}\"; use postgres://, mysql://, mariadb:// or sqlite://"
                )));
            }
        };
        let url = match kind {
            EngineKind::Mysql => format!("mysql://{rest}"),
            EngineKind::Sqlite if !rest.contains("mode=") => {
                let separator = if rest.contains('?') { '&' } else { '?' };
                format!("sqlite://{rest}{separator}mode=rwc")
            }
            _ => text.to_string(),
        };
        Ok(TargetUrl {
            kind,
            redacted: redact(text),
            url,
        })
    }

    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// The URL of database `name` on the server (instance) this URL names:
    /// on PostgreSQL and MySQL the URL's path becomes `/name`; a SQLite
    /// instance URL names a directory and its database `name` is the file
    /// `name.db` in it (a SQLite URL naming a `.db`, `.db3`, `.sqlite` or
    /// `.sqlite3` file holds one database, `main`).
    pub fn for_database(&self, name: &str) -> Result<TargetUrl, EngineError> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$');
        if !valid {
            return Err(EngineError::BadUrl(format!(
                "database name \"{name}\" must be 1-63 characters of letters, digits, `_`, `-` and `$`"
            )));
        }
        let (head, query) = match self.url.split_once('?') {
            Some((head, query)) => (head, Some(query)),
            None => (self.url.as_str(), None),
        };
        let (scheme, rest) = head.split_once("://").unwrap_or(("", head));
        let url = match self.kind {
            EngineKind::Postgres | EngineKind::Mysql => {
                let authority = rest.split('/').next().unwrap_or("");
                format!("{scheme}://{authority}/{name}")
            }
            EngineKind::Sqlite => {
                let is_file = [".db", ".db3", ".sqlite", ".sqlite3"]
                    .iter()
                    .any(|ext| rest.to_ascii_lowercase().ends_with(ext));
                if is_file {
                    if name != "main" {
                        return Err(EngineError::BadUrl(format!(
                            "the SQLite instance {} is one file, which holds one database, `main`, not \"{name}\"; name the database `main` or point the instance at a directory",
                            self.redacted
                        )));
                    }
                    head.to_string()
                } else {
                    format!("{scheme}://{}/{name}.db", rest.trim_end_matches('/'))
                }
            }
        };
        let url = match query {
            Some(query) => format!("{url}?{query}"),
            None => url,
        };
        Ok(TargetUrl {
            kind: self.kind,
            redacted: redact(&url),
            url,
        })
    }

    /// The URL with its secret: pass only to a driver.
    pub fn expose(&self) -> &str {
        &self.url
    }

    /// `scheme://user@host:port/db`, without password or query.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl fmt::Debug for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetUrl({})", self.redacted)
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// Drops the password and the query string (which may hold one too).
fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return "<unparsable URL>".to_string();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let url = TargetUrl::parse(
            "postgres://app:s3cret@db.example:5433/prod?password=x&sslmode=require",
        )
        .unwrap();
        assert_eq!(url.redacted(), "postgres://app@db.example:5433/prod");
        assert!(!format!("{url:?} {url}").contains("s3cret"));
        assert_eq!(url.kind(), EngineKind::Postgres);
        let maria = TargetUrl::parse("mariadb://root:pw@127.0.0.1:3306/test").unwrap();
        assert_eq!(
            (maria.kind(), maria.expose()),
            (EngineKind::Mysql, "mysql://root:pw@127.0.0.1:3306/test")
        );
        assert_eq!(
            TargetUrl::parse("sqlite://x.db").unwrap().expose(),
            "sqlite://x.db?mode=rwc"
        );
        assert!(TargetUrl::parse("oracle://x").is_err());
        let pg =
            TargetUrl::parse("postgres://app:s3cret@db:5432/postgres?sslmode=require").unwrap();
        let app = pg.for_database("app").unwrap();
        assert_eq!(
            app.expose(),
            "postgres://app:s3cret@db:5432/app?sslmode=require"
        );
        assert_eq!(app.redacted(), "postgres://app@db:5432/app");
        assert!(pg.for_database("a/b").is_err());
        assert!(pg.for_database("").is_err());
        let host_only = TargetUrl::parse("mysql://root@127.0.0.1:3306").unwrap();
        assert_eq!(
            host_only.for_database("shop").unwrap().expose(),
            "mysql://root@127.0.0.1:3306/shop"
        );
        let dir = TargetUrl::parse("sqlite:///var/lib/targets/").unwrap();
        assert_eq!(
            dir.for_database("shop").unwrap().expose(),
            "sqlite:///var/lib/targets/shop.db?mode=rwc"
        );
        let file = TargetUrl::parse("sqlite:///var/lib/one.db").unwrap();
        assert_eq!(
            file.for_database("main").unwrap().expose(),
            "sqlite:///var/lib/one.db?mode=rwc"
        );
        let error = file.for_database("shop").unwrap_err().to_string();
        assert!(error.contains("`main`"), "{error}");
        let error = TargetUrl::parse("root:pw@host/db").unwrap_err().to_string();
        assert!(!error.contains("pw"), "{error}");
    }
}
