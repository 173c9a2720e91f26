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
        let error = TargetUrl::parse("root:pw@host/db").unwrap_err().to_string();
        assert!(!error.contains("pw"), "{error}");
    }
}
