//! Accounts and phone numbers through Twilio's REST API: a subaccount per organization
//! (made with the platform's main account), the search for an available number, buying
//! one with hotline's webhooks set on it, listing and releasing an account's numbers.
//!
//! | call | request |
//! |---|---|
//! | [`TwilioClient::create_subaccount`] | `POST /2010-04-01/Accounts.json` |
//! | [`TwilioClient::fetch_account`] | `GET /2010-04-01/Accounts/{AC}.json` |
//! | [`TwilioClient::search_local_numbers`] | `GET …/AvailablePhoneNumbers/{CC}/Local.json` |
//! | [`TwilioClient::buy_number`] | `POST …/IncomingPhoneNumbers.json` |
//! | [`TwilioClient::incoming_numbers`] | `GET …/IncomingPhoneNumbers.json` (every page) |
//! | [`TwilioClient::close_subaccount`] | `POST /2010-04-01/Accounts/{AC}.json` `Status=closed` |
//! | [`TwilioClient::release_number`] | `DELETE …/IncomingPhoneNumbers/{PN}.json` |

use std::fmt;

use hotline_core::{AccountSid, E164};
use secrecy::SecretString;
use serde::Deserialize;

use crate::rest::{RestError, TwilioClient};

/// A subaccount Twilio made: its SID and the auth token that signs its webhooks.
#[derive(Clone)]
pub struct Subaccount {
    pub sid: AccountSid,
    pub auth_token: SecretString,
    pub friendly_name: String,
}

impl fmt::Debug for Subaccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subaccount")
            .field("sid", &self.sid)
            .field("friendly_name", &self.friendly_name)
            .finish_non_exhaustive()
    }
}

/// An account as Twilio describes it (`GET /Accounts/{AC}.json`); the fields hotline shows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountInfo {
    pub sid: String,
    #[serde(default)]
    pub friendly_name: String,
    /// `active`, `suspended` or `closed`.
    #[serde(default)]
    pub status: String,
    /// `Trial` or `Full`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The main account of a subaccount (itself for a main account).
    #[serde(default)]
    pub owner_account_sid: Option<String>,
}

/// What a number search asks for. `area_code` is for US and Canadian numbers;
/// `contains` is Twilio's pattern (digits, letters standing for digits, `*` any one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberSearch {
    pub area_code: Option<String>,
    pub contains: Option<String>,
    pub voice_enabled: bool,
    pub sms_enabled: bool,
}

/// A number Twilio offers (`available_phone_numbers[]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AvailableNumber {
    pub phone_number: String,
    #[serde(default)]
    pub friendly_name: String,
    #[serde(default)]
    pub iso_country: Option<String>,
}

/// Buying a number (`POST …/IncomingPhoneNumbers.json`) with hotline's webhooks on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyNumber {
    pub phone_number: E164,
    /// `VoiceUrl` (POST): hotline's `/twilio/voice`.
    pub voice_url: String,
    /// `StatusCallback` (POST): hotline's `/twilio/status`.
    pub status_callback: String,
    /// `SmsUrl` (POST): hotline's `/twilio/sms`.
    pub sms_url: String,
    pub friendly_name: Option<String>,
}

impl BuyNumber {
    fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("PhoneNumber", self.phone_number.as_str().to_owned()),
            ("VoiceUrl", self.voice_url.clone()),
            ("VoiceMethod", "POST".to_owned()),
            ("StatusCallback", self.status_callback.clone()),
            ("StatusCallbackMethod", "POST".to_owned()),
            ("SmsUrl", self.sms_url.clone()),
            ("SmsMethod", "POST".to_owned()),
        ];
        if let Some(name) = &self.friendly_name {
            form.push(("FriendlyName", name.chars().take(64).collect()));
        }
        form
    }
}

/// A number an account owns (`IncomingPhoneNumber` resource); the fields hotline reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IncomingNumber {
    /// `PN…`
    pub sid: String,
    pub phone_number: String,
    #[serde(default)]
    pub voice_url: Option<String>,
    #[serde(default)]
    pub sms_url: Option<String>,
    #[serde(default)]
    pub status_callback: Option<String>,
}

#[derive(Deserialize)]
struct AvailablePage {
    available_phone_numbers: Vec<AvailableNumber>,
}

#[derive(Deserialize)]
struct IncomingPage {
    incoming_phone_numbers: Vec<IncomingNumber>,
    /// The next page's path and query (`/2010-04-01/…?PageToken=…`); none on the last.
    #[serde(default)]
    next_page_uri: Option<String>,
}

/// Pages followed at most (a million numbers): a server that kept answering with a
/// next page would otherwise hold the request forever.
const MAX_PAGES: usize = 1000;

#[derive(Deserialize)]
struct CreatedAccount {
    sid: String,
    auth_token: String,
    #[serde(default)]
    friendly_name: String,
}

/// Largest page Twilio serves.
const MAX_PAGE: &str = "1000";

impl TwilioClient {
    /// Makes a subaccount of `main` named `friendly_name`. Not idempotent: each call
    /// makes another one, so the caller stores the first and reuses it.
    pub async fn create_subaccount(
        &self,
        main: &AccountSid,
        token: &SecretString,
        friendly_name: &str,
    ) -> Result<Subaccount, RestError> {
        let url = format!("{}/2010-04-01/Accounts.json", self.base_url());
        let name: String = friendly_name.chars().take(64).collect();
        let request = self.http.post(url).form(&[("FriendlyName", name)]);
        let created: CreatedAccount = json(self.send(request, main, token).await?).await?;
        Ok(Subaccount {
            sid: AccountSid::parse(&created.sid)
                .map_err(|e| RestError::Unexpected(format!("account sid: {e}")))?,
            auth_token: SecretString::from(created.auth_token),
            friendly_name: created.friendly_name,
        })
    }

    /// Closes the subaccount `sid` of `main` (`Status=closed`): final on Twilio, its
    /// numbers released and its credentials dead. For a subaccount made and then not
    /// kept (another request made the organization's first).
    pub async fn close_subaccount(
        &self,
        main: &AccountSid,
        token: &SecretString,
        sid: &AccountSid,
    ) -> Result<(), RestError> {
        let url = format!("{}/2010-04-01/Accounts/{sid}.json", self.base_url());
        let request = self.http.post(url).form(&[("Status", "closed")]);
        self.send(request, main, token).await?;
        Ok(())
    }

    /// The account these credentials open: how hotline tells whether they still work.
    pub async fn fetch_account(
        &self,
        account: &AccountSid,
        token: &SecretString,
    ) -> Result<AccountInfo, RestError> {
        let url = format!("{}/2010-04-01/Accounts/{account}.json", self.base_url());
        json(self.send(self.http.get(url), account, token).await?).await
    }

    /// Local numbers on offer in `country` (ISO 3166 alpha-2, `US`), first page.
    pub async fn search_local_numbers(
        &self,
        account: &AccountSid,
        token: &SecretString,
        country: &str,
        search: &NumberSearch,
    ) -> Result<Vec<AvailableNumber>, RestError> {
        // Built before any await: the serializer is not `Sync`.
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(area) = &search.area_code {
                query.append_pair("AreaCode", area);
            }
            if let Some(contains) = &search.contains {
                query.append_pair("Contains", contains);
            }
            if search.voice_enabled {
                query.append_pair("VoiceEnabled", "true");
            }
            if search.sms_enabled {
                query.append_pair("SmsEnabled", "true");
            }
            query.append_pair("PageSize", "20");
            query.finish()
        };
        let country: String = form_urlencoded::byte_serialize(country.as_bytes()).collect();
        let url = format!(
            "{}?{}",
            self.account_url(
                account,
                &format!("AvailablePhoneNumbers/{country}/Local.json")
            ),
            query
        );
        let page: AvailablePage =
            json(self.send(self.http.get(url), account, token).await?).await?;
        Ok(page.available_phone_numbers)
    }

    /// Buys a number into `account` with its voice, status and SMS webhooks set.
    pub async fn buy_number(
        &self,
        account: &AccountSid,
        token: &SecretString,
        buy: &BuyNumber,
    ) -> Result<IncomingNumber, RestError> {
        let url = self.account_url(account, "IncomingPhoneNumbers.json");
        let request = self.http.post(url).form(&buy.form());
        json(self.send(request, account, token).await?).await
    }

    /// The account's numbers, every page of them (following Twilio's `next_page_uri`),
    /// or only `number` when given.
    pub async fn incoming_numbers(
        &self,
        account: &AccountSid,
        token: &SecretString,
        number: Option<&E164>,
    ) -> Result<Vec<IncomingNumber>, RestError> {
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(number) = number {
                query.append_pair("PhoneNumber", number.as_str());
            }
            query.append_pair("PageSize", MAX_PAGE);
            query.finish()
        };
        let mut url = format!(
            "{}?{}",
            self.account_url(account, "IncomingPhoneNumbers.json"),
            query
        );
        let mut numbers = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: IncomingPage =
                json(self.send(self.http.get(&url), account, token).await?).await?;
            numbers.extend(page.incoming_phone_numbers);
            match page.next_page_uri.filter(|next| !next.is_empty()) {
                // Only a path on the same API: never a host the answer names.
                Some(next) if next.starts_with('/') && !next.starts_with("//") => {
                    url = format!("{}{next}", self.base_url());
                }
                Some(next) => {
                    return Err(RestError::Unexpected(format!(
                        "next_page_uri is not a path: {}",
                        next.chars().take(100).collect::<String>()
                    )));
                }
                None => return Ok(numbers),
            }
        }
        Err(RestError::Unexpected(format!(
            "Twilio kept answering with another page after {MAX_PAGES}"
        )))
    }

    /// Releases a number (`PN…`) from the account: it stops ringing hotline at once.
    pub async fn release_number(
        &self,
        account: &AccountSid,
        token: &SecretString,
        sid: &str,
    ) -> Result<(), RestError> {
        if !sid.starts_with("PN") || !sid[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RestError::Unexpected(format!(
                "not a phone number sid: {sid:?}"
            )));
        }
        let url = self.account_url(account, &format!("IncomingPhoneNumbers/{sid}.json"));
        self.send(self.http.delete(url), account, token).await?;
        Ok(())
    }
}

async fn json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, RestError> {
    let body = response.bytes().await.map_err(RestError::Network)?;
    serde_json::from_slice(&body)
        .map_err(|e| RestError::Unexpected(format!("Twilio's answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buying_sets_all_three_webhooks_with_post() {
        let buy = BuyNumber {
            phone_number: E164::parse("+14155550100").expect("e164"),
            voice_url: "https://api.example.com/twilio/voice".into(),
            status_callback: "https://api.example.com/twilio/status".into(),
            sms_url: "https://api.example.com/twilio/sms".into(),
            friendly_name: None,
        };
        let form = buy.form();
        let get = |k: &str| form.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("VoiceUrl"),
            Some("https://api.example.com/twilio/voice")
        );
        assert_eq!(
            get("StatusCallback"),
            Some("https://api.example.com/twilio/status")
        );
        assert_eq!(get("SmsUrl"), Some("https://api.example.com/twilio/sms"));
        for method in ["VoiceMethod", "StatusCallbackMethod", "SmsMethod"] {
            assert_eq!(get(method), Some("POST"), "{method}");
        }
    }

    #[test]
    fn a_subaccount_never_prints_its_token() {
        let sub = Subaccount {
            sid: AccountSid::parse(&format!("AC{}", "1".repeat(32))).expect("sid"),
            auth_token: SecretString::from("tok-very-secret"),
            friendly_name: "acme".into(),
        };
        assert!(!format!("{sub:?}").contains("tok-very-secret"));
    }
}
