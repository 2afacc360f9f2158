//! Twilio per organization: its subaccount (made through the platform's main account
//! the first time it is needed), buying a number into it with hotline's webhooks set,
//! releasing one, and whether Twilio still accepts the organization's credentials.
//!
//! An organization whose Twilio account is the platform's main account has none of its
//! own: its first number (or `POST /api/v1/twilio/subaccount`) makes it a subaccount,
//! stored on the organization with the token sealed like every secret. An organization
//! that brought its own account (hotline.yaml) keeps it and buys its numbers there.

use hotline_core::model::{Agent, Organization, PhoneNumber};
use hotline_core::ports::StoreError;
use hotline_core::routes;
use hotline_core::{AgentId, E164};
use hotline_twilio::numbers::{BuyNumber, NumberSearch};
use hotline_twilio::rest::RestError;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use tracing::{error, info, warn};

use crate::agents::json_body;
use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::views::{
    BoughtNumber, BuyNumberRequest, SubaccountOut, TwilioAccountOut, TwilioNumberOut, TwilioStatus,
};
use crate::{Deps, json};

/// Candidates tried when the first one is bought by someone else in between.
const BUY_ATTEMPTS: usize = 3;

fn twilio_error(e: &RestError) -> ApiError {
    match e {
        RestError::Auth { .. } => ApiError::Upstream(
            "Twilio refused the organization's credentials: check its account with GET /api/v1/twilio/status".into(),
        ),
        RestError::Rejected { message, code, .. } => ApiError::BadRequest(format!(
            "Twilio refused the request{}: {message}",
            code.map_or_else(String::new, |c| format!(" (code {c})"))
        )),
        other => ApiError::Upstream(format!("Twilio did not answer as expected: {other}")),
    }
}

/// The organization with an account of its own: its subaccount, made now if it runs on
/// the platform's main account and has no numbers there yet. The second value says
/// whether it was made now.
async fn with_own_account(
    deps: &Deps,
    mut org: Organization,
) -> Result<(Organization, bool), ApiError> {
    // Only an organization on the main account needs its token (read from SSM in AWS).
    if deps.twilio.main_account.as_ref() != Some(&org.twilio.account_sid) {
        return Ok((org, false));
    }
    let Some((main, main_token)) = deps.twilio.main().await? else {
        return Ok((org, false));
    };
    if !deps.directory.list_numbers(&org.id).await?.is_empty() {
        // Moving would leave those numbers signing webhooks for an account the
        // organization no longer has.
        return Err(ApiError::Conflict(format!(
            "organization {} has numbers on the platform's main account; release them before it gets a subaccount",
            org.id
        )));
    }
    let sub = deps
        .twilio
        .client
        .create_subaccount(&main, &main_token, &format!("hotline {}", org.id))
        .await
        .map_err(|e| twilio_error(&e))?;
    let made = sub.sid.clone();
    org.twilio.account_sid = sub.sid;
    org.twilio.auth_token = sub.auth_token;
    org.twilio.parent = Some(main.clone());
    // Over the version read: of two first purchases at once, one subaccount is kept.
    match deps.directory.update_org(&org).await {
        Ok(stored) => {
            info!(org = %org.id, account = %made, "made the organization's Twilio subaccount");
            Ok((stored, true))
        }
        Err(e) => {
            // Not stored, so not kept: a subaccount nobody uses must not stay open.
            if let Err(close) = deps
                .twilio
                .client
                .close_subaccount(&main, &main_token, &made)
                .await
            {
                error!(org = %org.id, account = %made, error = %close,
                    "made a subaccount that could not be stored nor closed: close it by hand");
            }
            let StoreError::Conflict(_) = e else {
                return Err(e.into());
            };
            // Someone wrote the organization first: most likely its subaccount.
            let now = deps
                .directory
                .get_org(&org.id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("organization {}", org.id)))?;
            if now.twilio.account_sid == main {
                return Err(ApiError::Conflict(format!(
                    "organization {} changed while its subaccount was made: try again",
                    org.id
                )));
            }
            info!(org = %org.id, account = %now.twilio.account_sid,
                "another request made the organization's subaccount first; closed ours");
            Ok((now, false))
        }
    }
}

/// Makes the organization's Twilio subaccount unless it has an account of its own.
#[utoipa::path(post, path = "/api/v1/twilio/subaccount", operation_id = "createTwilioSubaccount", tag = "twilio",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Made now", body = SubaccountOut),
        (status = 200, description = "The organization has its own account already", body = SubaccountOut),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has numbers on the main account", body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No main account configured", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_subaccount(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    if deps.twilio.main_account.is_none() {
        return Err(ApiError::Unconfigured(
            "no platform Twilio account (TWILIO_ACCOUNT_SID) to make subaccounts with".into(),
        ));
    }
    let org = crate::organization::load(deps, caller).await?;
    let (org, created) = with_own_account(deps, org).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(
        status,
        &SubaccountOut {
            account_sid: org.twilio.account_sid.to_string(),
            created,
        },
    ))
}

fn parse_search(body: &BuyNumberRequest) -> Result<(String, NumberSearch), ApiError> {
    let country = body.country.clone().unwrap_or_else(|| "US".to_owned());
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::BadRequest(
            "country must be an ISO 3166 code of two capital letters, e.g. US".into(),
        ));
    }
    if let Some(area) = &body.area_code
        && (area.len() != 3 || !area.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::BadRequest(
            "area_code must be three digits".into(),
        ));
    }
    if let Some(pattern) = &body.contains
        && (!(2..=16).contains(&pattern.len())
            || !pattern
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'*'))
    {
        return Err(ApiError::BadRequest(
            "contains must be 2 to 16 digits, letters or '*'".into(),
        ));
    }
    if body.area_code.is_none() && body.contains.is_none() {
        return Err(ApiError::BadRequest(
            "send area_code, or country and contains".into(),
        ));
    }
    let search = NumberSearch {
        area_code: body.area_code.clone(),
        contains: body.contains.clone(),
        voice_enabled: true,
        sms_enabled: body.sms.unwrap_or(true),
    };
    Ok((country, search))
}

/// The agent the number rings: the one named, or the organization's first enabled one.
async fn choose_agent(
    deps: &Deps,
    caller: &Caller,
    named: Option<&str>,
) -> Result<Agent, ApiError> {
    match named {
        Some(id) => {
            let id = AgentId::parse(id)
                .map_err(|_| ApiError::BadRequest(format!("agent {id:?} is not an agent id")))?;
            deps.directory
                .get_agent(&caller.org, &id)
                .await?
                .filter(|a| a.org == caller.org)
                .ok_or_else(|| ApiError::BadRequest(format!("this organization has no agent {id}")))
        }
        None => deps
            .directory
            .list_agents(&caller.org)
            .await?
            .into_iter()
            .filter(|a| a.org == caller.org)
            .find(|a| a.enabled)
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "this organization has no enabled agent to answer the number: create one first"
                        .into(),
                )
            }),
    }
}

/// Buys a number into the organization's Twilio account, points its voice, status and
/// SMS webhooks at hotline, routes it to an agent and gives it the organization's default
/// analyzers (which run on its calls beside the agent's).
#[utoipa::path(post, path = "/api/v1/numbers", operation_id = "buyNumber", tag = "numbers",
    security(("bearer" = [])),
    request_body = BuyNumberRequest,
    responses(
        (status = 201, body = BoughtNumber),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No number available that matches", body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn buy(deps: &Deps, caller: &Caller, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let body: BuyNumberRequest = json_body(req)?;
    let (country, search) = parse_search(&body)?;
    let agent = choose_agent(deps, caller, body.agent.as_deref()).await?;
    let webhooks = (
        deps.twilio.webhook(routes::VOICE)?,
        deps.twilio.webhook(routes::STATUS)?,
        deps.twilio.webhook(routes::SMS)?,
    );
    let org = crate::organization::load(deps, caller).await?;
    let (org, _) = with_own_account(deps, org).await?;
    let (account, token) = (&org.twilio.account_sid, &org.twilio.auth_token);
    let client = &deps.twilio.client;
    let offered = client
        .search_local_numbers(account, token, &country, &search)
        .await
        .map_err(|e| twilio_error(&e))?;
    let nothing = || {
        ApiError::Conflict(format!(
            "Twilio has no {country} number available{}{}: try another area code or pattern",
            search
                .area_code
                .as_ref()
                .map_or_else(String::new, |a| format!(" in area code {a}")),
            search
                .contains
                .as_ref()
                .map_or_else(String::new, |c| format!(" containing {c}")),
        ))
    };
    let mut tried = 0;
    for candidate in offered {
        let Ok(number) = E164::parse(&candidate.phone_number) else {
            continue;
        };
        if deps.directory.get_number(&number).await?.is_some() {
            continue;
        }
        if tried == BUY_ATTEMPTS {
            break;
        }
        tried += 1;
        let purchase = BuyNumber {
            phone_number: number.clone(),
            voice_url: webhooks.0.clone(),
            status_callback: webhooks.1.clone(),
            sms_url: webhooks.2.clone(),
            friendly_name: Some(format!("hotline {} {}", org.id, agent.id)),
        };
        let bought = match client.buy_number(account, token, &purchase).await {
            Ok(bought) => bought,
            // Bought by someone else since the search: the next one.
            Err(e) if e.code() == Some(21422) => continue,
            Err(e) => return Err(twilio_error(&e)),
        };
        let record = PhoneNumber {
            number: number.clone(),
            org: org.id.clone(),
            agent: agent.id.clone(),
            enabled: true,
            sms: body.sms.unwrap_or(true),
            sms_agent: None,
            sms_disabled_message: None,
            // The organization's default analyzers, as they are now.
            analyzers: org.settings.default_analyzers.clone(),
            version: 0,
        };
        if let Err(e) = deps.directory.put_number(&record).await {
            // Not routed, so not kept: a number nobody answers must not stay bought.
            if let Err(release) = client.release_number(account, token, &bought.sid).await {
                error!(number = %number, sid = %bought.sid, error = %release,
                    "bought a number that could not be stored nor released: release it by hand");
            }
            return Err(e.into());
        }
        info!(org = %org.id, number = %number, sid = %bought.sid, "bought a number");
        return Ok(json(
            StatusCode::CREATED,
            &BoughtNumber {
                number: number.to_string(),
                agent: agent.id.to_string(),
                enabled: true,
                sms: record.sms,
                analyzers: record
                    .analyzers_with(&agent.analyzers)
                    .into_iter()
                    .map(|a| a.name)
                    .collect(),
                twilio_sid: bought.sid,
                account_sid: account.to_string(),
            },
        ));
    }
    Err(nothing())
}

/// The number in a path segment: `+14155550100`, its `+` percent-encoded or not.
pub(crate) fn path_number(raw: &str) -> Result<E164, ApiError> {
    let decoded = raw.replace("%2B", "+").replace("%2b", "+");
    E164::parse(&decoded).map_err(|_| {
        ApiError::NotFound(format!(
            "number {}",
            raw.chars().take(32).collect::<String>()
        ))
    })
}

/// Releases the number from the organization's Twilio account and forgets it.
#[utoipa::path(delete, path = "/api/v1/numbers/{e164}", operation_id = "releaseNumber", tag = "numbers",
    security(("bearer" = [])),
    params(("e164" = String, Path, description = "The number, E.164 (`+14155550100`, `+` may be sent as `%2B`)")),
    responses(
        (status = 204, description = "Released"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn release(deps: &Deps, caller: &Caller, raw: &str) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let number = path_number(raw)?;
    deps.directory
        .get_number(&number)
        .await?
        .filter(|n| n.org == caller.org)
        .ok_or_else(|| ApiError::NotFound(format!("number {number}")))?;
    let org = crate::organization::load(deps, caller).await?;
    let (account, token) = (&org.twilio.account_sid, &org.twilio.auth_token);
    let client = &deps.twilio.client;
    let owned = client
        .incoming_numbers(account, token, Some(&number))
        .await
        .map_err(|e| twilio_error(&e))?;
    if owned.is_empty() {
        warn!(number = %number, "releasing a number Twilio no longer lists in the account");
    }
    for n in owned.iter().filter(|n| n.phone_number == number.as_str()) {
        match client.release_number(account, token, &n.sid).await {
            Ok(()) | Err(RestError::NotFound { .. }) => {}
            Err(e) => return Err(twilio_error(&e)),
        }
    }
    deps.directory.delete_number(&caller.org, &number).await?;
    info!(org = %caller.org, number = %number, "released a number");
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

/// Whether Twilio accepts the organization's credentials, its account and numbers.
#[utoipa::path(get, path = "/api/v1/twilio/status", operation_id = "getTwilioStatus", tag = "twilio",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TwilioStatus),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn status(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let org = crate::organization::load(deps, caller).await?;
    let (account, token) = (&org.twilio.account_sid, &org.twilio.auth_token);
    let client = &deps.twilio.client;
    let disconnected = |e: &RestError| TwilioStatus {
        connected: false,
        account: TwilioAccountOut {
            sid: account.to_string(),
            friendly_name: None,
            status: None,
            kind: None,
        },
        numbers: Vec::new(),
        error: Some(match e {
            RestError::Auth { .. } => format!("Twilio refused the organization's credentials: {e}"),
            other => other.to_string(),
        }),
    };
    let info = match client.fetch_account(account, token).await {
        Ok(info) => info,
        Err(e) => return Ok(json(StatusCode::OK, &disconnected(&e))),
    };
    let numbers = match client.incoming_numbers(account, token, None).await {
        Ok(numbers) => numbers,
        Err(e) => return Ok(json(StatusCode::OK, &disconnected(&e))),
    };
    Ok(json(
        StatusCode::OK,
        &TwilioStatus {
            connected: true,
            account: TwilioAccountOut {
                sid: info.sid,
                friendly_name: Some(info.friendly_name),
                status: Some(info.status),
                kind: Some(info.kind),
            },
            numbers: numbers
                .into_iter()
                .map(|n| TwilioNumberOut {
                    number: n.phone_number,
                    sid: n.sid,
                    voice_url: n.voice_url,
                    sms_url: n.sms_url,
                    status_callback: n.status_callback,
                })
                .collect(),
            error: None,
        },
    ))
}
