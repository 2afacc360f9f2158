//! Sending texts: `POST /2010-04-01/Accounts/{AC}/Messages.json` (`To`, `From`, `Body`,
//! `StatusCallback`), with the organization's own account, and the [`TextSender`] port
//! the rest of hotline sends through.

use async_trait::async_trait;
use hotline_core::model::{DeliveryState, Organization};
use hotline_core::outbox::{Accepted, OutgoingText, SendError, TextSender};
use hotline_core::{AccountSid, MessageSid};
use secrecy::SecretString;

use crate::rest::{RestError, TwilioClient};

/// The fields hotline reads of a Message resource.
#[derive(serde::Deserialize)]
struct MessageResource {
    sid: String,
    status: String,
}

fn form(text: &OutgoingText) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("To", text.to.as_str().to_owned()),
        ("From", text.from.as_str().to_owned()),
        ("Body", text.body.clone()),
    ];
    if let Some(callback) = &text.status_callback {
        form.push(("StatusCallback", callback.clone()));
    }
    form
}

impl TwilioClient {
    /// Hands one text to Twilio; its SID and state (`queued`, usually). Not
    /// idempotent: after a [`RestError::Network`] the text may have left.
    pub async fn create_message(
        &self,
        account: &AccountSid,
        token: &SecretString,
        text: &OutgoingText,
    ) -> Result<Accepted, RestError> {
        let url = self.account_url(account, "Messages.json");
        let request = self.http.post(url).form(&form(text));
        let response = self.send(request, account, token).await?;
        let body = response.bytes().await.map_err(RestError::Network)?;
        let resource: MessageResource = serde_json::from_slice(&body)
            .map_err(|e| RestError::Unexpected(format!("message resource: {e}")))?;
        let sid = MessageSid::parse(&resource.sid)
            .map_err(|e| RestError::Unexpected(format!("message resource sid: {e}")))?;
        Ok(Accepted {
            sid,
            state: DeliveryState::parse(&resource.status).unwrap_or(DeliveryState::Queued),
        })
    }
}

/// Texts sent through Twilio with each organization's account.
#[derive(Debug, Clone)]
pub struct TwilioTexts(pub TwilioClient);

#[async_trait]
impl TextSender for TwilioTexts {
    async fn send_text(
        &self,
        org: &Organization,
        text: &OutgoingText,
    ) -> Result<Accepted, SendError> {
        self.0
            .create_message(&org.twilio.account_sid, &org.twilio.auth_token, text)
            .await
            .map_err(|e| {
                if e.is_retryable() {
                    SendError::Unavailable(e.to_string())
                } else {
                    SendError::Rejected(e.to_string())
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use hotline_core::E164;

    use super::*;

    #[test]
    fn a_text_becomes_twilios_form_fields() {
        let text = OutgoingText {
            from: E164::parse("+14155550111").expect("from"),
            to: E164::parse("+14155550100").expect("to"),
            body: "See you at 3 <b>&</b> 😀".into(),
            status_callback: Some("https://api.example.com/twilio/sms/status".into()),
        };
        assert_eq!(
            form(&text),
            vec![
                ("To", "+14155550100".to_owned()),
                ("From", "+14155550111".to_owned()),
                ("Body", "See you at 3 <b>&</b> 😀".to_owned()),
                (
                    "StatusCallback",
                    "https://api.example.com/twilio/sms/status".to_owned()
                ),
            ]
        );
    }
}
