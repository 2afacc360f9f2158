use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, E164, OrgId};

/// A Twilio number and who answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Analyzers run on this number's calls beside its agent's (an agent's of the same
    /// name wins): the organization's defaults when the API bought it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analyzers: Vec<crate::model::Analyzer>,
    #[serde(default)]
    pub version: u64,
}

fn yes() -> bool {
    true
}

impl PhoneNumber {
    /// The analyzers a call on this number runs: `agent`'s, then this number's own
    /// that the agent has none of the same name.
    pub fn analyzers_with(&self, agent: &[crate::model::Analyzer]) -> Vec<crate::model::Analyzer> {
        let mut all = agent.to_vec();
        for extra in &self.analyzers {
            if !all.iter().any(|a| a.name == extra.name) {
                all.push(extra.clone());
            }
        }
        all
    }

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
        assert!(n.analyzers.is_empty());
    }

    #[test]
    fn a_numbers_analyzers_run_beside_its_agents_and_the_agents_win_a_name() {
        let analyzer = |name: &str, prompt: &str| crate::model::Analyzer {
            name: name.into(),
            prompt: prompt.into(),
            schema: serde_json::json!({"type": "string"}),
        };
        let mut n: PhoneNumber = serde_json::from_value(serde_json::json!({
            "number": "+14155550111", "org": "acme", "agent": "front", "enabled": true
        }))
        .expect("number");
        n.analyzers = vec![
            analyzer("summary", "number's"),
            analyzer("lead", "Is it a lead?"),
        ];
        let all = n.analyzers_with(&[analyzer("summary", "agent's")]);
        let named: Vec<(&str, &str)> = all
            .iter()
            .map(|a| (a.name.as_str(), a.prompt.as_str()))
            .collect();
        assert_eq!(named, [("summary", "agent's"), ("lead", "Is it a lead?")]);
    }
}
