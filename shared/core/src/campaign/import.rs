//! Leads from what a person uploads: JSON rows or a CSV file with a column mapping. Every
//! row is checked on its own; a bad row is reported by its line and the others are
//! imported, never silently dropped.

use std::collections::{BTreeMap, HashSet};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{Campaign, Lead, LeadState, zones};
use crate::ids::E164;
use crate::template;

/// Most leads one request may carry.
pub const MAX_LEADS_PER_IMPORT: usize = 10_000;

/// One lead as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadInput {
    pub phone: String,
    #[serde(default)]
    pub name: Option<String>,
    /// An IANA zone (`America/New_York`); inferred from the number when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub caller_id: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// A row not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The row's line in the file (1 is the CSV header), or its 1-based index in a JSON
    /// list.
    pub line: u64,
    pub error: String,
}

/// Which CSV columns hold what; every other column becomes a variable named after its
/// header (lowercased, spaces and other separators as `_`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvMapping {
    pub phone: String,
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub caller_id: Option<String>,
}

impl Default for CsvMapping {
    fn default() -> Self {
        Self {
            phone: "phone".into(),
            name: None,
            timezone: None,
            caller_id: None,
        }
    }
}

/// Rows as given, each with its line.
pub type Rows = Vec<(u64, LeadInput)>;

/// The rows of a CSV file, each with its line, and the rows that could not be read.
/// A file without the phone column is refused as a whole.
pub fn parse_csv(bytes: &[u8], mapping: &CsvMapping) -> Result<(Rows, Vec<RowError>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| format!("CSV header: {e}"))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let phone = column(&mapping.phone)
        .ok_or_else(|| format!("CSV has no column {:?} for the phone number", mapping.phone))?;
    let named = |wanted: &Option<String>| -> Result<Option<usize>, String> {
        wanted
            .as_deref()
            .map(|w| column(w).ok_or_else(|| format!("CSV has no column {w:?}")))
            .transpose()
    };
    let name = named(&mapping.name)?;
    let timezone = named(&mapping.timezone)?;
    let caller_id = named(&mapping.caller_id)?;
    let mapped = [Some(phone), name, timezone, caller_id];

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    error: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let cell = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let variables = headers
            .iter()
            .enumerate()
            .filter(|(i, _)| !mapped.contains(&Some(*i)))
            .filter_map(|(i, h)| {
                let v = record.get(i)?;
                (!v.is_empty()).then(|| (variable_name(h), v.to_owned()))
            })
            .collect();
        rows.push((
            line,
            LeadInput {
                phone: cell(Some(phone)).unwrap_or_default(),
                name: cell(name),
                timezone: cell(timezone),
                caller_id: cell(caller_id),
                variables,
            },
        ));
    }
    Ok((rows, errors))
}

/// A CSV header as a variable name.
fn variable_name(header: &str) -> String {
    header
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The leads of `campaign` from `rows`, and every row refused with its line: an invalid
/// number, zone, caller ID or variable, or a number given twice in this import.
pub fn build_leads(campaign: &Campaign, rows: Rows) -> (Vec<Lead>, Vec<RowError>) {
    let mut leads = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (line, row) in rows {
        match build_one(campaign, row) {
            Ok(lead) if !seen.insert(lead.id.clone()) => errors.push(RowError {
                line,
                error: format!("{} is already in this import", lead.phone.redacted()),
            }),
            Ok(lead) => leads.push(lead),
            Err(error) => errors.push(RowError { line, error }),
        }
    }
    (leads, errors)
}

fn build_one(campaign: &Campaign, row: LeadInput) -> Result<Lead, String> {
    let phone = E164::parse(row.phone.trim()).map_err(|e| {
        format!(
            "phone {:?}: {e}",
            row.phone.chars().take(40).collect::<String>()
        )
    })?;
    let timezone: Tz = match row.timezone.as_deref().map(str::trim) {
        Some(tz) if !tz.is_empty() => tz.parse().map_err(|_| {
            format!(
                "timezone {:?}: not an IANA zone",
                tz.chars().take(60).collect::<String>()
            )
        })?,
        _ => zones::zone_of(&phone).ok_or_else(|| {
            format!(
                "no timezone given and none can be inferred from {}",
                phone.redacted()
            )
        })?,
    };
    let caller_id = row
        .caller_id
        .map(|c| {
            E164::parse(c.trim())
                .ok()
                .filter(|c| campaign.caller_ids.contains(c))
                .ok_or_else(|| "caller_id: not one of the campaign's caller IDs".to_owned())
        })
        .transpose()?;
    let mut variables = row.variables;
    if let Some(name) = &row.name {
        variables
            .entry("name".into())
            .or_insert_with(|| name.clone());
    }
    template::check_variables(&variables)?;
    if row.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err("name: at most 200 characters".into());
    }
    Ok(Lead {
        id: Lead::id_for(&phone),
        campaign: campaign.id.clone(),
        org: campaign.org.clone(),
        phone,
        name: row.name,
        variables,
        timezone,
        caller_id,
        state: LeadState::Pending,
        attempts: Vec::new(),
        version: 0,
    })
}
