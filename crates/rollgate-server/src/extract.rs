//! Extractors that own their rejection format: every malformed request is an
//! [`AppError`] saying what to fix, and [`Principal`] is the bearer-token
//! authentication every `/api/v1` handler starts with.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use rollgate_auth::token::{self, TokenKind};
use rollgate_auth::{Permission, Role, RoleScope, has_permission};
use rollgate_store::{SERVICE_ACCOUNT_DOMAIN, iam_member};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::AppState;
use crate::error::AppError;
use crate::store::store_call;
use crate::time::now_unix;

/// A JSON body; unknown fields are refused by the DTOs themselves
/// (`deny_unknown_fields`), malformed or oversize bodies here.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    // serde's messages name the field and position, never a value, so they
    // are safe to return.
    let detail = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => AppError::invalid_argument(format!(
            "the request body does not match the expected fields: {detail}"
        )),
        JsonRejection::JsonSyntaxError(_) => AppError::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
            format!("the request body is not valid JSON: {detail}"),
        ),
        JsonRejection::MissingJsonContentType(_) => AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the body as JSON with the header `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(_) if rejection_is_too_large(&detail) => AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the request body is larger than the server's limit; send a smaller body or raise the server's body limit",
        ),
        _ => AppError::invalid_argument(format!("the request body could not be read: {detail}")),
    }
}

fn rejection_is_too_large(detail: &str) -> bool {
    detail.contains("length limit")
}

/// Query parameters, with the same error format as bodies.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(AppError::invalid_argument(format!(
                    "invalid query parameters: {}",
                    rejection.body_text()
                )))
            }
            Err(rejection) => Err(AppError::invalid_argument(rejection.body_text())),
        }
    }
}

/// The peer address when the server runs with connect info (tests driving the
/// router in-process have none). Forwarding headers are not trusted.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

/// Who is calling: a user or service account with a valid session token
/// (`Authorization: Bearer rgt_…`), the roles it holds workspace-wide, and
/// where the request came from (for the audit log).
///
/// Workspace-wide roles (`users.roles`, `serviceAccounts.roles`) apply in
/// every project, project roles included; a project's IAM bindings add roles
/// in that project only ([`Principal::require_in_project`]).
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub roles: Vec<Role>,
    /// The peer address, when the server runs with connect info.
    pub address: Option<IpAddr>,
}

impl Principal {
    /// 403 unless one of the principal's workspace-wide roles grants
    /// `permission`. For endpoints outside projects.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if has_permission(&self.roles, permission) {
            return Ok(());
        }
        Err(self.denied(permission, None))
    }

    /// 403 unless the principal's workspace-wide roles, or its bindings in
    /// `project`'s IAM policy, grant `permission`. Every endpoint under
    /// `/projects/{project}` checks with this. An absent project has no
    /// bindings, so the answer does not reveal whether it exists.
    pub async fn require_in_project(
        &self,
        state: &AppState,
        permission: Permission,
        project: &str,
    ) -> Result<(), AppError> {
        if has_permission(&self.roles, permission) {
            return Ok(());
        }
        let bound = self.project_roles(state, project).await?;
        if has_permission(&bound, permission) {
            return Ok(());
        }
        Err(self.denied(permission, Some(project)))
    }

    /// The roles the principal's bindings give it in `project` (not its
    /// workspace-wide roles). Only project roles count: a workspace role in a
    /// project policy grants nothing.
    pub async fn project_roles(
        &self,
        state: &AppState,
        project: &str,
    ) -> Result<Vec<Role>, AppError> {
        let store = &state.inner.store;
        let member = iam_member(&self.name);
        let ids = store_call!(store, s => s.project_roles(project, &member).await)?;
        Ok(project_scoped(&ids))
    }

    /// Every project where the principal's bindings grant `permission`,
    /// ordered (workspace-wide roles not considered).
    pub async fn bound_projects_granting(
        &self,
        state: &AppState,
        permission: Permission,
    ) -> Result<Vec<String>, AppError> {
        let store = &state.inner.store;
        let member = iam_member(&self.name);
        let pairs = store_call!(store, s => s.member_project_roles(&member).await)?;
        let mut projects: Vec<String> = Vec::new();
        for (project, role) in pairs {
            if projects.last() == Some(&project) {
                continue;
            }
            if has_permission(&project_scoped(std::slice::from_ref(&role)), permission) {
                projects.push(project);
            }
        }
        Ok(projects)
    }

    pub(crate) fn denied(&self, permission: Permission, project: Option<&str>) -> AppError {
        let (where_, details) = match project {
            Some(project) => (
                format!(" in `projects/{project}`"),
                json!({ "permission": permission.as_str(), "resource": format!("projects/{project}") }),
            ),
            None => (String::new(), json!({ "permission": permission.as_str() })),
        };
        AppError::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            format!(
                "`{}` lacks the permission `{permission}`{where_}; ask a workspace admin or the project's owner for a role that grants it",
                self.name
            ),
        )
        .with_details(details)
    }
}

/// Known project-scoped roles among role names; others are ignored (logged).
fn project_scoped(ids: &[String]) -> Vec<Role> {
    ids.iter()
        .filter_map(|id| match Role::from_str(id) {
            Ok(role) if role.scope() == RoleScope::Project => Some(role),
            Ok(role) => {
                tracing::warn!(%role, "ignoring a workspace role in a project IAM binding");
                None
            }
            Err(error) => {
                tracing::warn!(%error, "ignoring an unknown role in a project IAM binding");
                None
            }
        })
        .collect()
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                AppError::unauthenticated(
                    "missing `Authorization: Bearer <token>` header; get a token from POST /api/v1/auth/login",
                )
            })?
            .to_str()
            .map_err(|_| AppError::unauthenticated("the Authorization header is not valid text"))?;
        let presented = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| {
                AppError::unauthenticated("the Authorization header must be `Bearer <token>`")
            })?
            .trim();
        let invalid = || AppError::unauthenticated("the token is invalid or expired; log in again");
        let parsed = token::parse(presented).map_err(|_| invalid())?;
        if parsed.kind != TokenKind::Session {
            return Err(AppError::unauthenticated(
                "a service account key is not a session token; log in with it as the password to get one",
            ));
        }
        let hash = parsed.hash();
        let store = &state.inner.store;
        let name = store_call!(store, s => s.session_principal(hash.as_str(), now_unix()).await)?
            .ok_or_else(invalid)?;
        let role_ids = if name.ends_with(SERVICE_ACCOUNT_DOMAIN) {
            store_call!(store, s => s.get_service_account(&name).await).map(|a| a.roles)
        } else {
            store_call!(store, s => s.get_user(&name).await).map(|u| u.roles)
        };
        // A deleted account's sessions stop working at once.
        let role_ids = match role_ids {
            Ok(roles) => roles,
            Err(rollgate_store::StoreError::NotFound { .. }) => return Err(invalid()),
            Err(error) => return Err(error.into()),
        };
        let roles = role_ids
            .iter()
            .filter_map(|id| match Role::from_str(id) {
                Ok(role) => Some(role),
                Err(error) => {
                    tracing::warn!(%error, principal = %name, "ignoring unknown role");
                    None
                }
            })
            .collect();
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Principal {
            name,
            roles,
            address,
        })
    }
}
