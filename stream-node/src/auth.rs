//! Checking the `X-Twilio-Signature` of a stream upgrade.
//!
//! Twilio signs the upgrade with the auth token of the account that owns the call, over
//! the `wss://` URL alone (a GET has no parameters). The request names no account, so
//! the signature is checked against every organization's token: it is a keyed hash of a
//! fixed URL, so the expected signature per organization is computed once and cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_core::OrgId;
use hotline_core::ports::{Directory, StoreError};
use hotline_twilio::signature;
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

/// How long the organization list is trusted before it is read again.
const FRESH_FOR: Duration = Duration::from_secs(30);
/// A signature matching nobody forces a reload at most this often, so garbage
/// upgrades cannot turn into a flood of store reads.
const MISS_RELOAD_EVERY: Duration = Duration::from_secs(5);

pub struct UpgradeAuth {
    directory: Arc<dyn Directory>,
    /// The shared URL first, then the node's own, if it has one.
    urls: Vec<String>,
    keys: Mutex<Keys>,
}

struct Keys {
    /// (organization, its auth token); tokens are kept only to verify.
    orgs: Vec<(OrgId, secrecy::SecretString)>,
    loaded_at: Option<Instant>,
}

impl UpgradeAuth {
    /// `urls`: the stream URLs exactly as a TwiML may give them to Twilio.
    pub fn new(directory: Arc<dyn Directory>, urls: Vec<String>) -> Self {
        Self {
            directory,
            urls,
            keys: Mutex::new(Keys {
                orgs: Vec::new(),
                loaded_at: None,
            }),
        }
    }

    pub fn url(&self) -> &str {
        self.urls.first().map_or("", String::as_str)
    }

    /// The organization whose token produced `sig`, if any.
    pub async fn verify(&self, sig: &str) -> Result<Option<OrgId>, StoreError> {
        let mut keys = self.keys.lock().await;
        let age = keys.loaded_at.map(|t| t.elapsed());
        if age.is_none_or(|a| a > FRESH_FOR) {
            self.reload(&mut keys).await?;
        }
        if let Some(org) = self.matching(&keys, sig) {
            return Ok(Some(org));
        }
        // Maybe an organization was added since the last load.
        if keys
            .loaded_at
            .is_some_and(|t| t.elapsed() > MISS_RELOAD_EVERY)
        {
            self.reload(&mut keys).await?;
            return Ok(self.matching(&keys, sig));
        }
        Ok(None)
    }

    fn matching(&self, keys: &Keys, sig: &str) -> Option<OrgId> {
        keys.orgs
            .iter()
            .find(|(_, token)| {
                self.urls
                    .iter()
                    .any(|url| signature::validate(token.expose_secret(), url, &[], sig))
            })
            .map(|(org, _)| org.clone())
    }

    async fn reload(&self, keys: &mut Keys) -> Result<(), StoreError> {
        keys.orgs = self
            .directory
            .list_orgs()
            .await?
            .into_iter()
            .map(|o| (o.id, o.twilio.auth_token))
            .collect();
        keys.loaded_at = Some(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use hotline_core::ids::AccountSid;
    use hotline_core::model::{OrgSettings, Organization, TwilioAccount};
    use hotline_store::Stores;

    use super::*;

    const SHARED: &str = "wss://stream.example.com/twilio/stream";
    const OWN: &str = "wss://node-7.stream.example.com/twilio/stream";

    #[tokio::test]
    async fn streams_signed_over_the_shared_or_the_nodes_own_url_are_accepted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stores = Stores::local(dir.path()).expect("store");
        stores
            .directory
            .put_org(&Organization {
                id: OrgId::parse("acme").expect("org"),
                name: "Acme".into(),
                twilio: TwilioAccount {
                    parent: None,
                    account_sid: AccountSid::parse(&format!("AC{:032x}", 1)).expect("sid"),
                    auth_token: "token".to_owned().into(),
                },
                settings: OrgSettings::default(),
                version: 0,
            })
            .await
            .expect("org");
        let auth = UpgradeAuth::new(stores.directory.clone(), vec![SHARED.into(), OWN.into()]);
        for url in [SHARED, OWN] {
            let sig = signature::compute("token", url, &[]);
            assert_eq!(
                auth.verify(&sig)
                    .await
                    .expect("store")
                    .map(|o| o.to_string()),
                Some("acme".to_owned()),
                "{url}"
            );
        }
        let elsewhere = signature::compute(
            "token",
            "wss://node-8.stream.example.com/twilio/stream",
            &[],
        );
        assert_eq!(auth.verify(&elsewhere).await.expect("store"), None);
        let shared_only = UpgradeAuth::new(stores.directory.clone(), vec![SHARED.into()]);
        let own = signature::compute("token", OWN, &[]);
        assert_eq!(shared_only.verify(&own).await.expect("store"), None);
    }
}
