//! `POST /Accounts/{AC}/Messages.json`: a text is taken (201, Message resource,
//! `queued`) and, when it names a `StatusCallback`, its delivery is reported there as
//! Twilio does: one signed form POST per state (`queued`, `sent`, `delivered` unless a
//! test chose others, [`FakeTwilio::set_message_statuses`]), with `MessageSid`,
//! `MessageStatus` and the deprecated `SmsSid`/`SmsStatus` twins.
//!
//! Error codes are Twilio's: 21604 (no `To`), 21603 (no `From`), 21602 (no `Body`),
//! 21617 (a body over 1,600 characters).

use std::time::Duration;

use chrono::{DateTime, Utc};
use hyper::StatusCode;
use serde_json::{Value, json};

use super::{API_VERSION, FakeTwilio, Reply, State, date, new_sid, param};

/// Twilio's limit on a body, in characters.
const MAX_BODY: usize = 1600;
/// Between two status callbacks of one text: long enough that the sender has stored
/// the text before its first report arrives, as with Twilio's carrier round trips.
const CALLBACK_GAP: Duration = Duration::from_millis(150);

/// A text as the fake took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMessage {
    pub sid: String,
    pub account: String,
    pub to: String,
    pub from: String,
    pub body: String,
    pub status_callback: Option<String>,
    pub created: DateTime<Utc>,
}

/// The texts taken and how their delivery is reported.
#[derive(Debug)]
pub(super) struct Texts {
    sent: Vec<FakeMessage>,
    /// The `MessageStatus` values posted to each text's callback, in this order.
    statuses: Vec<String>,
}

impl Default for Texts {
    fn default() -> Self {
        Self {
            sent: Vec::new(),
            statuses: ["queued", "sent", "delivered"].map(str::to_owned).to_vec(),
        }
    }
}

impl FakeTwilio {
    /// Every text taken so far, oldest first.
    pub fn messages(&self) -> Vec<FakeMessage> {
        self.shared.lock().texts.sent.clone()
    }

    /// The states reported to the status callback of each text taken from now on, in
    /// this order (out of order, repeated, `failed`, … as a test needs).
    pub fn set_message_statuses(&self, statuses: &[&str]) {
        self.shared.lock().texts.statuses = statuses.iter().map(|s| (*s).to_owned()).collect();
    }
}

impl State {
    pub(super) fn create_message(&mut self, account: &str, params: &[(String, String)]) -> Reply {
        let bad = |code, message| Reply::error(StatusCode::BAD_REQUEST, code, message);
        let Some(to) = param(params, "To") else {
            return bad(21604, "A 'To' phone number is required.");
        };
        let Some(from) = param(params, "From") else {
            return bad(21603, "A 'From' phone number is required.");
        };
        let Some(body) = param(params, "Body") else {
            return bad(21602, "Message body is required.");
        };
        if body.chars().count() > MAX_BODY {
            return bad(
                21617,
                "The concatenated message body exceeds the 1600 character limit.",
            );
        }
        let message = FakeMessage {
            sid: new_sid("SM"),
            account: account.to_owned(),
            to: to.to_owned(),
            from: from.to_owned(),
            body: body.to_owned(),
            status_callback: param(params, "StatusCallback").map(str::to_owned),
            created: Utc::now(),
        };
        if let (Some(url), Some(token)) = (&message.status_callback, self.accounts.get(account)) {
            let reports: Vec<Vec<(String, String)>> = self
                .texts
                .statuses
                .iter()
                .map(|status| callback_params(&message, status))
                .collect();
            tokio::spawn(report(url.clone(), token.clone(), reports));
        }
        let reply = Reply::json(StatusCode::CREATED, &message_json(&message));
        self.texts.sent.push(message);
        reply
    }
}

/// Posts each report in turn, signed; a callback that fails is not retried, as Twilio
/// does not retry status callbacks.
async fn report(url: String, token: String, reports: Vec<Vec<(String, String)>>) {
    let http = reqwest::Client::new();
    for params in reports {
        tokio::time::sleep(CALLBACK_GAP).await;
        let _ = crate::twilio_callbacks::post_signed(&http, &url, &token, &params).await;
    }
}

fn callback_params(message: &FakeMessage, status: &str) -> Vec<(String, String)> {
    [
        ("SmsSid", message.sid.as_str()),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", message.to.as_str()),
        ("MessageSid", message.sid.as_str()),
        ("AccountSid", message.account.as_str()),
        ("From", message.from.as_str()),
        ("ApiVersion", API_VERSION),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The Message resource as Twilio answers a create.
fn message_json(message: &FakeMessage) -> Value {
    let segments = message.body.chars().count().div_ceil(153).max(1);
    json!({
        "account_sid": message.account,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": date(message.created),
        "date_sent": null,
        "date_updated": date(message.created),
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": message.from,
        "messaging_service_sid": null,
        "num_media": "0",
        "num_segments": segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": message.sid,
        "status": "queued",
        "subresource_uris": {
            "media": format!("/{API_VERSION}/Accounts/{}/Messages/{}/Media.json", message.account, message.sid),
        },
        "to": message.to,
        "uri": format!("/{API_VERSION}/Accounts/{}/Messages/{}.json", message.account, message.sid),
    })
}

#[cfg(test)]
mod tests {
    use hotline_core::outbox::OutgoingText;
    use hotline_core::{AccountSid, E164};
    use hotline_twilio::rest::{RestError, TwilioClient};
    use secrecy::SecretString;

    use super::*;

    const ACCOUNT: &str = "AC00000000000000000000000000000001";
    const TOKEN: &str = "test-auth-token";

    fn text(body: &str) -> OutgoingText {
        OutgoingText {
            from: E164::parse("+14155550111").expect("from"),
            to: E164::parse("+14155550100").expect("to"),
            body: body.to_owned(),
            status_callback: None,
        }
    }

    #[tokio::test]
    async fn a_text_is_taken_queued_and_an_oversized_one_refused_with_twilios_code() {
        let fake = FakeTwilio::start().await.expect("fake");
        fake.add_account(ACCOUNT, TOKEN);
        let client = TwilioClient::new(fake.base_url(), reqwest::Client::new());
        let account = AccountSid::parse(ACCOUNT).expect("account");
        let token = SecretString::from(TOKEN);
        let accepted = client
            .create_message(&account, &token, &text("See you at 3 😀"))
            .await
            .expect("taken");
        assert_eq!(accepted.state, hotline_core::model::DeliveryState::Queued);
        let taken = fake.messages();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].sid, accepted.sid.as_str());
        assert_eq!(taken[0].body, "See you at 3 😀");
        // 1,600 characters fit (emoji count once); 1,601 do not.
        client
            .create_message(&account, &token, &text(&"😀".repeat(1600)))
            .await
            .expect("1,600 characters fit");
        let err = client
            .create_message(&account, &token, &text(&"a".repeat(1601)))
            .await
            .expect_err("too long");
        assert!(
            matches!(
                err,
                RestError::Rejected {
                    code: Some(21617),
                    ..
                }
            ),
            "{err}"
        );
        let err = client
            .create_message(&account, &SecretString::from("wrong"), &text("x"))
            .await
            .expect_err("bad credentials");
        assert!(matches!(err, RestError::Auth { .. }), "{err}");
        assert_eq!(fake.messages().len(), 2);
    }
}
