use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, E164, OrgId};

/// A Twilio number and who answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    pub number: E164,
    pub org: OrgId,
    pub agent: AgentId,
    pub enabled: bool,
    /// Whether texts to this number are answered. Numbers stored before SMS existed
    /// answer texts, like a number declared without the field.
    #[serde(default = "yes")]
    pub sms: bool,
    /// The agent that answers texts; `None` means [`Self::agent`].
    #[serde(default)]
    pub sms_agent: Option<AgentId>,
    /// Sent back to a text when `sms` is off; `None` answers nothing.
    #[serde(default)]
    pub sms_disabled_message: Option<String>,
    #[serde(default)]
    pub version: u64,
}

fn yes() -> bool {
    true
}

impl PhoneNumber {
    /// The agent that answers a text to this number.
    pub fn texting_agent(&self) -> &AgentId {
        self.sms_agent.as_ref().unwrap_or(&self.agent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_stored_before_sms_answers_texts_with_its_agent() {
        let n: PhoneNumber = serde_json::from_value(serde_json::json!({
            "number": "+14155550111", "org": "acme", "agent": "front", "enabled": true
        }))
        .expect("number");
        assert!(n.sms);
        assert_eq!(n.sms_disabled_message, None);
        assert_eq!(n.texting_agent().as_str(), "front");
    }
}
