//! How the API reaches Twilio for organizations: the REST base URL, the platform's main
//! account (which makes each organization's subaccount) and hotline's public URL (the
//! webhooks set on a bought number). Read once per cold start.

use std::sync::Arc;

use hotline_core::AccountSid;
use hotline_llm::ApiKeySource;
use hotline_twilio::rest::TwilioClient;
use secrecy::SecretString;

use crate::problem::ApiError;

/// What the Twilio routes need. Cheap to clone.
#[derive(Clone)]
pub struct TwilioSetup {
    pub client: TwilioClient,
    /// `TWILIO_ACCOUNT_SID`: the platform's main account; `None` when hotline runs only
    /// on accounts its organizations bring (hotline.yaml), so none is ever made.
    pub main_account: Option<AccountSid>,
    /// The main account's token: `TWILIO_AUTH_TOKEN` locally, in AWS the SSM
    /// SecureString named by `HOTLINE_TWILIO_SSM_PARAMETER`, read when first needed.
    main_token: Option<Arc<ApiKeySource>>,
    /// `HOTLINE_PUBLIC_URL`: where Twilio reaches hotline's webhooks.
    pub public_url: Option<String>,
}

impl std::fmt::Debug for TwilioSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSetup")
            .field("base_url", &self.client.base_url())
            .field("main_account", &self.main_account)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl TwilioSetup {
    /// Reads `TWILIO_API_BASE_URL`, `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN` or
    /// `HOTLINE_TWILIO_SSM_PARAMETER`, and `HOTLINE_PUBLIC_URL`.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let base_url = get("TWILIO_API_BASE_URL")
            .unwrap_or_else(|| hotline_twilio::rest::DEFAULT_BASE_URL.to_owned());
        let main_account = get("TWILIO_ACCOUNT_SID")
            .map(|sid| AccountSid::parse(&sid).map_err(|e| format!("TWILIO_ACCOUNT_SID: {e}")))
            .transpose()?;
        let main_token =
            ApiKeySource::from_lookup(&get, "TWILIO_AUTH_TOKEN", "HOTLINE_TWILIO_SSM_PARAMETER")
                .map(Arc::new);
        let public_url = match get("HOTLINE_PUBLIC_URL") {
            Some(v) => Some(
                hotline_core::routes::base_url(&v, &["https", "http"])
                    .ok_or_else(|| format!("HOTLINE_PUBLIC_URL is not an http(s) URL: {v:?}"))?,
            ),
            None => None,
        };
        Ok(Self {
            client: TwilioClient::new(&base_url, reqwest::Client::new()),
            main_account,
            main_token,
            public_url,
        })
    }

    /// The main account and its token, to make a subaccount with.
    pub(crate) async fn main(&self) -> Result<Option<(AccountSid, SecretString)>, ApiError> {
        let (Some(sid), Some(token)) = (&self.main_account, &self.main_token) else {
            return Ok(None);
        };
        let token = token.resolve().await.map_err(|e| {
            ApiError::Unconfigured(format!("the platform's Twilio auth token: {e}"))
        })?;
        Ok(Some((sid.clone(), token)))
    }

    /// The public URL of one of hotline's webhook routes.
    pub(crate) fn webhook(&self, path: &str) -> Result<String, ApiError> {
        self.public_url
            .as_ref()
            .map(|base| format!("{base}{path}"))
            .ok_or_else(|| {
                ApiError::Unconfigured(
                    "HOTLINE_PUBLIC_URL is not set, so a bought number would not reach hotline"
                        .into(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(vars: &[(&str, &str)]) -> Result<TwilioSetup, String> {
        TwilioSetup::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn empty_settings_mean_no_main_account_and_twilios_own_api() {
        let s = setup(&[("TWILIO_ACCOUNT_SID", ""), ("HOTLINE_PUBLIC_URL", " ")]).expect("setup");
        assert!(s.main_account.is_none() && s.public_url.is_none());
        assert_eq!(s.client.base_url(), "https://api.twilio.com");
        assert!(s.webhook("/twilio/voice").is_err());
    }

    #[test]
    fn settings_are_checked_and_named_when_wrong() {
        let err = setup(&[("TWILIO_ACCOUNT_SID", "nope")]).expect_err("bad sid");
        assert!(err.contains("TWILIO_ACCOUNT_SID"), "{err}");
        let err = setup(&[("HOTLINE_PUBLIC_URL", "ftp://x")]).expect_err("bad url");
        assert!(err.contains("HOTLINE_PUBLIC_URL"), "{err}");
        let s = setup(&[("HOTLINE_PUBLIC_URL", "https://api.example.com/")]).expect("setup");
        assert_eq!(
            s.webhook("/twilio/sms").expect("url"),
            "https://api.example.com/twilio/sms"
        );
        assert!(!format!("{s:?}").contains("token"));
    }
}
