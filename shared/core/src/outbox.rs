//! Texts hotline sends: the one path every sender takes (the API, the `send_sms` tool
//! during a call, late answers, campaigns), so the opt-out rule, the choice of the
//! sending number, the 1,600-character split and the stored copy are the same for all.
//! The delivery state each text then reaches comes back through its status callback
//! ([`record_delivery`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{E164, MessageSid, OrgId};
use crate::model::{
    Channel, Contact, DeliveryState, Message, MessageDirection, Organization, PhoneNumber,
};
use crate::ports::{Contacts, Directory, Messages, StoreError};

/// Twilio's limit on one message's body, in characters.
pub const MAX_BODY_CHARS: usize = 1600;

/// One text to hand to Twilio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingText {
    pub from: E164,
    pub to: E164,
    /// At most [`MAX_BODY_CHARS`].
    pub body: String,
    /// Where Twilio reports the delivery state.
    pub status_callback: Option<String>,
}

/// What Twilio said when it took a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub sid: MessageSid,
    pub state: DeliveryState,
}

/// Why the carrier of texts did not take one.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// Refused for good (an invalid number, a sender that cannot text it, …).
    #[error("refused: {0}")]
    Rejected(String),
    /// Could not be reached or failed on its side; the text may or may not have left.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// The port to whoever delivers texts (Twilio's Messages API), with the organization's
/// own account.
#[async_trait]
pub trait TextSender: Send + Sync {
    async fn send_text(
        &self,
        org: &Organization,
        text: &OutgoingText,
    ) -> Result<Accepted, SendError>;
}

/// Why a text was not sent, in words a caller (a person, a model) can act on.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("{0}")]
    Invalid(String),
    /// The person texted STOP and not START since.
    #[error("{0} opted out of texts (STOP); nothing was sent")]
    OptedOut(E164),
    #[error("{0} is not one of this organization's numbers with texts turned on")]
    NotOurNumber(E164),
    #[error("this organization has no number with texts turned on")]
    NoSmsNumber,
    /// `sent` parts went out (and are stored) before this one failed.
    #[error("sending failed after {sent} of {parts} part(s): {error}")]
    Send {
        sent: usize,
        parts: usize,
        error: SendError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A send to this contact is allowed: not to someone who opted out. A contact hotline
/// has never met has not opted out.
pub fn may_text(phone: &E164, contact: Option<&Contact>) -> Result<(), OutboxError> {
    match contact {
        Some(c) if c.sms_opted_out => Err(OutboxError::OptedOut(phone.clone())),
        _ => Ok(()),
    }
}

/// `body` as the texts to send: itself when it fits in one, else parts cut between
/// words and numbered `(1/3) …`, each at most [`MAX_BODY_CHARS`] with its prefix. The
/// words are all kept, in order; only the whitespace at a cut is dropped.
pub fn split_body(body: &str) -> Vec<String> {
    let body = body.trim();
    if body.chars().count() <= MAX_BODY_CHARS {
        return vec![body.to_owned()];
    }
    // The prefix's width depends on the number of parts, which depends on the width:
    // grow the guess until the split agrees with it.
    let mut count = 2;
    loop {
        let prefix = format!("({count}/{count}) ").chars().count();
        let chunks = chunks(body, MAX_BODY_CHARS - prefix);
        if chunks.len() <= count {
            let total = chunks.len();
            return chunks
                .into_iter()
                .enumerate()
                .map(|(i, c)| format!("({}/{total}) {c}", i + 1))
                .collect();
        }
        count = chunks.len();
    }
}

/// `text` cut into pieces of at most `max` characters at whitespace.
fn chunks(text: &str, max: usize) -> Vec<&str> {
    let mut rest = text.trim();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let piece = crate::sms::cut_at_word(rest, max);
        // `cut_at_word` returns a prefix of `rest` (already trimmed at the start).
        let len = piece.len().max(1);
        let (head, tail) = rest.split_at(char_boundary(rest, len));
        out.push(head.trim_end());
        rest = tail.trim_start();
    }
    out
}

fn char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// What sending needs: the stores and the carrier.
pub struct Outbox<'a> {
    pub directory: &'a dyn Directory,
    pub contacts: &'a dyn Contacts,
    pub messages: &'a dyn Messages,
    pub sender: &'a dyn TextSender,
    /// Where Twilio reports each text's delivery (`…/twilio/sms/status`).
    pub status_callback: Option<String>,
}

impl Outbox<'_> {
    /// The organization's number a text goes out from: `from` when it is one of its
    /// numbers with texts on, else (no `from`) the first such number in number order.
    pub async fn sender_number(
        &self,
        org: &OrgId,
        from: Option<&E164>,
    ) -> Result<PhoneNumber, OutboxError> {
        if let Some(from) = from {
            return match self.directory.get_number(from).await? {
                Some(n) if &n.org == org && n.sms && n.enabled => Ok(n),
                _ => Err(OutboxError::NotOurNumber(from.clone())),
            };
        }
        let mut numbers: Vec<PhoneNumber> = self
            .directory
            .list_numbers(org)
            .await?
            .into_iter()
            .filter(|n| &n.org == org && n.sms && n.enabled)
            .collect();
        numbers.sort_by(|a, b| a.number.as_str().cmp(b.number.as_str()));
        numbers.into_iter().next().ok_or(OutboxError::NoSmsNumber)
    }

    /// Sends `body` to `to` from `from` (or the default number), split if long, and
    /// stores each part in the contact's SMS conversation as it is accepted: a failure
    /// halfway loses none of the parts that left. The stored texts, in order.
    pub async fn send(
        &self,
        org: &Organization,
        from: Option<&E164>,
        to: &E164,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Message>, OutboxError> {
        if body.trim().is_empty() {
            return Err(OutboxError::Invalid("the text is empty".into()));
        }
        let number = self.sender_number(&org.id, from).await?;
        if &number.number == to {
            return Err(OutboxError::Invalid(
                "a number cannot text itself".to_owned(),
            ));
        }
        may_text(to, self.contacts.get_contact(&org.id, to).await?.as_ref())?;
        let parts = split_body(body);
        let mut sent = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let text = OutgoingText {
                from: number.number.clone(),
                to: to.clone(),
                body: part.clone(),
                status_callback: self.status_callback.clone(),
            };
            let accepted =
                self.sender
                    .send_text(org, &text)
                    .await
                    .map_err(|error| OutboxError::Send {
                        sent: i,
                        parts: parts.len(),
                        error,
                    })?;
            let message = Message {
                sid: accepted.sid,
                org: org.id.clone(),
                contact: to.clone(),
                channel: Channel::Sms,
                direction: MessageDirection::Outbound,
                number: number.number.clone(),
                body: part.clone(),
                media: 0,
                // A millisecond apart, so the conversation lists the parts in order.
                at: now + chrono::TimeDelta::milliseconds(i64::try_from(i).unwrap_or(i64::MAX)),
                agent: None,
                claimed_until: None,
                reply: None,
                replied_at: None,
                reply_texted: false,
                delivery: Some(accepted.state),
                version: 0,
            };
            sent.push(self.messages.create_message(&message).await?.into_inner());
        }
        Ok(sent)
    }
}

/// What a delivery report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryUpdate {
    /// The text moved forward to this state.
    Advanced(DeliveryState),
    /// The report was old news (late, replayed); the text stays in this state.
    Unchanged(Option<DeliveryState>),
    /// No text of this organization has that SID.
    Unknown,
}

/// Applies a delivery report to the organization's text, forward only, by a versioned
/// write: two reports racing cannot leave the older state on top.
pub async fn record_delivery(
    messages: &dyn Messages,
    org: &OrgId,
    sid: &MessageSid,
    state: DeliveryState,
) -> Result<DeliveryUpdate, StoreError> {
    const ATTEMPTS: u32 = 6;
    let mut attempt = 1;
    loop {
        let Some(mut message) = messages.get_message(org, sid).await? else {
            return Ok(DeliveryUpdate::Unknown);
        };
        // Inbound texts have no delivery to report on.
        if message.direction != MessageDirection::Outbound {
            return Ok(DeliveryUpdate::Unknown);
        }
        let current = message.delivery;
        if current.is_some_and(|c| !c.advances_to(state)) {
            return Ok(DeliveryUpdate::Unchanged(current));
        }
        message.delivery = Some(state);
        match messages.update_message(&message).await {
            Ok(_) => return Ok(DeliveryUpdate::Advanced(state)),
            Err(StoreError::Conflict(_)) if attempt < ATTEMPTS => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words of `n` characters in total, distinct so a lost or reordered one shows.
    fn words(n: usize) -> String {
        let mut s = String::new();
        let mut i = 0;
        while s.chars().count() < n {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&format!("w{i}"));
            i += 1;
        }
        // Exactly `n` characters: a cut landing on a space ends with a letter instead.
        let mut s: String = s.chars().take(n).collect();
        if s.ends_with(' ') {
            s.pop();
            s.push('x');
        }
        s
    }

    fn check(body: &str) -> Vec<String> {
        let parts = split_body(body);
        let total = parts.len();
        let mut rejoined = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            assert!(part.chars().count() <= MAX_BODY_CHARS, "part {i} too long");
            let prefix = format!("({}/{total}) ", i + 1);
            let text = if total == 1 {
                part.as_str()
            } else {
                part.strip_prefix(&prefix)
                    .unwrap_or_else(|| panic!("part {i} lacks {prefix:?}"))
            };
            rejoined.extend(text.split_whitespace());
        }
        let original: Vec<&str> = body.split_whitespace().collect();
        assert_eq!(rejoined, original, "words lost, split or reordered");
        parts
    }

    #[test]
    fn a_body_that_fits_is_sent_whole() {
        let body = words(MAX_BODY_CHARS);
        assert_eq!(check(&body), vec![body]);
    }

    #[test]
    fn long_bodies_split_between_words_into_numbered_parts() {
        assert_eq!(check(&words(1601)).len(), 2);
        assert_eq!(check(&words(3200)).len(), 3);
        let parts = check(&words(10_000));
        assert_eq!(parts.len(), 7);
        assert!(parts[6].starts_with("(7/7) "));
        // Emoji count as one character each and are never cut.
        let emoji = "😀😀 ".repeat(1000);
        assert_eq!(check(&emoji).len(), 2);
    }

    #[test]
    fn ten_or_more_parts_number_with_wider_prefixes() {
        let parts = check(&words(20_000));
        assert!(parts.len() >= 13, "{}", parts.len());
        assert!(parts[9].starts_with(&format!("(10/{}) ", parts.len())));
    }

    #[test]
    fn one_word_longer_than_a_message_is_cut_inside() {
        let body = "x".repeat(4000);
        let parts = split_body(&body);
        assert_eq!(parts.len(), 3);
        let joined: String = parts
            .iter()
            .map(|p| p.split_once(") ").map_or("", |(_, t)| t))
            .collect();
        assert_eq!(joined, body);
    }

    #[test]
    fn delivery_moves_forward_only() {
        use DeliveryState::*;
        assert!(Queued.advances_to(Sent));
        assert!(Sent.advances_to(Delivered));
        assert!(Sent.advances_to(Undelivered));
        assert!(Queued.advances_to(Failed));
        assert!(!Delivered.advances_to(Sent));
        assert!(!Delivered.advances_to(Failed));
        assert!(!Sent.advances_to(Sent));
        assert!(!Failed.advances_to(Queued));
        assert_eq!(DeliveryState::parse("accepted"), Some(Queued));
        assert_eq!(DeliveryState::parse("received"), None);
    }

    #[test]
    fn an_opted_out_contact_may_not_be_texted() {
        let phone = E164::parse("+14155550100").expect("phone");
        let mut contact = Contact::new(
            OrgId::parse("acme").expect("org"),
            phone.clone(),
            Utc::now(),
        );
        assert!(may_text(&phone, None).is_ok());
        assert!(may_text(&phone, Some(&contact)).is_ok());
        contact.sms_opted_out = true;
        let err = may_text(&phone, Some(&contact)).expect_err("refused");
        assert!(err.to_string().contains("opted out"), "{err}");
    }
}
