//! Twilio's incoming-message webhook form (twilio-webhooks.md §5).

use hotline_core::{E164, MessageSid};
use hotline_twilio::{Form, FormError};

/// The fields of an incoming text hotline acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// `MessageSid` (`SM…`, `MM…` with media).
    pub sid: MessageSid,
    /// `From`: `None` when the sender is not a phone number hotline can keep a contact
    /// for (a short code, `whatsapp:…`).
    pub from: Option<E164>,
    /// `To`: the organization's number.
    pub to: E164,
    /// `Body`, empty when absent (a picture alone).
    pub body: String,
    /// `NumMedia`; absent or malformed counts as none.
    pub media: u32,
}

impl InboundSms {
    pub fn from_form(form: &Form) -> Result<Self, FormError> {
        Ok(Self {
            sid: form.parse_field("MessageSid", MessageSid::parse)?,
            from: form.optional("From").and_then(|f| E164::parse(f).ok()),
            to: form.parse_field("To", E164::parse)?,
            body: form.optional("Body").unwrap_or_default().to_owned(),
            media: form
                .optional("NumMedia")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "SM0123456789abcdef0123456789abcdef";

    #[test]
    fn reads_an_sms_and_an_mms() {
        let sms = InboundSms::from_form(&Form::parse(
            format!(
                "MessageSid={SID}&From=%2B14155550100&To=%2B14155550111&Body=Hi+%26+bye&NumMedia=0"
            )
            .as_bytes(),
        ))
        .expect("sms");
        assert_eq!(sms.body, "Hi & bye");
        assert_eq!(sms.from.as_ref().map(E164::as_str), Some("+14155550100"));
        let mms = InboundSms::from_form(&Form::parse(
            b"MessageSid=MM0123456789abcdef0123456789abcdef&From=whatsapp%3A%2B14155550100&To=%2B14155550111&NumMedia=2",
        ))
        .expect("mms");
        assert_eq!((mms.body.as_str(), mms.media, mms.from), ("", 2, None));
    }

    #[test]
    fn missing_or_malformed_required_fields_are_named() {
        for (body, field) in [
            ("To=%2B14155550111", "MessageSid"),
            ("MessageSid=SM1&To=%2B14155550111", "MessageSid"),
            (&format!("MessageSid={SID}")[..], "To"),
            (&format!("MessageSid={SID}&To=12345")[..], "To"),
        ] {
            let err = InboundSms::from_form(&Form::parse(body.as_bytes()))
                .expect_err(body)
                .to_string();
            assert!(err.contains(field), "{body}: {err}");
        }
    }
}
