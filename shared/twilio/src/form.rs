//! `application/x-www-form-urlencoded` webhook bodies, kept exactly as Twilio sent them
//! (order and repeats) so the same pairs can feed signature validation, plus typed views
//! of the webhooks hotline acts on.

use hotline_core::model::{CallStatus, Direction};
use hotline_core::{AccountSid, CallSid, ParseIdError, Party};

/// Every `name=value` pair of a form body, in arrival order, repeats included.
///
/// Decoding follows the URL standard (`+` is a space, `%XX` escapes, invalid UTF-8 replaced
/// by U+FFFD), which is how Twilio's own helper libraries read the values they sign.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Decodes a form body. Never fails: a malformed body simply yields odd pairs, which
    /// then fail signature validation or typed parsing.
    pub fn parse(body: &[u8]) -> Self {
        let pairs = form_urlencoded::parse(body)
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Self { pairs }
    }

    /// The first value sent under `name`; names are case-sensitive, as Twilio's are.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value sent under `name`, in arrival order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All pairs as received, the shape [`crate::signature::validate`] takes.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The first value under `name`, or an error naming the missing field.
    pub fn require(&self, name: &'static str) -> Result<&str, FormError> {
        self.get(name).ok_or(FormError::Missing { field: name })
    }

    /// The first non-empty value under `name`: Twilio sends some optional fields empty.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// The required field `name`, parsed with `parse`; failures name the field and give a
    /// fixed reason, never the value, so errors are safe to log and return.
    pub fn parse_field<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ParseIdError>,
    ) -> Result<T, FormError> {
        parse(self.require(name)?).map_err(|e| FormError::Invalid {
            field: name,
            reason: e.reason,
        })
    }
}

/// Why a form did not yield a typed webhook. Names the field, never its value, so it can be
/// logged or sent back in a 400 without leaking caller data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The named field was not sent at all.
    #[error("missing form field {field}")]
    Missing {
        /// Twilio's parameter name, e.g. `CallSid`.
        field: &'static str,
    },
    /// The named field was sent but is not a value hotline accepts.
    #[error("invalid form field {field}: {reason}")]
    Invalid {
        /// Twilio's parameter name, e.g. `CallSid`.
        field: &'static str,
        /// What the value should have looked like; fixed text, never the value itself.
        reason: &'static str,
    },
}

/// The request Twilio sends to a number's voice URL (or a REST call's `Url`) asking for
/// TwiML. Only the fields hotline acts on are kept; unknown parameters are ignored, since
/// Twilio adds new ones without notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceWebhook {
    /// `CallSid`: this call leg.
    pub call_sid: CallSid,
    /// `AccountSid`: the (sub)account owning the number, whose token signed the request.
    pub account_sid: AccountSid,
    /// `From`: the caller, a phone number or a `client:`/`sip:` address.
    pub from: Party,
    /// `To`: the number or address called.
    pub to: Party,
    /// `Direction`: who placed the call.
    pub direction: Direction,
    /// `CallStatus`: `ringing` for a fresh inbound call.
    pub call_status: CallStatus,
    /// CNAM name, present only when caller-ID lookup is enabled on the number.
    pub caller_name: Option<String>,
    /// The number that forwarded the call, when the carrier reports one.
    pub forwarded_from: Option<Party>,
}

impl VoiceWebhook {
    /// Reads the typed webhook out of a form. Required fields that are absent or malformed
    /// are an error naming the field. Optional fields that are empty or malformed are
    /// treated as absent: they are informational and must not make hotline refuse a call.
    pub fn from_form(form: &Form) -> Result<Self, FormError> {
        Ok(Self {
            call_sid: form.parse_field("CallSid", CallSid::parse)?,
            account_sid: form.parse_field("AccountSid", AccountSid::parse)?,
            from: form.parse_field("From", Party::parse)?,
            to: form.parse_field("To", Party::parse)?,
            direction: form.parse_field("Direction", |s| {
                Direction::parse(s).ok_or(ParseIdError {
                    kind: "call direction",
                    reason: "must be inbound, outbound-api or outbound-dial",
                })
            })?,
            call_status: form.parse_field("CallStatus", |s| {
                CallStatus::parse(s).ok_or(ParseIdError {
                    kind: "call status",
                    reason: "must be one of Twilio's call statuses",
                })
            })?,
            caller_name: form.optional("CallerName").map(str::to_owned),
            forwarded_from: form
                .optional("ForwardedFrom")
                .and_then(|s| Party::parse(s).ok()),
        })
    }
}

impl TryFrom<&Form> for VoiceWebhook {
    type Error = FormError;

    fn try_from(form: &Form) -> Result<Self, Self::Error> {
        Self::from_form(form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "CAfedcba9876543210fedcba9876543210";
    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    fn body(extra: &str) -> String {
        format!(
            "CallSid={CALL}&AccountSid={ACCOUNT}&From=%2B12125550123&To=%2B14155550100\
             &Direction=inbound&CallStatus=ringing&ApiVersion=2010-04-01{extra}"
        )
    }

    #[test]
    fn parse_keeps_order_and_repeats_and_decodes() {
        let form = Form::parse(b"b=2&a=1+2&b=%2B3&c=&d");
        assert_eq!(
            form.pairs(),
            &[
                ("b".to_owned(), "2".to_owned()),
                ("a".to_owned(), "1 2".to_owned()),
                ("b".to_owned(), "+3".to_owned()),
                ("c".to_owned(), String::new()),
                ("d".to_owned(), String::new()),
            ]
        );
        assert_eq!(form.get("b"), Some("2"));
        assert_eq!(form.get_all("b").collect::<Vec<_>>(), ["2", "+3"]);
        assert_eq!(form.get("B"), None);
        assert_eq!(form.optional("c"), None);
    }

    #[test]
    fn parse_replaces_invalid_utf8_instead_of_failing() {
        let form = Form::parse(b"a=%FF&b=ok");
        assert_eq!(form.get("a"), Some("\u{FFFD}"));
        assert_eq!(form.get("b"), Some("ok"));
    }

    #[test]
    fn voice_webhook_reads_the_fields_hotline_uses() {
        let form = Form::parse(
            body("&CallerName=O%27Brien+%26+Sons&ForwardedFrom=%2B13105550199&Unknown=x")
                .as_bytes(),
        );
        let hook = VoiceWebhook::from_form(&form).expect("valid webhook");
        assert_eq!(hook.call_sid.as_str(), CALL);
        assert_eq!(hook.account_sid.as_str(), ACCOUNT);
        assert_eq!(hook.from.as_str(), "+12125550123");
        assert!(hook.from.phone().is_some());
        assert_eq!(hook.to.as_str(), "+14155550100");
        assert_eq!(hook.direction, Direction::Inbound);
        assert_eq!(hook.call_status, CallStatus::Ringing);
        assert_eq!(hook.caller_name.as_deref(), Some("O'Brien & Sons"));
        assert_eq!(
            hook.forwarded_from.as_ref().map(Party::as_str),
            Some("+13105550199")
        );
    }

    #[test]
    fn voice_webhook_accepts_client_parties_and_absent_optionals() {
        let form = Form::parse(
            format!(
                "CallSid={CALL}&AccountSid={ACCOUNT}&From=client%3Aalice&To=%2B14155550100\
                 &Direction=outbound-api&CallStatus=in-progress&CallerName="
            )
            .as_bytes(),
        );
        let hook = VoiceWebhook::try_from(&form).expect("valid webhook");
        assert_eq!(hook.from, Party::Other("client:alice".to_owned()));
        assert_eq!(hook.direction, Direction::OutboundApi);
        assert_eq!(hook.call_status, CallStatus::InProgress);
        assert_eq!(hook.caller_name, None);
        assert_eq!(hook.forwarded_from, None);
    }

    #[test]
    fn voice_webhook_names_the_missing_field() {
        for field in [
            "CallSid",
            "AccountSid",
            "From",
            "To",
            "Direction",
            "CallStatus",
        ] {
            let full = Form::parse(body("").as_bytes());
            let pruned: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(full.pairs().iter().filter(|(n, _)| n != field))
                .finish();
            let err = VoiceWebhook::from_form(&Form::parse(pruned.as_bytes()))
                .expect_err("field missing");
            assert_eq!(err, FormError::Missing { field });
            assert_eq!(err.to_string(), format!("missing form field {field}"));
        }
    }

    #[test]
    fn voice_webhook_names_the_invalid_field_without_echoing_it() {
        let secret = "CAsecretsecretsecret";
        for (field, bad) in [
            ("CallSid", secret),
            ("AccountSid", secret),
            ("From", ""),
            ("Direction", secret),
            ("CallStatus", secret),
        ] {
            let mut form = Form::parse(body("").as_bytes());
            for (n, v) in &mut form.pairs {
                if n == field {
                    bad.clone_into(v);
                }
            }
            let err = VoiceWebhook::from_form(&form).expect_err("field invalid");
            assert!(
                matches!(err, FormError::Invalid { field: f, .. } if f == field),
                "{err:?}"
            );
            let shown = err.to_string();
            assert!(shown.contains(field), "{shown}");
            assert!(!shown.contains("secret"), "{shown}");
        }
    }

    #[test]
    fn voice_webhook_uses_the_first_of_repeated_fields() {
        let form = Form::parse(body("&CallStatus=completed").as_bytes());
        let hook = VoiceWebhook::from_form(&form).expect("valid webhook");
        assert_eq!(hook.call_status, CallStatus::Ringing);
    }
}
