//! The fake's accounts and phone numbers (`protocols/twilio-rest.md` §4, §5):
//!
//! | request | answer |
//! |---|---|
//! | `POST /2010-04-01/Accounts.json` | 201, a new subaccount of the caller's account, with its `auth_token` |
//! | `GET /2010-04-01/Accounts/{AC}.json` | 200, the Account resource |
//! | `POST /2010-04-01/Accounts/{AC}.json` | 200, `Status=closed` closes a subaccount (by its main account): its credentials stop working |
//! | `GET /Accounts/{AC}/AvailablePhoneNumbers/{CC}/Local.json` | 200, numbers on offer matching `AreaCode`/`Contains` |
//! | `POST /Accounts/{AC}/IncomingPhoneNumbers.json` | 201, the bought number with its webhooks |
//! | `GET /Accounts/{AC}/IncomingPhoneNumbers.json` | 200, one page of the account's numbers (`PhoneNumber` filters) |
//! | `DELETE /Accounts/{AC}/IncomingPhoneNumbers/{PN}.json` | 204, released |
//!
//! A subaccount's resources open with its own credentials or its main account's, as on
//! Twilio. The numbers on offer start as a few fictional `555-01xx` numbers in US area
//! codes 212, 415, 510 and 646 and Canadian 604 ([`FakeTwilio::set_available_numbers`]
//! changes them); a bought number is no longer on offer. Error codes 21422 (number not
//! available) and 21452 (no number matched an area code) are Twilio's; 21421 for a buy
//! naming no number is the closest documented one.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hyper::StatusCode;
use serde_json::{Value, json};

use super::{API_VERSION, FakeTwilio, RecordedRequest, Reply, State, date, formatted, new_sid};

const ROOT: &str = "/2010-04-01/";

/// What the fake holds about accounts and numbers, beside the credentials in
/// `State::accounts`.
#[derive(Debug)]
pub(super) struct NumberState {
    /// Numbers on offer, by ISO country code.
    available: HashMap<String, Vec<String>>,
    owned: Vec<FakeIncomingNumber>,
    subaccounts: Vec<FakeSubaccount>,
    /// The largest page served: 1000 on Twilio.
    max_page_size: usize,
}

impl Default for NumberState {
    fn default() -> Self {
        let mut available = HashMap::new();
        let us = ["212", "415", "510", "646"]
            .iter()
            .flat_map(|area| (100..105).map(move |n| format!("+1{area}555{n:04}")))
            .collect();
        available.insert("US".to_owned(), us);
        available.insert(
            "CA".to_owned(),
            (100..105).map(|n| format!("+1604555{n:04}")).collect(),
        );
        Self {
            available,
            owned: Vec::new(),
            subaccounts: Vec::new(),
            max_page_size: 1000,
        }
    }
}

/// A number an account bought, as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeIncomingNumber {
    pub sid: String,
    pub account: String,
    pub phone_number: String,
    pub friendly_name: String,
    pub voice_url: Option<String>,
    pub voice_method: String,
    pub status_callback: Option<String>,
    pub status_callback_method: String,
    pub sms_url: Option<String>,
    pub sms_method: String,
    created: DateTime<Utc>,
}

/// A subaccount made through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeSubaccount {
    pub sid: String,
    pub owner: String,
    pub friendly_name: String,
    /// `active`, `suspended` or `closed`.
    pub status: String,
    created: DateTime<Utc>,
}

impl FakeTwilio {
    /// Replaces the numbers on offer in `country` (`US`, `CA`, …); none makes every
    /// search there answer an empty list.
    pub fn set_available_numbers(&self, country: &str, numbers: &[&str]) {
        self.shared.lock().numbers.available.insert(
            country.to_owned(),
            numbers.iter().map(|n| (*n).to_owned()).collect(),
        );
    }

    /// The numbers `account` owns now, oldest first.
    pub fn incoming_numbers(&self, account: impl AsRef<str>) -> Vec<FakeIncomingNumber> {
        let account = account.as_ref();
        self.shared
            .lock()
            .numbers
            .owned
            .iter()
            .filter(|n| n.account == account)
            .cloned()
            .collect()
    }

    /// Gives `account` these numbers as if bought with no webhooks set (how a test
    /// makes an account with more numbers than one page holds).
    pub fn own_numbers(&self, account: impl AsRef<str>, numbers: &[String]) {
        let mut state = self.shared.lock();
        for number in numbers {
            let owned = FakeIncomingNumber {
                sid: new_sid("PN"),
                account: account.as_ref().to_owned(),
                phone_number: number.clone(),
                friendly_name: formatted(number),
                voice_url: None,
                voice_method: "POST".into(),
                status_callback: None,
                status_callback_method: "POST".into(),
                sms_url: None,
                sms_method: "POST".into(),
                created: Utc::now(),
            };
            state.numbers.owned.push(owned);
        }
    }

    /// Every subaccount made through the API, oldest first.
    pub fn subaccounts(&self) -> Vec<FakeSubaccount> {
        self.shared.lock().numbers.subaccounts.clone()
    }
}

/// The answer to a request for accounts or numbers; `None` for any other request.
pub(super) fn respond(
    state: &mut State,
    method: &str,
    path: &str,
    query: Option<&str>,
    auth: Option<&(String, String)>,
    params: &[(String, String)],
) -> Option<Reply> {
    let rest = path.strip_prefix(ROOT)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let route = match (method, segments.as_slice()) {
        ("POST", ["Accounts.json"]) => Route::CreateAccount,
        ("GET", ["Accounts", file]) => Route::FetchAccount(file.strip_suffix(".json")?),
        ("POST", ["Accounts", file]) => Route::UpdateAccount(file.strip_suffix(".json")?),
        (
            "GET",
            [
                "Accounts",
                account,
                "AvailablePhoneNumbers",
                country,
                "Local.json",
            ],
        ) => Route::Search(account, country),
        ("POST", ["Accounts", account, "IncomingPhoneNumbers.json"]) => Route::Buy(account),
        ("GET", ["Accounts", account, "IncomingPhoneNumbers.json"]) => Route::List(account),
        ("DELETE", ["Accounts", account, "IncomingPhoneNumbers", file]) => {
            Route::Release(account, file.strip_suffix(".json")?)
        }
        _ => return None,
    };
    if let Some(status) = state.failures.pop_front() {
        return Some(Reply::injected(status));
    }
    let query: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    Some(match route {
        Route::CreateAccount => match caller(state, auth) {
            Ok(owner) => create_account(state, &owner, params),
            Err(reply) => reply,
        },
        Route::FetchAccount(sid) => match authorize(state, auth, sid) {
            Ok(()) => fetch_account(state, sid, path),
            Err(reply) => reply,
        },
        Route::UpdateAccount(sid) => match authorize(state, auth, sid) {
            Ok(()) => update_account(state, sid, params, path),
            Err(reply) => reply,
        },
        Route::Search(account, country) => match authorize(state, auth, account) {
            Ok(()) => search(state, account, country, &query, path),
            Err(reply) => reply,
        },
        Route::Buy(account) => match authorize(state, auth, account) {
            Ok(()) => buy(state, account, params),
            Err(reply) => reply,
        },
        Route::List(account) => match authorize(state, auth, account) {
            Ok(()) => list(state, account, &query, path),
            Err(reply) => reply,
        },
        Route::Release(account, sid) => match authorize(state, auth, account) {
            Ok(()) => release(state, account, sid, path),
            Err(reply) => reply,
        },
    })
}

enum Route<'a> {
    CreateAccount,
    FetchAccount(&'a str),
    UpdateAccount(&'a str),
    Search(&'a str, &'a str),
    Buy(&'a str),
    List(&'a str),
    Release(&'a str, &'a str),
}

/// The account whose valid credentials came with the request.
fn caller(state: &State, auth: Option<&(String, String)>) -> Result<String, Reply> {
    match auth {
        Some((user, password)) if state.accounts.get(user) == Some(password) => Ok(user.clone()),
        _ => Err(Reply::unauthorized(StatusCode::UNAUTHORIZED)),
    }
}

/// Credentials of `account` itself or of its main account.
fn authorize(state: &State, auth: Option<&(String, String)>, account: &str) -> Result<(), Reply> {
    let user = caller(state, auth)?;
    let owner = state
        .numbers
        .subaccounts
        .iter()
        .find(|s| s.sid == account)
        .map(|s| s.owner.as_str());
    if user == account || owner == Some(user.as_str()) {
        Ok(())
    } else {
        Err(Reply::unauthorized(StatusCode::FORBIDDEN))
    }
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    super::param(params, key)
}

fn create_account(state: &mut State, owner: &str, params: &[(String, String)]) -> Reply {
    if state.numbers.subaccounts.iter().any(|s| s.sid == owner) {
        return Reply::error(
            StatusCode::FORBIDDEN,
            20008,
            "Subaccounts cannot create subaccounts",
        );
    }
    let now = Utc::now();
    let sid = new_sid("AC");
    let token = uuid::Uuid::new_v4().simple().to_string();
    let friendly_name = param(params, "FriendlyName").map_or_else(
        || format!("SubAccount Created at {}", date(now)),
        str::to_owned,
    );
    state.accounts.insert(sid.clone(), token.clone());
    let sub = FakeSubaccount {
        sid,
        owner: owner.to_owned(),
        friendly_name,
        status: "active".into(),
        created: now,
    };
    let mut body = account_json(&sub);
    body["auth_token"] = token.into();
    state.numbers.subaccounts.push(sub);
    Reply::json(StatusCode::CREATED, &body)
}

fn fetch_account(state: &State, sid: &str, path: &str) -> Reply {
    match state.numbers.subaccounts.iter().find(|s| s.sid == sid) {
        Some(sub) => Reply::json(StatusCode::OK, &account_json(sub)),
        None if state.accounts.contains_key(sid) => Reply::json(
            StatusCode::OK,
            &account_json(&FakeSubaccount {
                sid: sid.to_owned(),
                owner: sid.to_owned(),
                friendly_name: "hotline main account".into(),
                status: "active".into(),
                created: Utc::now(),
            }),
        ),
        None => Reply::not_found(path),
    }
}

/// Renames a subaccount or changes its status; closing is final, as on Twilio, and its
/// credentials stop working at once.
fn update_account(state: &mut State, sid: &str, params: &[(String, String)], path: &str) -> Reply {
    let status = param(params, "Status").map(str::to_owned);
    if let Some(s) = &status
        && !matches!(s.as_str(), "active" | "suspended" | "closed")
    {
        return Reply::error(StatusCode::BAD_REQUEST, 20001, "Invalid Status");
    }
    let name = param(params, "FriendlyName").map(str::to_owned);
    let Some(sub) = state.numbers.subaccounts.iter_mut().find(|s| s.sid == sid) else {
        return Reply::not_found(path);
    };
    if sub.status == "closed" && status.as_deref().is_some_and(|s| s != "closed") {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            20001,
            "A closed account cannot be reopened",
        );
    }
    if let Some(status) = status {
        sub.status = status;
    }
    if let Some(name) = name {
        sub.friendly_name = name;
    }
    let body = account_json(sub);
    if sub.status == "closed" {
        state.accounts.remove(sid);
    }
    Reply::json(StatusCode::OK, &body)
}

fn account_json(account: &FakeSubaccount) -> Value {
    let (sid, created) = (&account.sid, account.created);
    let uri = format!("/{API_VERSION}/Accounts/{sid}.json");
    json!({
        "sid": sid,
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.owner,
        "status": account.status,
        "type": "Full",
        "date_created": date(created),
        "date_updated": date(created),
        "uri": uri,
        "subresource_uris": {
            "incoming_phone_numbers": format!("/{API_VERSION}/Accounts/{sid}/IncomingPhoneNumbers.json"),
            "available_phone_numbers": format!("/{API_VERSION}/Accounts/{sid}/AvailablePhoneNumbers.json"),
            "calls": format!("/{API_VERSION}/Accounts/{sid}/Calls.json"),
        },
    })
}

/// Twilio's `Contains`: digits, letters for their keypad digits, `*` for any digit.
fn matches_pattern(number: &str, pattern: &str) -> bool {
    let keypad = |c: char| match c.to_ascii_uppercase() {
        'A'..='C' => Some('2'),
        'D'..='F' => Some('3'),
        'G'..='I' => Some('4'),
        'J'..='L' => Some('5'),
        'M'..='O' => Some('6'),
        'P'..='S' => Some('7'),
        'T'..='V' => Some('8'),
        'W'..='Z' => Some('9'),
        d @ ('0'..='9' | '*') => Some(d),
        _ => None,
    };
    let Some(pattern) = pattern.chars().map(keypad).collect::<Option<Vec<char>>>() else {
        return false;
    };
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    digits
        .windows(pattern.len())
        .any(|w| w.iter().zip(&pattern).all(|(d, p)| *p == '*' || d == p))
}

fn search(
    state: &State,
    account: &str,
    country: &str,
    query: &[(String, String)],
    path: &str,
) -> Reply {
    let Some(offered) = state.numbers.available.get(country) else {
        return Reply::not_found(path);
    };
    let area = param(query, "AreaCode");
    if area.is_some_and(|a| a.len() != 3 || !a.bytes().all(|b| b.is_ascii_digit())) {
        return Reply::error(StatusCode::BAD_REQUEST, 21452, "AreaCode must be 3 digits");
    }
    let contains = param(query, "Contains");
    if contains.is_some_and(|c| !(2..=16).contains(&c.len())) {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            21452,
            "Contains must be 2 to 16 characters",
        );
    }
    let page_size = param(query, "PageSize")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    let numbers: Vec<Value> = offered
        .iter()
        .filter(|n| !state.numbers.owned.iter().any(|o| &o.phone_number == *n))
        .filter(|n| area.is_none_or(|a| n.strip_prefix("+1").is_some_and(|d| d.starts_with(a))))
        .filter(|n| contains.is_none_or(|c| matches_pattern(n, c)))
        .take(page_size)
        .map(|n| {
            json!({
                "friendly_name": formatted(n),
                "phone_number": n,
                "lata": null, "locality": null, "rate_center": null,
                "latitude": null, "longitude": null, "region": null, "postal_code": null,
                "iso_country": country,
                "address_requirements": "none",
                "beta": false,
                "capabilities": {"voice": true, "SMS": true, "MMS": true},
            })
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        &json!({
            "available_phone_numbers": numbers,
            "uri": format!("/{API_VERSION}/Accounts/{account}/AvailablePhoneNumbers/{country}/Local.json"),
        }),
    )
}

fn buy(state: &mut State, account: &str, params: &[(String, String)]) -> Reply {
    let requested = match (param(params, "PhoneNumber"), param(params, "AreaCode")) {
        (Some(number), _) => Some(number.to_owned()),
        (None, Some(area)) => state
            .numbers
            .available
            .values()
            .flatten()
            .find(|n| {
                n.strip_prefix("+1").is_some_and(|d| d.starts_with(area))
                    && !state.numbers.owned.iter().any(|o| &o.phone_number == *n)
            })
            .cloned(),
        (None, None) => {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                21421,
                "A 'PhoneNumber' or 'AreaCode' is required",
            );
        }
    };
    let Some(number) = requested.filter(|n| {
        state.numbers.available.values().flatten().any(|a| a == n)
            && !state.numbers.owned.iter().any(|o| &o.phone_number == n)
    }) else {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            21422,
            "PhoneNumber requested is not available",
        );
    };
    let method = |key: &str| param(params, key).unwrap_or("POST").to_owned();
    let owned = FakeIncomingNumber {
        sid: new_sid("PN"),
        account: account.to_owned(),
        friendly_name: param(params, "FriendlyName")
            .map_or_else(|| formatted(&number), str::to_owned),
        phone_number: number,
        voice_url: param(params, "VoiceUrl").map(str::to_owned),
        voice_method: method("VoiceMethod"),
        status_callback: param(params, "StatusCallback").map(str::to_owned),
        status_callback_method: method("StatusCallbackMethod"),
        sms_url: param(params, "SmsUrl").map(str::to_owned),
        sms_method: method("SmsMethod"),
        created: Utc::now(),
    };
    let body = incoming_json(&owned);
    state.numbers.owned.push(owned);
    Reply::json(StatusCode::CREATED, &body)
}

fn incoming_json(n: &FakeIncomingNumber) -> Value {
    json!({
        "sid": n.sid,
        "account_sid": n.account,
        "phone_number": n.phone_number,
        "friendly_name": n.friendly_name,
        "voice_url": n.voice_url,
        "voice_method": n.voice_method,
        "voice_fallback_url": null,
        "voice_fallback_method": "POST",
        "voice_caller_id_lookup": false,
        "voice_application_sid": null,
        "status_callback": n.status_callback,
        "status_callback_method": n.status_callback_method,
        "sms_url": n.sms_url,
        "sms_method": n.sms_method,
        "sms_fallback_url": null,
        "sms_fallback_method": "POST",
        "sms_application_sid": null,
        "address_requirements": "none",
        "beta": false,
        "capabilities": {"voice": true, "sms": true, "mms": true, "fax": false},
        "status": "in-use",
        "origin": "twilio",
        "api_version": API_VERSION,
        "date_created": date(n.created),
        "date_updated": date(n.created),
        "uri": format!("/{API_VERSION}/Accounts/{}/IncomingPhoneNumbers/{}.json", n.account, n.sid),
    })
}

fn list(state: &State, account: &str, query: &[(String, String)], path: &str) -> Reply {
    let number = param(query, "PhoneNumber");
    let page_size = param(query, "PageSize")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, state.numbers.max_page_size);
    let page = param(query, "Page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0);
    let matching: Vec<&FakeIncomingNumber> = state
        .numbers
        .owned
        .iter()
        .filter(|n| n.account == account)
        .filter(|n| number.is_none_or(|want| n.phone_number == want))
        .collect();
    let start = page.saturating_mul(page_size);
    let numbers: Vec<&FakeIncomingNumber> = matching
        .iter()
        .skip(start)
        .take(page_size)
        .copied()
        .collect();
    // As Twilio: the filter and page size carried on, `PageToken` naming where the page
    // ends; none after the last page.
    let filter = number.map_or_else(String::new, |n| {
        format!(
            "PhoneNumber={}&",
            form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        )
    });
    let page_uri = |p: usize, token: Option<&str>| {
        let token = token.map_or_else(String::new, |t| format!("&PageToken=PA{t}"));
        format!("{path}?{filter}PageSize={page_size}&Page={p}{token}")
    };
    let next_page_uri = (start + numbers.len() < matching.len())
        .then(|| page_uri(page + 1, numbers.last().map(|n| n.sid.as_str())));
    let previous_page_uri = (page > 0).then(|| page_uri(page - 1, None));
    Reply::json(
        StatusCode::OK,
        &json!({
            "incoming_phone_numbers": numbers.iter().map(|n| incoming_json(n)).collect::<Vec<_>>(),
            "page": page,
            "page_size": page_size,
            "start": start,
            "end": (start + numbers.len()).saturating_sub(1),
            "uri": page_uri(page, None),
            "first_page_uri": page_uri(0, None),
            "next_page_uri": next_page_uri,
            "previous_page_uri": previous_page_uri,
        }),
    )
}

fn release(state: &mut State, account: &str, sid: &str, path: &str) -> Reply {
    let before = state.numbers.owned.len();
    state
        .numbers
        .owned
        .retain(|n| !(n.sid == sid && n.account == account));
    if state.numbers.owned.len() == before {
        Reply::not_found(path)
    } else {
        Reply::no_content()
    }
}

/// What in `request` Twilio's OpenAPI description (`twilio_api_v2010.json`) does not
/// allow: a path or method it does not have, a form or query parameter it does not
/// name, a required one missing, a status it does not list. Empty when it conforms.
pub fn openapi_violations(spec: &Value, request: &RecordedRequest) -> Vec<String> {
    let mut problems = Vec::new();
    let method = request.method.to_ascii_lowercase();
    let Some((template, operation)) = spec["paths"].as_object().and_then(|paths| {
        paths.iter().find_map(|(template, item)| {
            path_matches(template, &request.path)
                .then(|| item.get(&method).map(|op| (template.clone(), op)))
                .flatten()
        })
    }) else {
        return vec![format!(
            "{} {}: not in the spec",
            request.method, request.path
        )];
    };
    let at = format!("{} {template}", request.method);
    let declared = |location: &str| -> Vec<(String, bool)> {
        operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == location)
            .filter_map(|p| Some((p["name"].as_str()?.to_owned(), p["required"] == true)))
            .collect()
    };
    let query: Vec<(String, String)> = request
        .query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let query_params = declared("query");
    for (name, _) in &query {
        if !query_params.iter().any(|(n, _)| n == name) {
            problems.push(format!("{at}: query parameter {name} is not in the spec"));
        }
    }
    for (name, required) in &query_params {
        if *required && !query.iter().any(|(n, _)| n == name) {
            problems.push(format!("{at}: required query parameter {name} missing"));
        }
    }
    let body = &operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    let properties = body["properties"].as_object();
    for (name, _) in &request.params {
        if !properties.is_some_and(|p| p.contains_key(name)) {
            problems.push(format!("{at}: form field {name} is not in the spec"));
        }
    }
    for required in body["required"].as_array().into_iter().flatten() {
        if let Some(name) = required.as_str()
            && !request.params.iter().any(|(n, _)| n == name)
        {
            problems.push(format!("{at}: required form field {name} missing"));
        }
    }
    let status = request.status.to_string();
    let is_error = request.status >= 400;
    if !is_error && operation["responses"].get(&status).is_none() {
        problems.push(format!(
            "{at}: status {status} is not a documented response"
        ));
    }
    problems
}

/// Whether `path` fills the spec's `template` (`{Name}` stands for one segment).
fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| match t.find('{') {
            Some(open) => {
                let close = t.rfind('}').unwrap_or(t.len());
                let (prefix, suffix) = (&t[..open], &t[close + 1..]);
                p.len() > prefix.len() + suffix.len()
                    && p.starts_with(prefix)
                    && p.ends_with(suffix)
            }
            None => t == p,
        })
}

/// Twilio's OpenAPI description, which the request shapes are checked against: the
/// operations hotline uses, extracted with every component they reference from
/// twilio-oai's `twilio_api_v2010.json` by `spec/extract_twilio.py` and committed, so a
/// fresh clone checks against Twilio's own words.
///
/// # Panics
/// When the file is not there: the check fails, never skips.
pub fn twilio_openapi() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spec/twilio_api_v2010.subset.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (Twilio's OpenAPI description is needed here)"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::{AccountSid, E164};
    use hotline_twilio::numbers::{BuyNumber, NumberSearch};
    use hotline_twilio::rest::{RestError, TwilioClient};
    use secrecy::{ExposeSecret, SecretString};

    const MAIN: &str = "AC00000000000000000000000000000001";
    const TOKEN: &str = "main-token";

    #[tokio::test]
    async fn a_subaccount_buys_lists_and_releases_a_number_in_twilios_shapes() {
        let fake = FakeTwilio::start().await.expect("fake");
        fake.add_account(MAIN, TOKEN);
        let client = TwilioClient::new(fake.base_url(), reqwest::Client::new());
        let main = AccountSid::parse(MAIN).expect("sid");
        let sub = client
            .create_subaccount(&main, &SecretString::from(TOKEN), "acme")
            .await
            .expect("subaccount");
        assert_eq!(fake.subaccounts().len(), 1);
        assert_eq!(fake.subaccounts()[0].owner, MAIN);
        let token = sub.auth_token.clone();
        assert!(!token.expose_secret().is_empty());
        let info = client.fetch_account(&sub.sid, &token).await.expect("fetch");
        assert_eq!(info.owner_account_sid.as_deref(), Some(MAIN));

        let search = NumberSearch {
            area_code: Some("415".into()),
            contains: Some("555".into()),
            voice_enabled: true,
            sms_enabled: true,
        };
        let offered = client
            .search_local_numbers(&sub.sid, &token, "US", &search)
            .await
            .expect("search");
        assert!(
            offered.iter().all(|n| n.phone_number.starts_with("+1415")),
            "{offered:?}"
        );
        let number = E164::parse(&offered[0].phone_number).expect("e164");
        let bought = client
            .buy_number(
                &sub.sid,
                &token,
                &BuyNumber {
                    phone_number: number.clone(),
                    voice_url: "https://h.example.com/twilio/voice".into(),
                    status_callback: "https://h.example.com/twilio/status".into(),
                    sms_url: "https://h.example.com/twilio/sms".into(),
                    friendly_name: Some("acme".into()),
                },
            )
            .await
            .expect("buy");
        assert_eq!(
            bought.sms_url.as_deref(),
            Some("https://h.example.com/twilio/sms")
        );
        // Bought numbers are not on offer any more.
        let again = client
            .search_local_numbers(&sub.sid, &token, "US", &search)
            .await
            .expect("search");
        assert!(again.iter().all(|n| n.phone_number != number.as_str()));
        let listed = client
            .incoming_numbers(&sub.sid, &token, Some(&number))
            .await
            .expect("list");
        assert_eq!(listed, vec![bought.clone()]);
        client
            .release_number(&sub.sid, &token, &bought.sid)
            .await
            .expect("release");
        assert!(fake.incoming_numbers(sub.sid.as_str()).is_empty());
        let err = client
            .release_number(&sub.sid, &token, &bought.sid)
            .await
            .expect_err("released already");
        assert!(matches!(err, RestError::NotFound { .. }), "{err}");

        let spec = twilio_openapi();
        for request in fake.requests() {
            let problems = openapi_violations(&spec, &request);
            assert!(problems.is_empty(), "{problems:?}");
        }
    }

    #[tokio::test]
    async fn nothing_on_offer_is_an_empty_list_and_a_taken_number_is_21422() {
        let fake = FakeTwilio::start().await.expect("fake");
        fake.add_account(MAIN, TOKEN);
        fake.set_available_numbers("US", &[]);
        let client = TwilioClient::new(fake.base_url(), reqwest::Client::new());
        let main = AccountSid::parse(MAIN).expect("sid");
        let token = SecretString::from(TOKEN);
        let search = NumberSearch {
            area_code: Some("415".into()),
            ..NumberSearch::default()
        };
        let offered = client
            .search_local_numbers(&main, &token, "US", &search)
            .await
            .expect("search");
        assert!(offered.is_empty());
        let err = client
            .buy_number(
                &main,
                &token,
                &BuyNumber {
                    phone_number: E164::parse("+14155550100").expect("e164"),
                    voice_url: "https://h.example.com/twilio/voice".into(),
                    status_callback: "https://h.example.com/twilio/status".into(),
                    sms_url: "https://h.example.com/twilio/sms".into(),
                    friendly_name: None,
                },
            )
            .await
            .expect_err("not on offer");
        assert_eq!(err.code(), Some(21422), "{err}");
        let err = client
            .fetch_account(&main, &SecretString::from("wrong"))
            .await
            .expect_err("bad token");
        assert!(matches!(err, RestError::Auth { status: 401, .. }), "{err}");
    }

    #[test]
    fn the_spec_check_names_unknown_fields() {
        let spec = twilio_openapi();
        let request = RecordedRequest {
            method: "POST".into(),
            path: format!("/2010-04-01/Accounts/{MAIN}/IncomingPhoneNumbers.json"),
            query: None,
            params: vec![
                ("PhoneNumber".into(), "+1".into()),
                ("VoiceURL".into(), "x".into()),
            ],
            auth_user: None,
            status: 201,
        };
        assert_eq!(
            openapi_violations(&spec, &request),
            vec![
                "POST /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json: form field VoiceURL is not in the spec"
            ]
        );
    }

    #[test]
    fn contains_patterns_use_the_keypad_and_wildcards() {
        assert!(matches_pattern("+14155550100", "555"));
        assert!(matches_pattern("+14155550100", "5*5"));
        assert!(matches_pattern("+14155550100", "JJJ"));
        assert!(!matches_pattern("+14155550100", "999"));
        assert!(!matches_pattern("+14155550100", "5!5"));
    }

    #[test]
    fn spec_paths_match_one_segment_per_parameter() {
        let t = "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json";
        assert!(path_matches(
            t,
            "/2010-04-01/Accounts/AC1/IncomingPhoneNumbers/PN1.json"
        ));
        assert!(!path_matches(
            t,
            "/2010-04-01/Accounts/AC1/IncomingPhoneNumbers.json"
        ));
        assert!(path_matches(
            "/2010-04-01/Accounts/{Sid}.json",
            "/2010-04-01/Accounts/AC1.json"
        ));
        assert!(!path_matches(
            "/2010-04-01/Accounts/{Sid}.json",
            "/2010-04-01/Accounts.json"
        ));
    }
}
