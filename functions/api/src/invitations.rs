//! `/api/v1/invitations`: owners and admins invite people by e-mail with a role; the
//! invitee accepts with the one-time token and a password, which creates their user.

use hotline_core::audit::Actor;
use hotline_core::people::{Invitation, InvitationState, User, normalize_email, secret_hash};
use hotline_core::ports::StoreError;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agents::json_body;
use crate::auth::Caller;
use crate::keys::role;
use crate::problem::{ApiError, Problem};
use crate::sessions::hash_password;
use crate::users::{UserOut, view as user_view};
use crate::{Deps, audit, json, no_content};

#[derive(Serialize, ToSchema)]
pub struct InvitationOut {
    pub id: String,
    pub email: String,
    pub role: String,
    /// pending, accepted, revoked or expired.
    pub state: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<InvitationOut>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationCreate {
    pub email: String,
    /// owner, admin or viewer; an admin cannot invite an owner.
    pub role: String,
}

/// A new invitation: `token` is shown this once; send it to the invitee.
#[derive(Serialize, ToSchema)]
pub struct InvitationCreated {
    #[serde(flatten)]
    pub invitation: InvitationOut,
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationAccept {
    pub token: String,
    /// The new user's password, at least 12 characters.
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub org: String,
    pub user: UserOut,
}

fn view(inv: &Invitation, now: chrono::DateTime<chrono::Utc>) -> InvitationOut {
    let state = match inv.state(now) {
        InvitationState::Pending => "pending",
        InvitationState::Accepted => "accepted",
        InvitationState::Revoked => "revoked",
        InvitationState::Expired => "expired",
    };
    InvitationOut {
        id: inv.id.clone(),
        email: inv.email.clone(),
        role: inv.role.as_str().to_owned(),
        state: state.to_owned(),
        created_at: inv.created_at,
        expires_at: inv.expires_at,
    }
}

/// The organization's invitations (never their tokens).
#[utoipa::path(get, path = "/api/v1/invitations", operation_id = "listInvitations", tag = "users",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = InvitationList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let now = deps.auth.now();
    let invitations = deps
        .users
        .list_invitations(&caller.org)
        .await?
        .iter()
        .filter(|i| i.org == caller.org)
        .map(|i| view(i, now))
        .collect();
    Ok(json(StatusCode::OK, &InvitationList { invitations }))
}

/// Invites a person; the answer holds the one-time token, valid for 7 days.
#[utoipa::path(post, path = "/api/v1/invitations", operation_id = "createInvitation", tag = "users",
    security(("bearer" = []), ("session" = [])),
    request_body = InvitationCreate,
    responses(
        (status = 201, body = InvitationCreated),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    deps: &Deps,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let body: InvitationCreate = json_body(req)?;
    let role = role(&body.role)?;
    caller.may_act_on(role, &format!("invite {}s", role.as_str()))?;
    let email = normalize_email(&body.email)
        .ok_or_else(|| ApiError::BadRequest("email is not an e-mail address".into()))?;
    let now = deps.auth.now();
    let (inv, token) = Invitation::issue(
        caller.org.clone(),
        email,
        role,
        caller.actor.to_string(),
        now,
    );
    let stored = deps.users.create_invitation(&inv).await?;
    let out = view(&stored, now);
    audit::record(
        deps,
        caller,
        "invitation.create",
        &format!("invitation {}", stored.id),
        None,
        serde_json::to_value(&out).ok(),
    )
    .await;
    Ok(json(
        StatusCode::CREATED,
        &InvitationCreated {
            invitation: out,
            token,
        },
    ))
}

/// Withdraws a pending invitation.
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", operation_id = "revokeInvitation", tag = "users",
    security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The invitation's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let now = deps.auth.now();
    let mut inv = deps
        .users
        .list_invitations(&caller.org)
        .await?
        .into_iter()
        .find(|i| i.id == id && i.org == caller.org)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "invitation {}",
                id.chars().take(64).collect::<String>()
            ))
        })?;
    if inv.state(now) != InvitationState::Pending {
        return Err(ApiError::Conflict(format!(
            "invitation {} is no longer pending",
            inv.id
        )));
    }
    let before = view(&inv, now);
    inv.revoked_at = Some(now);
    let written = deps.users.update_invitation(&inv).await?;
    audit::record(
        deps,
        caller,
        "invitation.revoke",
        &format!("invitation {}", inv.id),
        serde_json::to_value(&before).ok(),
        serde_json::to_value(view(&written, now)).ok(),
    )
    .await;
    Ok(no_content())
}

/// Accepts an invitation: creates the user with this password. Needs no sign-in: the
/// token is the credential, good once.
#[utoipa::path(post, path = "/api/v1/invitations/accept", operation_id = "acceptInvitation", tag = "users",
    request_body = InvitationAccept,
    responses(
        (status = 201, body = Accepted),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pending invitation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The e-mail already has an account", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: InvitationAccept = json_body(req)?;
    let now = deps.auth.now();
    let gone =
        || ApiError::NotFound("invitation (or it was used, withdrawn or has expired)".into());
    if body.token.is_empty() || body.token.len() > 128 {
        return Err(gone());
    }
    let mut inv = deps
        .users
        .invitation_by_hash(&secret_hash(&body.token))
        .await?
        .filter(|i| i.state(now) == InvitationState::Pending)
        .ok_or_else(gone)?;
    let hash = hash_password(body.password).await?;
    let user = User::new(inv.org.clone(), inv.email.clone(), inv.role, hash, now);
    // The e-mail's record is created at most once: of two racing accepts, one wins.
    let user = deps.users.create_user(&user).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict("this e-mail already has an account".into()),
        other => other.into(),
    })?;
    inv.accepted_at = Some(now);
    match deps.users.update_invitation(&inv).await {
        Ok(_) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let out = user_view(&user);
    audit::record_as(
        deps,
        &user.org,
        &Actor::User(user.id.clone()),
        "invitation.accept",
        &format!("invitation {}", inv.id),
        None,
        serde_json::to_value(&out).ok(),
    )
    .await;
    Ok(json(
        StatusCode::CREATED,
        &Accepted {
            org: user.org.to_string(),
            user: out,
        },
    ))
}
