//! A small client of the server's `/api/v1`, for the commands that talk to a
//! Rollgate server (`workspace apply/export`, `quickstart`). It logs in once
//! (a service account with its key, or a user with a password), sends JSON,
//! follows list pages, and turns the server's `{code, message}` errors into
//! [`ApiError`]s that name the call. No secret is ever part of an error.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// An authenticated client of one server.
pub struct Client {
    http: reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    base: String,
    token: String,
}

/// A call the server refused or failed.
#[derive(Debug)]
pub struct ApiError {
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    /// The server's error code, e.g. `PERMISSION_DENIED`.
    pub code: String,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} failed with {} {}: {}",
            self.method,
            self.path,
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// Installs ring as rustls' crypto provider (reqwest is built without one,
/// so that aws-lc is not compiled in). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    /// Logs in to `url` as `email` with `secret` (a service account key or
    /// a user's password).
    pub async fn login(url: &str, email: &str, secret: &str) -> anyhow::Result<Client> {
        install_crypto_provider();
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            anyhow::bail!("--url `{base}` must start with http:// or https://");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("rollgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        let mut client = Client {
            http,
            base,
            token: String::new(),
        };
        let response = client
            .call(
                Method::POST,
                "/api/v1/auth/login",
                Some(&json!({ "email": email, "password": secret })),
            )
            .await
            .with_context(|| format!("cannot log in to {} as {email}", client.base))?;
        client.token = response["token"]
            .as_str()
            .context("the login response has no token")?
            .to_string();
        Ok(client)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::DELETE, path, None).await
    }

    /// Every item of a paginated list: `GET path` returns `{field: [...],
    /// nextPageToken}`.
    pub async fn list(&self, path: &str, field: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // The url crate encodes the query (the token is opaque text).
            let mut query = reqwest::Url::parse("http://query.invalid/").expect("a valid URL");
            query.query_pairs_mut().append_pair("pageSize", "1000");
            if let Some(token) = &token {
                query.query_pairs_mut().append_pair("pageToken", token);
            }
            let page_path = format!("{path}?{}", query.query().unwrap_or_default());
            let mut page = self.get(&page_path).await?;
            match page.get_mut(field).map(Value::take) {
                Some(Value::Array(page_items)) => items.extend(page_items),
                Some(Value::Null) | None => {}
                Some(_) => anyhow::bail!("GET {path}: `{field}` is not a list"),
            }
            token = page["nextPageToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(items);
            }
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|error| {
            anyhow::anyhow!(
                "{method} {path}: cannot reach the server at {}: {}; is `rollgate server` running there?",
                self.base,
                without_url(&error)
            )
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("{method} {path}: cannot read the response"))?;
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(value);
        }
        Err(ApiError {
            method,
            path: path.to_string(),
            status,
            code: value["code"].as_str().unwrap_or("UNKNOWN").to_string(),
            message: value["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string()),
        }
        .into())
    }
}

/// reqwest's error text without the URL (which is ours anyway, but may
/// carry a query).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
