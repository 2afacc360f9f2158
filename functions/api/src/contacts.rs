//! `/api/v1/contacts`: the people the organization talks to, searched, paged and edited.
//! A person's edit marks its fields, so what later calls learn never overwrites them
//! (`Contact::enrich` in shared/core).

use chrono::{DateTime, Utc};
use hotline_core::E164;
use hotline_core::model::{Contact, ContactField};
use hotline_core::ports::StoreResult;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::edit::{Edit, Place, modify};
use crate::problem::{ApiError, Problem};
use crate::query::{QueryParams, encode_cursor, object_body, path_id, present};
use crate::{Deps, json};

const MAX_QUERY: usize = 100;
const MAX_NAME: usize = 200;
const MAX_EMAIL: usize = 254;
const MAX_NOTES: usize = 4000;

/// A contact: one per phone number in the organization; its id is the number.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactOut {
    /// The E.164 phone number (`+` may be sent as `%2B` in a path).
    pub id: String,
    pub phone: String,
    pub name: Option<String>,
    pub company: Option<String>,
    pub email: Option<String>,
    pub notes: Option<String>,
    /// Fields a person set (`name`, `company`, `notes`, `email`): calls never overwrite them.
    pub edited: Vec<String>,
    pub last_call: Option<String>,
    /// Texted STOP: nothing is sent to them by text.
    pub sms_opted_out: bool,
    pub created_at: DateTime<Utc>,
    /// Changes on every write; send it with a `PATCH` to write over this version only.
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactPage {
    pub contacts: Vec<ContactOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// The fields to set; an absent field is left alone, `null` clears it. Every field sent
/// is marked as edited by a person.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    /// When sent, the write happens only over this version (else 409).
    #[serde(default)]
    pub version: Option<u64>,
}

fn field_name(field: ContactField) -> &'static str {
    match field {
        ContactField::Name => "name",
        ContactField::Company => "company",
        ContactField::Notes => "notes",
        ContactField::Email => "email",
    }
}

pub(crate) fn view(c: &Contact) -> ContactOut {
    ContactOut {
        id: c.phone.to_string(),
        phone: c.phone.to_string(),
        name: c.name.clone(),
        company: c.company.clone(),
        email: c.email.clone(),
        notes: c.notes.clone(),
        edited: c.edited.iter().map(|f| field_name(*f).to_owned()).collect(),
        last_call: c.last_call.as_ref().map(ToString::to_string),
        sms_opted_out: c.sms_opted_out,
        created_at: c.created_at,
        version: c.version,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "contact {}",
        id.chars().take(64).collect::<String>()
    ))
}

fn phone(id: &str) -> Result<E164, ApiError> {
    E164::parse(&path_id(id)).map_err(|_| not_found(id))
}

/// The organization's contacts whose name, phone, e-mail or company contains `q`, in
/// phone-number order.
#[utoipa::path(get, path = "/api/v1/contacts", operation_id = "listContacts", tag = "contacts",
    security(("bearer" = [])),
    params(
        ("q" = Option<String>, Query, description = "Part of the name, phone, e-mail or company (any case)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 25"),
    ),
    responses(
        (status = 200, body = ContactPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller, req: &Request) -> Result<Response<Body>, ApiError> {
    let params = QueryParams::of(req);
    let limit = params.limit()?;
    let after = params
        .cursor()?
        .map(|c| {
            E164::parse(&c)
                .map_err(|_| ApiError::BadRequest("cursor is not one this API gave out".into()))
        })
        .transpose()?;
    let q = params.first("q").unwrap_or("").trim().to_lowercase();
    if q.chars().count() > MAX_QUERY {
        return Err(ApiError::BadRequest(format!(
            "q: at most {MAX_QUERY} characters"
        )));
    }
    // A substring search reads the organization's contacts whatever the store: neither
    // DynamoDB nor the local table indexes parts of strings.
    let mut contacts: Vec<Contact> = deps
        .contacts
        .list_contacts(&caller.org)
        .await?
        .into_iter()
        .filter(|c| c.org == caller.org && c.matches(&q))
        .filter(|c| after.as_ref().is_none_or(|a| c.phone.as_str() > a.as_str()))
        .collect();
    contacts.sort_by(|a, b| a.phone.as_str().cmp(b.phone.as_str()));
    let next_cursor =
        (contacts.len() > limit).then(|| encode_cursor(contacts[limit - 1].phone.as_str()));
    contacts.truncate(limit);
    Ok(json(
        StatusCode::OK,
        &ContactPage {
            contacts: contacts.iter().map(view).collect(),
            next_cursor,
        },
    ))
}

/// One contact.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", operation_id = "getContact", tag = "contacts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The contact's E.164 phone number")),
    responses(
        (status = 200, body = ContactOut),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, ApiError> {
    let phone = phone(id)?;
    let contact = deps
        .contacts
        .get_contact(&caller.org, &phone)
        .await?
        .filter(|c| c.org == caller.org)
        .ok_or_else(|| not_found(id))?;
    Ok(json(StatusCode::OK, &view(&contact)))
}

/// A person's edit of a contact: the fields sent are set and marked as edited, so the
/// post-call enrichment leaves them alone from now on.
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", operation_id = "patchContact", tag = "contacts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The contact's E.164 phone number")),
    request_body = ContactPatch,
    responses(
        (status = 200, body = ContactOut),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`version` is not the stored one", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch(
    deps: &Deps,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let phone = phone(id)?;
    let patch: ContactPatch = object_body(req)?;
    let edits = edits(patch.name, patch.company, patch.email, patch.notes)?;
    let target = format!("contact {phone}");
    let edit = Edit {
        target: &target,
        action: "contact.update",
        pinned: patch.version,
    };
    let place = ContactPlace {
        deps,
        caller,
        phone: &phone,
        id,
    };
    let contact = modify(
        deps,
        caller,
        edit,
        &place,
        |contact| {
            for (field, value) in &edits {
                contact.set_by_person(*field, value.clone());
            }
        },
        view,
    )
    .await?;
    Ok(json(StatusCode::OK, &view(&contact)))
}

/// The caller's contact with this number.
struct ContactPlace<'a> {
    deps: &'a Deps,
    caller: &'a Caller,
    phone: &'a E164,
    id: &'a str,
}

impl Place for ContactPlace<'_> {
    type Record = Contact;

    async fn read(&self) -> Result<Contact, ApiError> {
        self.deps
            .contacts
            .get_contact(&self.caller.org, self.phone)
            .await?
            .filter(|c| c.org == self.caller.org)
            .ok_or_else(|| not_found(self.id))
    }

    async fn write(&self, contact: &Contact) -> StoreResult<Contact> {
        self.deps.contacts.update_contact(contact).await
    }
}

/// The fields to set, checked.
fn edits(
    name: Option<Option<String>>,
    company: Option<Option<String>>,
    email: Option<Option<String>>,
    notes: Option<Option<String>>,
) -> Result<Vec<(ContactField, Option<String>)>, ApiError> {
    let mut out = Vec::new();
    for (field, value, max) in [
        (ContactField::Name, name, MAX_NAME),
        (ContactField::Company, company, MAX_NAME),
        (ContactField::Email, email, MAX_EMAIL),
        (ContactField::Notes, notes, MAX_NOTES),
    ] {
        let Some(value) = value else { continue };
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let name = field_name(field);
        if let Some(v) = &value {
            if v.chars().count() > max {
                return Err(ApiError::BadRequest(format!(
                    "{name}: at most {max} characters"
                )));
            }
            if field != ContactField::Notes && v.chars().any(char::is_control) {
                return Err(ApiError::BadRequest(format!(
                    "{name}: no control characters"
                )));
            }
            if field == ContactField::Email && !looks_like_email(v) {
                return Err(ApiError::BadRequest("email: not an e-mail address".into()));
            }
        }
        out.push((field, value));
    }
    Ok(out)
}

fn looks_like_email(v: &str) -> bool {
    match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.chars().any(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}
