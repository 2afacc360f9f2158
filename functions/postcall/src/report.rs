//! The call report: one document, sent as JSON to the organization's webhook and
//! rendered as text for e-mail.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use hotline_core::model::{
    AnalysisResult, Call, CallStatus, Contact, Direction, EndReason, StageStatus, TodoItem,
    TranscriptSource,
};
use serde::Serialize;

use crate::job::{JobCx, Retry};

/// `type` of the webhook document; receivers switch on it.
pub const REPORT_TYPE: &str = "call.report";
pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub version: u32,
    /// Stays the same for every delivery of this call's report (`Hotline-Event-Id`).
    pub id: String,
    pub org: String,
    pub org_name: String,
    pub agent: String,
    pub call: CallPart,
    pub recording: Option<RecordingPart>,
    pub transcript: Option<TranscriptPart>,
    pub analysis: BTreeMap<String, AnalysisResult>,
    pub todos: Vec<TodoItem>,
    pub contact: Option<ContactPart>,
    /// Each stage's status when the report was made.
    pub stages: BTreeMap<String, StageStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallPart {
    pub sid: String,
    pub direction: Direction,
    pub from: String,
    pub to: String,
    pub status: CallStatus,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<i64>,
    pub end_reason: Option<EndReason>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordingPart {
    pub sid: String,
    pub status: String,
    pub duration_secs: Option<u32>,
    /// Key of hotline's copy in the organization's bucket.
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TranscriptPart {
    pub source: TranscriptSource,
    pub key: String,
    /// The whole transcript, or its beginning when `truncated` (the document at `key`
    /// has it all).
    pub text: String,
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactPart {
    pub phone: String,
    pub name: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
}

impl Report {
    /// The report of the job's call as of now: the stages before the report have run.
    pub async fn current(cx: &JobCx<'_>) -> Result<Self, Retry> {
        let contact = match &cx.call.contact {
            Some(phone) => cx.deps.contacts.get_contact(&cx.org.id, phone).await?,
            None => None,
        };
        Ok(Self::new(&cx.org.name, &cx.call, contact.as_ref()))
    }

    pub fn new(org_name: &str, call: &Call, contact: Option<&Contact>) -> Self {
        let pc = &call.post_call;
        Self {
            kind: REPORT_TYPE,
            version: REPORT_VERSION,
            id: call.sid.to_string(),
            org: call.org.to_string(),
            org_name: org_name.to_owned(),
            agent: call.agent.to_string(),
            call: CallPart {
                sid: call.sid.to_string(),
                direction: call.direction,
                from: call.from.to_string(),
                to: call.to.to_string(),
                status: call.status,
                started_at: call.started_at,
                answered_at: call.answered_at,
                ended_at: call.ended_at,
                duration_secs: call.duration_secs(),
                end_reason: call.outcome.as_ref().map(|o| o.reason),
            },
            recording: call.recording.as_ref().map(|r| RecordingPart {
                sid: r.sid.to_string(),
                status: r.status.to_string(),
                duration_secs: r.duration_secs,
                key: r.blob_key.clone(),
            }),
            transcript: pc.transcript.as_ref().map(|t| TranscriptPart {
                source: t.source,
                key: t.blob_key.clone(),
                text: t.text.clone(),
                truncated: t.truncated,
            }),
            analysis: pc.analysis.clone(),
            todos: pc.todos.clone().unwrap_or_default(),
            contact: contact.map(|c| ContactPart {
                phone: c.phone.to_string(),
                name: c.name.clone(),
                company: c.company.clone(),
                notes: c.notes.clone(),
            }),
            stages: pc
                .stages
                .iter()
                .map(|(stage, state)| (stage.to_string(), state.status))
                .collect(),
        }
    }

    pub fn subject(&self) -> String {
        let who = self
            .contact
            .as_ref()
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| self.other_party().to_owned());
        format!(
            "Call report: {who} — {} ({})",
            self.agent,
            self.call.started_at.format("%Y-%m-%d %H:%M UTC")
        )
    }

    fn other_party(&self) -> &str {
        match self.call.direction {
            Direction::Inbound => &self.call.from,
            Direction::OutboundApi | Direction::OutboundDial => &self.call.to,
        }
    }

    /// The e-mail body: plain text that reads well in any client.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let c = &self.call;
        let _ = writeln!(out, "{} — call {}", self.org_name, c.sid);
        let _ = writeln!(out, "From {} to {} ({:?})", c.from, c.to, c.direction);
        let _ = writeln!(
            out,
            "Started {}{}{}",
            c.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            c.duration_secs
                .map(|s| format!(", {} min {} s", s / 60, s % 60))
                .unwrap_or_default(),
            c.end_reason
                .map(|r| format!(", ended: {r:?}"))
                .unwrap_or_default()
        );
        if let Some(contact) = &self.contact {
            let _ = writeln!(
                out,
                "Contact: {} {}{}",
                contact.name.as_deref().unwrap_or("(no name)"),
                contact
                    .company
                    .as_deref()
                    .map(|co| format!("({co}) "))
                    .unwrap_or_default(),
                contact.phone
            );
        }
        if !self.analysis.is_empty() {
            let _ = writeln!(out, "\nAnalysis");
            for (name, result) in &self.analysis {
                match result {
                    AnalysisResult::Ok {
                        blob_key: Some(key),
                        ..
                    } => {
                        let _ =
                            writeln!(out, "  {name}: (too long for this report; stored at {key})");
                    }
                    AnalysisResult::Ok { value, .. } => {
                        let _ = writeln!(out, "  {name}: {value}");
                    }
                    AnalysisResult::Failed { error, .. } => {
                        let _ = writeln!(out, "  {name}: (failed: {error})");
                    }
                }
            }
        }
        let _ = writeln!(out, "\nTo-dos");
        if self.todos.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for todo in &self.todos {
            let _ = writeln!(out, "  - {todo}");
        }
        if let Some(t) = &self.transcript {
            let _ = writeln!(out, "\nTranscript ({:?})\n{}", t.source, t.text);
            if t.truncated {
                let _ = writeln!(
                    out,
                    "… (the beginning only; the whole transcript is stored at {})",
                    t.key
                );
            }
        }
        if let Some(r) = &self.recording
            && let Some(key) = &r.key
        {
            let _ = writeln!(out, "\nRecording: {key}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::model::PostCall;
    use serde_json::json;

    fn call() -> Call {
        let mut call: Call = serde_json::from_value(json!({
            "sid": format!("CA{}", "1".repeat(32)), "org": "acme", "agent": "front-desk",
            "from": "+14155550100", "to": "+14155550199", "direction": "inbound",
            "status": "completed", "started_at": "2026-11-21T14:02:00Z",
            "answered_at": "2026-11-21T14:02:01Z", "ended_at": "2026-11-21T14:03:33Z",
            "stream_token": "x", "outcome": {"reason": "agent_ended"}
        }))
        .expect("call");
        call.post_call = PostCall {
            todos: Some(vec![TodoItem {
                title: "Call Dana back".into(),
                due: chrono::NaiveDate::from_ymd_opt(2026, 11, 24),
                assignee: Some("front desk".into()),
            }]),
            ..PostCall::default()
        };
        call
    }

    #[test]
    fn the_document_has_a_stable_id_and_type() {
        let report = serde_json::to_value(Report::new("Acme", &call(), None)).expect("json");
        assert_eq!(report["type"], "call.report");
        assert_eq!(report["id"], format!("CA{}", "1".repeat(32)));
        assert_eq!(report["call"]["duration_secs"], 92);
        assert_eq!(report["call"]["end_reason"], "agent_ended");
        assert_eq!(report["todos"][0]["due"], "2026-11-24");
    }

    #[test]
    fn the_text_lists_todos_and_duration() {
        let report = Report::new("Acme", &call(), None);
        let text = report.text();
        assert!(text.contains("1 min 32 s"), "{text}");
        assert!(
            text.contains("- Call Dana back (due 2026-11-24, front desk)"),
            "{text}"
        );
        assert!(
            report.subject().contains("+14155550100"),
            "{}",
            report.subject()
        );
    }
}
