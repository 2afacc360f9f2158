//! Who is asking: the bearer API key, checked on every request but the OpenAPI document.

use hotline_core::OrgId;
use hotline_core::model::{ApiKey, Role};
use hotline_core::ports::ApiKeys;
use lambda_http::Request;
use lambda_http::http::header;

use crate::problem::ApiError;

/// The authenticated caller. Handlers take one, so none can forget to check.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: OrgId,
    pub role: Role,
    pub key_id: String,
}

impl Caller {
    /// Refuses a caller whose role may only read.
    pub fn may_write(&self) -> Result<(), ApiError> {
        if self.role.can_write() {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// The caller behind `Authorization: Bearer <key>`: an active key, found by its hash.
/// Every failure is the same 401, so a caller learns nothing about which keys exist.
pub async fn authenticate(keys: &dyn ApiKeys, req: &Request) -> Result<Caller, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .ok_or(ApiError::Unauthorized)?;
    let key = keys
        .api_key_by_hash(&ApiKey::hash(presented))
        .await?
        .filter(ApiKey::is_active)
        .ok_or(ApiError::Unauthorized)?;
    Ok(Caller {
        org: key.org,
        role: key.role,
        key_id: key.id,
    })
}
