use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountSid, OrgId};

/// A tenant of hotline: it owns a Twilio (sub)account, numbers, agents, calls and contacts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub twilio: TwilioAccount,
    #[serde(default)]
    pub settings: OrgSettings,
    /// Optimistic-concurrency counter, kept by the store.
    #[serde(default)]
    pub version: u64,
}

/// The Twilio account whose auth token signs this organization's webhooks and
/// authenticates its REST calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TwilioAccount {
    pub account_sid: AccountSid,
    #[serde(with = "secret_string")]
    pub auth_token: SecretString,
    /// The platform's main account this one is a subaccount of, when hotline made it
    /// (`POST /api/v1/numbers`, `POST /api/v1/twilio/subaccount`). A configuration file
    /// that still names that main account for the organization means this subaccount:
    /// `hotline apply` keeps it rather than moving the organization (and its numbers)
    /// back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<AccountSid>,
}

/// Per-organization choices; every field has a safe default so older records still load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OrgSettings {
    /// Where call reports are emailed.
    pub report_emails: Vec<String>,
    /// Where call reports are POSTed as signed JSON.
    pub report_webhook_url: Option<String>,
    /// Signs the reports POSTed to `report_webhook_url` (`Hotline-Signature`); reports
    /// are never sent unsigned.
    #[serde(with = "optional_secret_string")]
    pub report_webhook_secret: Option<SecretString>,
    /// Delete the recording from Twilio once hotline holds its own copy.
    pub delete_twilio_recordings: bool,
    /// The analyzers a number bought through the API gets (beside its agent's):
    /// `PATCH /api/v1/organization`, `/api/v1/analyzers`, or `analyzers` in the file.
    pub default_analyzers: Vec<crate::model::Analyzer>,
}

/// Secrets are stored like any other field but never shown by `Debug`.
mod secret_string {
    use super::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose_secret())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::from)
    }
}

mod optional_secret_string {
    use super::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        secret: &Option<SecretString>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match secret {
            Some(secret) => s.serialize_some(secret.expose_secret()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
    }
}
