//! What `hotline apply` leaves in each organization's audit log: one entry per record it
//! creates or changes, by the actor `hotline apply`, secrets redacted.

use chrono::{DateTime, Utc};
use hotline_core::OrgId;
use hotline_core::audit::{Actor, AuditEntry};
use hotline_core::ports::{Audit, StoreResult};

use super::{Change, Plan, Record};

impl Plan {
    /// The audit entries for applying this plan at `at`: one per created or changed
    /// record (the changed fields named in the target), none for unchanged ones.
    pub fn audit_entries(&self, at: DateTime<Utc>) -> Vec<AuditEntry> {
        self.steps
            .iter()
            .filter_map(|step| {
                let verb = match &step.change {
                    Change::Create => "create",
                    Change::Update(_) => "update",
                    Change::Unchanged => return None,
                };
                let (kind, org, after): (&str, &OrgId, _) = match &step.record {
                    Record::Org(o) => ("organization", &o.id, serde_json::to_value(o)),
                    Record::Agent(a) => ("agent", &a.org, serde_json::to_value(a)),
                    Record::Number(n) => ("number", &n.org, serde_json::to_value(n)),
                };
                let target = match &step.change {
                    Change::Update(fields) => format!("{} ({})", step.what, fields.join(", ")),
                    Change::Create | Change::Unchanged => step.what.clone(),
                };
                Some(AuditEntry::new(
                    org.clone(),
                    at,
                    &Actor::Apply,
                    &format!("{kind}.{verb}"),
                    &target,
                    None,
                    after.ok(),
                ))
            })
            .collect()
    }

    /// Records [`audit_entries`](Self::audit_entries) once the plan is applied.
    pub async fn record_audit(&self, audit: &dyn Audit, at: DateTime<Utc>) -> StoreResult<()> {
        for entry in self.audit_entries(at) {
            audit.record_audit(&entry).await?;
        }
        Ok(())
    }
}
