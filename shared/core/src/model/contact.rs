use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CallSid, E164, OrgId};
use crate::model::ContactFacts;

/// A person who called or was called, one per organization and phone number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub org: OrgId,
    pub phone: E164,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Set by a person only (through the API): calls do not learn e-mail addresses.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub last_call: Option<CallSid>,
    /// Fields a person set; what calls learn never overwrites them.
    #[serde(default)]
    pub edited: BTreeSet<ContactField>,
    /// The last call whose facts were applied, so a retried enrichment is a no-op.
    #[serde(default)]
    pub enriched_from: Option<CallSid>,
    /// The person texted STOP (or another opt-out word) and not START since: nothing is
    /// sent to them by text. Twilio blocks it on long codes too; hotline keeps its own
    /// record so it never tries, and never answers an opted-out text with the LLM.
    #[serde(default)]
    pub sms_opted_out: bool,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactField {
    Name,
    Company,
    Notes,
    Email,
}

/// Longest notes field kept; the oldest learned lines give way first.
const MAX_NOTES_CHARS: usize = 4000;

impl Contact {
    pub fn new(org: OrgId, phone: E164, now: DateTime<Utc>) -> Self {
        Self {
            org,
            phone,
            name: None,
            company: None,
            notes: None,
            email: None,
            last_call: None,
            edited: BTreeSet::new(),
            enriched_from: None,
            sms_opted_out: false,
            created_at: now,
            version: 0,
        }
    }

    /// A person's edit: it sticks, whatever later calls learn.
    pub fn set_by_person(&mut self, field: ContactField, value: Option<String>) {
        *self.field_mut(field) = value.filter(|v| !v.trim().is_empty());
        self.edited.insert(field);
    }

    /// Applies what `call` learned, leaving alone every field a person edited. Name and
    /// company take the newest learned value; notes gain a dated line. Applying the same
    /// call twice changes nothing. Returns whether anything changed.
    pub fn enrich(&mut self, facts: &ContactFacts, call: &CallSid, day: NaiveDate) -> bool {
        if self.enriched_from.as_ref() == Some(call) {
            return false;
        }
        let before = self.clone();
        for (field, learned) in [
            (ContactField::Name, &facts.name),
            (ContactField::Company, &facts.company),
        ] {
            let learned = learned.as_deref().map(str::trim).filter(|v| !v.is_empty());
            if let Some(v) = learned
                && !self.edited.contains(&field)
            {
                *self.field_mut(field) = Some(v.to_owned());
            }
        }
        let note = facts
            .notes
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty());
        if let Some(note) = note
            && !self.edited.contains(&ContactField::Notes)
        {
            let line = format!("{day}: {note}");
            let notes = match self.notes.take() {
                Some(old) if !old.is_empty() => format!("{old}\n{line}"),
                _ => line,
            };
            self.notes = Some(keep_newest(notes, MAX_NOTES_CHARS));
        }
        self.enriched_from = Some(call.clone());
        self.name != before.name || self.company != before.company || self.notes != before.notes
    }

    /// Whether `q` (already lower-case) is part of the name, phone, e-mail or company.
    pub fn matches(&self, q: &str) -> bool {
        self.phone.as_str().contains(q)
            || [&self.name, &self.email, &self.company]
                .into_iter()
                .flatten()
                .any(|v| v.to_lowercase().contains(q))
    }

    fn field_mut(&mut self, field: ContactField) -> &mut Option<String> {
        match field {
            ContactField::Name => &mut self.name,
            ContactField::Company => &mut self.company,
            ContactField::Notes => &mut self.notes,
            ContactField::Email => &mut self.email,
        }
    }
}

/// Drops whole lines from the front until `notes` fits in `max` characters.
fn keep_newest(notes: String, max: usize) -> String {
    if notes.chars().count() <= max {
        return notes;
    }
    let mut lines: Vec<&str> = notes.lines().collect();
    while lines.len() > 1 && lines.iter().map(|l| l.chars().count() + 1).sum::<usize>() > max {
        lines.remove(0);
    }
    let kept = lines.join("\n");
    kept.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact() -> Contact {
        Contact::new(
            OrgId::parse("acme").expect("org"),
            E164::parse("+14155550100").expect("phone"),
            Utc::now(),
        )
    }

    fn sid(n: u8) -> CallSid {
        CallSid::parse(&format!("CA{n:032x}")).expect("sid")
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 21).expect("date")
    }

    fn facts(name: &str, company: &str, notes: &str) -> ContactFacts {
        ContactFacts {
            name: Some(name.into()),
            company: Some(company.into()),
            notes: Some(notes.into()),
        }
    }

    #[test]
    fn learned_facts_fill_and_update_unedited_fields() {
        let mut c = contact();
        assert!(c.enrich(&facts("Dana", "Acme", "wants Tuesdays"), &sid(1), day()));
        assert_eq!(c.name.as_deref(), Some("Dana"));
        assert_eq!(c.notes.as_deref(), Some("2026-11-21: wants Tuesdays"));
        assert!(c.enrich(&facts("Dana Lee", "Acme", "moved to 3pm"), &sid(2), day()));
        assert_eq!(c.name.as_deref(), Some("Dana Lee"));
        assert_eq!(
            c.notes.as_deref(),
            Some("2026-11-21: wants Tuesdays\n2026-11-21: moved to 3pm")
        );
    }

    #[test]
    fn person_edits_are_never_overwritten() {
        let mut c = contact();
        c.set_by_person(ContactField::Name, Some("Dr. Dana Lee".into()));
        c.set_by_person(ContactField::Notes, Some("VIP".into()));
        c.enrich(&facts("Dana", "Acme", "new note"), &sid(1), day());
        assert_eq!(c.name.as_deref(), Some("Dr. Dana Lee"));
        assert_eq!(c.notes.as_deref(), Some("VIP"));
        assert_eq!(c.company.as_deref(), Some("Acme"));
    }

    #[test]
    fn the_same_call_applies_once_and_blanks_change_nothing() {
        let mut c = contact();
        assert!(c.enrich(&facts("Dana", "Acme", "note"), &sid(1), day()));
        assert!(!c.enrich(&facts("Other", "Other", "again"), &sid(1), day()));
        assert_eq!(c.name.as_deref(), Some("Dana"));
        assert!(!c.enrich(&facts(" ", "", ""), &sid(2), day()));
        assert_eq!(c.company.as_deref(), Some("Acme"));
    }

    #[test]
    fn a_search_matches_part_of_the_name_phone_email_or_company() {
        let mut c = contact();
        c.set_by_person(ContactField::Name, Some("Dana Lee".into()));
        c.set_by_person(ContactField::Email, Some("Dana@Example.com".into()));
        for q in ["", "dana", "lee", "5550100", "+1415", "@example.com"] {
            assert!(c.matches(q), "{q:?}");
        }
        assert!(!c.matches("acme"));
        c.company = Some("Acme Clinic".into());
        assert!(c.matches("acme"));
        // An e-mail address is a person's fact: calls never learn one.
        c.enrich(&facts("Other", "Other", "note"), &sid(1), day());
        assert_eq!(c.email.as_deref(), Some("Dana@Example.com"));
    }

    #[test]
    fn notes_keep_the_newest_lines_within_bounds() {
        let mut c = contact();
        for n in 0..200u8 {
            c.enrich(
                &ContactFacts {
                    notes: Some(format!("note number {n} {}", "x".repeat(40))),
                    ..ContactFacts::default()
                },
                &sid(n),
                day(),
            );
        }
        let notes = c.notes.expect("notes");
        assert!(notes.chars().count() <= MAX_NOTES_CHARS);
        assert!(notes.ends_with(&format!("note number 199 {}", "x".repeat(40))));
        assert!(!notes.contains("note number 0 "));
    }
}
