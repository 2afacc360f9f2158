//! `/api/v1/users`: the organization's people; owners and admins change roles and remove
//! people. An admin cannot make, demote or remove an owner; the last owner stays.

use hotline_core::model::Role;
use hotline_core::people::User;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agents::json_body;
use crate::auth::Caller;
use crate::keys::role;
use crate::problem::{ApiError, Problem};
use crate::{Deps, audit, json, no_content};

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub email: String,
    /// owner, admin or viewer.
    pub role: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserOut>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// owner, admin or viewer.
    pub role: String,
}

pub(crate) fn view(user: &User) -> UserOut {
    UserOut {
        id: user.id.clone(),
        email: user.email.clone(),
        role: user.role.as_str().to_owned(),
        created_at: user.created_at,
    }
}

/// The organization's active users and the user `id` among them (404 otherwise: another
/// organization's user is not told apart from no user).
async fn find(deps: &Deps, caller: &Caller, id: &str) -> Result<(Vec<User>, User), ApiError> {
    let users = deps.users.list_users(&caller.org).await?;
    let user = users
        .iter()
        .find(|u| u.id == id && u.org == caller.org && u.is_active())
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(format!("user {}", id.chars().take(64).collect::<String>()))
        })?;
    Ok((users, user))
}

fn refuse_unless(caller: &Caller, role: Role, what: &str) -> Result<(), ApiError> {
    caller.may_act_on(role, &format!("{what} {}s", role.as_str()))
}

fn is_last_owner(users: &[User], user: &User) -> bool {
    user.role == Role::Owner && users.iter().filter(|u| u.role == Role::Owner).count() <= 1
}

/// The organization's people.
#[utoipa::path(get, path = "/api/v1/users", operation_id = "listUsers", tag = "users",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = UserList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let users = deps
        .users
        .list_users(&caller.org)
        .await?
        .iter()
        .filter(|u| u.org == caller.org && u.is_active())
        .map(view)
        .collect();
    Ok(json(StatusCode::OK, &UserList { users }))
}

/// Changes a person's role.
#[utoipa::path(patch, path = "/api/v1/users/{id}", operation_id = "patchUser", tag = "users",
    security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The user's id")),
    request_body = UserPatch,
    responses(
        (status = 200, body = UserOut),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last owner cannot be demoted", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch(
    deps: &Deps,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let body: UserPatch = json_body(req)?;
    let new_role = role(&body.role)?;
    let (users, mut user) = find(deps, caller, id).await?;
    refuse_unless(caller, user.role, "change")?;
    refuse_unless(caller, new_role, "make")?;
    if new_role != Role::Owner && is_last_owner(&users, &user) {
        return Err(ApiError::Conflict(
            "the organization's last owner cannot be demoted: make another owner first".into(),
        ));
    }
    let before = view(&user);
    user.role = new_role;
    let written = deps.users.update_user(&user).await?;
    let after = view(&written);
    audit::record(
        deps,
        caller,
        "user.update",
        &format!("user {}", user.id),
        serde_json::to_value(&before).ok(),
        serde_json::to_value(&after).ok(),
    )
    .await;
    Ok(json(StatusCode::OK, &after))
}

/// Removes a person from the organization; their sessions end at once.
#[utoipa::path(delete, path = "/api/v1/users/{id}", operation_id = "deleteUser", tag = "users",
    security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last owner cannot be removed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove(deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let (users, mut user) = find(deps, caller, id).await?;
    refuse_unless(caller, user.role, "remove")?;
    if is_last_owner(&users, &user) {
        return Err(ApiError::Conflict(
            "the organization's last owner cannot be removed".into(),
        ));
    }
    let before = view(&user);
    user.removed_at = Some(deps.auth.now());
    deps.users.update_user(&user).await?;
    audit::record(
        deps,
        caller,
        "user.remove",
        &format!("user {}", user.id),
        serde_json::to_value(&before).ok(),
        None,
    )
    .await;
    Ok(no_content())
}
