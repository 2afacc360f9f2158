//! Identifiers and phone numbers. Each can only be built by parsing, so a value of
//! one of these types is always well-formed wherever it travels.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string was refused as an identifier or phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct ParseIdError {
    pub kind: &'static str,
    pub reason: &'static str,
}

impl ParseIdError {
    const fn new(kind: &'static str, reason: &'static str) -> Self {
        Self { kind, reason }
    }
}

/// Serde and `FromStr`/`Display` for a newtype whose only constructor is `parse`.
macro_rules! parsed_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A Twilio resource SID: a two-letter prefix and 32 lowercase or uppercase hex digits.
macro_rules! twilio_sid {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn parse(s: &str) -> Result<Self, ParseIdError> {
                let hex = s
                    .strip_prefix($prefix)
                    .ok_or(ParseIdError::new($kind, concat!("must start with ", $prefix)))?;
                if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ParseIdError::new($kind, "must be followed by 32 hex digits"));
                }
                Ok(Self(s.to_owned()))
            }
        }

        parsed_newtype!($name);
    };
}

twilio_sid!(
    /// A Twilio account or subaccount (`AC…`).
    AccountSid, "AC", "account SID"
);
twilio_sid!(
    /// One call leg (`CA…`).
    CallSid, "CA", "call SID"
);
twilio_sid!(
    /// A recording of a call (`RE…`).
    RecordingSid, "RE", "recording SID"
);
twilio_sid!(
    /// One media stream of a call (`MZ…`).
    StreamSid, "MZ", "stream SID"
);
/// A message: an SMS (`SM…`) or an MMS, a message with media (`MM…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageSid(String);

impl MessageSid {
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        const KIND: &str = "message SID";
        let hex = s
            .strip_prefix("SM")
            .or_else(|| s.strip_prefix("MM"))
            .ok_or(ParseIdError::new(KIND, "must start with SM or MM"))?;
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseIdError::new(KIND, "must be followed by 32 hex digits"));
        }
        Ok(Self(s.to_owned()))
    }
}

parsed_newtype!(MessageSid);

/// A short, URL- and key-safe name chosen by people: lowercase ASCII letters, digits,
/// `-` and `_`, 1 to 64 characters, starting with a letter or digit.
macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, ParseIdError> {
                parse_slug(s, $kind).map(|s| Self(s.to_owned()))
            }
        }

        parsed_newtype!($name);
    };
}

fn parse_slug<'a>(s: &'a str, kind: &'static str) -> Result<&'a str, ParseIdError> {
    if s.is_empty() || s.len() > 64 {
        return Err(ParseIdError::new(kind, "must be 1 to 64 characters"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(ParseIdError::new(
            kind,
            "may hold only lowercase letters, digits, '-' and '_'",
        ));
    }
    if !s.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(ParseIdError::new(kind, "must start with a letter or digit"));
    }
    Ok(s)
}

slug_id!(
    /// An organization: the tenant that owns numbers, agents, calls and contacts.
    OrgId, "organization id"
);
slug_id!(
    /// An AI agent of an organization.
    AgentId, "agent id"
);

/// A phone number in E.164 form: `+`, then 2 to 15 digits, the first not zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        const KIND: &str = "E.164 phone number";
        let digits = s
            .strip_prefix('+')
            .ok_or(ParseIdError::new(KIND, "must start with '+'"))?;
        if !(2..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseIdError::new(
                KIND,
                "must have 2 to 15 digits after '+'",
            ));
        }
        if digits.starts_with('0') {
            return Err(ParseIdError::new(KIND, "country code cannot start with 0"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The number with all but its last four digits hidden, for logs.
    pub fn redacted(&self) -> String {
        let keep = self.0.len().saturating_sub(4).max(1);
        format!("+{}{}", "*".repeat(keep - 1), &self.0[keep..])
    }
}

parsed_newtype!(E164);

/// One end of a call as Twilio names it: a phone number, or a client, SIP address or
/// withheld caller ID, which have no contact of their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Party {
    Phone(E164),
    Other(String),
}

impl Party {
    /// Longest non-phone address kept; Twilio's `client:` and `sip:` values are far shorter.
    const MAX_OTHER: usize = 256;

    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        if let Ok(phone) = E164::parse(s) {
            return Ok(Self::Phone(phone));
        }
        if s.is_empty() || s.len() > Self::MAX_OTHER || s.chars().any(char::is_control) {
            return Err(ParseIdError::new(
                "call party",
                "must be a phone number or a short printable address",
            ));
        }
        Ok(Self::Other(s.to_owned()))
    }

    pub fn phone(&self) -> Option<&E164> {
        match self {
            Self::Phone(p) => Some(p),
            Self::Other(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Phone(p) => p.as_str(),
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Party {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Party {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_sid_accepts_ca_and_32_hex() {
        let sid = CallSid::parse("CA0123456789abcdef0123456789ABCDEF").expect("valid");
        assert_eq!(sid.as_str(), "CA0123456789abcdef0123456789ABCDEF");
    }

    #[test]
    fn call_sid_rejects_wrong_prefix_length_or_digits() {
        for bad in [
            "",
            "AC0123456789abcdef0123456789abcdef",
            "CA0123456789abcdef0123456789abcde",
            "CA0123456789abcdef0123456789abcdeg",
            "CA0123456789abcdef0123456789abcdef0",
        ] {
            assert!(CallSid::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn e164_accepts_plus_and_digits_only() {
        assert!(E164::parse("+14155550100").is_ok());
        for bad in [
            "14155550100",
            "+",
            "+0415",
            "+1415555010012345",
            "+1 415",
            "+1a",
        ] {
            assert!(E164::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn e164_redacted_keeps_only_the_last_four_digits() {
        let n = E164::parse("+14155550100").expect("valid");
        assert_eq!(n.redacted(), "+*******0100");
    }

    #[test]
    fn slugs_are_lowercase_and_bounded() {
        assert!(OrgId::parse("acme-clinic_2").is_ok());
        for bad in ["", "Acme", "-acme", "a b", "a/b", &"a".repeat(65)] {
            assert!(OrgId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn party_is_a_phone_or_a_printable_address() {
        assert_eq!(
            Party::parse("+14155550100")
                .expect("valid")
                .phone()
                .map(E164::as_str),
            Some("+14155550100")
        );
        assert_eq!(
            Party::parse("client:alice").expect("valid"),
            Party::Other("client:alice".into())
        );
        assert!(Party::parse("").is_err());
        assert!(Party::parse("a\nb").is_err());
    }

    #[test]
    fn newtypes_deserialize_only_valid_values() {
        let ok: Result<CallSid, _> = serde_json::from_str("\"CA0123456789abcdef0123456789abcdef\"");
        assert!(ok.is_ok());
        let bad: Result<CallSid, _> = serde_json::from_str("\"CA123\"");
        assert!(bad.is_err());
    }
}
