//! Campaigns, their leads and the do-not-call lists, over the same table.
//!
//! | record | pk | sk | gsi1 | gsi2 (keys only) |
//! |---|---|---|---|---|
//! | campaign | `CAMPAIGN#{id}` | `CAMPAIGN` | `ORG#{org}` / `CAMPAIGN#{created_at}#{id}` | running: `CAMPAIGNS#RUNNING` / `CAMPAIGN#{id}` |
//! | lead | `CAMPAIGN#{campaign}` | `LEAD#{id}` | `LEADS#{campaign}#{state}` / `LEAD#{id}` | retry_at, dialing: `LEADS#{campaign}#{state}` / `AT#{time}#{id}` |
//! | do-not-call entry | `ORG#{org}` | `DNC#{e164}` | | |
//!
//! A lead's state partitions make "leads in state S" one query; the sparse `gsi2` keys
//! order the leads waiting for a time (a retry, a dialing timeout) by that time, so
//! "due now" and "stuck since" are range queries. The index only finds leads: a dialer
//! claims one by a versioned write of the lead read from the table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotline_core::campaign::{Campaign, CampaignState, Lead, LeadState, LeadStateKind};
use hotline_core::ids::{E164, OrgId};
use hotline_core::ports::{Campaigns, Created, StoreError, StoreResult};
use serde_json::json;

use super::{TableRecords, Versioned, org_pk, sortable, to_item};
use crate::table::{Condition, Index, Item, Query, Table, Written};

versioned!(Campaign, Lead);

const CAMPAIGN: &str = "CAMPAIGN";
const RUNNING: &str = "CAMPAIGNS#RUNNING";

fn campaign_pk(id: &str) -> String {
    format!("CAMPAIGN#{id}")
}

fn campaign_item(c: &Campaign) -> StoreResult<Item> {
    let mut item = to_item(campaign_pk(&c.id), CAMPAIGN.into(), c.version, c)?;
    item.gsi1 = Some((
        org_pk(&c.org),
        format!("CAMPAIGN#{}#{}", sortable(&c.created_at), c.id),
    ));
    item.gsi2 =
        (c.state == CampaignState::Running).then(|| (RUNNING.into(), format!("CAMPAIGN#{}", c.id)));
    Ok(item)
}

fn state_pk(campaign: &str, state: LeadStateKind) -> String {
    format!("LEADS#{campaign}#{}", state.as_str())
}

fn lead_item(lead: &Lead) -> StoreResult<Item> {
    let mut item = to_item(
        campaign_pk(&lead.campaign),
        format!("LEAD#{}", lead.id),
        lead.version,
        lead,
    )?;
    let kind = lead.state.kind();
    item.gsi1 = Some((state_pk(&lead.campaign, kind), format!("LEAD#{}", lead.id)));
    item.gsi2 = match lead.state {
        LeadState::RetryAt { at } | LeadState::Dialing { since: at } => Some((
            state_pk(&lead.campaign, kind),
            format!("AT#{}#{}", sortable(&at), lead.id),
        )),
        _ => None,
    };
    Ok(item)
}

fn query(index: Index, pk: String, sk_prefix: &str) -> Query {
    Query {
        index,
        pk,
        sk_prefix: sk_prefix.into(),
        descending: false,
        limit: None,
        sk_before: None,
    }
}

impl<T: Table> TableRecords<T> {
    /// The leads whose keys a keys-only `gsi2` query found, read from the table.
    async fn leads_at(&self, campaign: &str, q: &Query) -> StoreResult<Vec<Lead>> {
        let mut leads = Vec::new();
        for item in self.table.query(q).await? {
            if let Some(lead) = self.get_record(&campaign_pk(campaign), &item.sk).await? {
                leads.push(lead);
            }
        }
        Ok(leads)
    }
}

#[async_trait]
impl<T: Table> Campaigns for TableRecords<T> {
    async fn create_campaign(&self, campaign: &Campaign) -> StoreResult<Created<Campaign>> {
        let item = campaign_item(campaign)?;
        self.create_once(item, campaign).await
    }

    async fn get_campaign(&self, org: &OrgId, id: &str) -> StoreResult<Option<Campaign>> {
        let found: Option<Campaign> = self.get_record(&campaign_pk(id), CAMPAIGN).await?;
        Ok(found.filter(|c| &c.org == org))
    }

    async fn update_campaign(&self, campaign: &Campaign) -> StoreResult<Campaign> {
        let item = campaign_item(campaign)?;
        self.update_versioned(item, campaign).await
    }

    async fn list_campaigns(&self, org: &OrgId) -> StoreResult<Vec<Campaign>> {
        let mut q = query(Index::Gsi1, org_pk(org), "CAMPAIGN#");
        q.descending = true;
        self.query_records(&q).await
    }

    async fn running_campaigns(&self) -> StoreResult<Vec<Campaign>> {
        let mut running = Vec::new();
        for item in self
            .table
            .query(&query(Index::Gsi2, RUNNING.into(), "CAMPAIGN#"))
            .await?
        {
            let found: Option<Campaign> = self.get_record(&item.pk, CAMPAIGN).await?;
            // The index may lag a pause on DynamoDB: the record decides.
            running.extend(found.filter(|c| c.state == CampaignState::Running));
        }
        Ok(running)
    }

    async fn add_leads(&self, leads: &[Lead]) -> StoreResult<Vec<Created<Lead>>> {
        let mut results = Vec::with_capacity(leads.len());
        for lead in leads {
            results.push(self.create_once(lead_item(lead)?, lead).await?);
        }
        Ok(results)
    }

    async fn get_lead(&self, campaign: &str, id: &str) -> StoreResult<Option<Lead>> {
        self.get_record(&campaign_pk(campaign), &format!("LEAD#{id}"))
            .await
    }

    async fn update_lead(&self, lead: &Lead) -> StoreResult<Lead> {
        let item = lead_item(lead)?;
        self.update_versioned(item, lead).await
    }

    async fn list_leads(
        &self,
        campaign: &str,
        state: Option<LeadStateKind>,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Lead>> {
        let mut q = match state {
            None => query(Index::Primary, campaign_pk(campaign), "LEAD#"),
            Some(state) => query(Index::Gsi1, state_pk(campaign, state), "LEAD#"),
        };
        // Newest id first, so that a page resumes strictly before the last id seen.
        q.descending = true;
        q.limit = Some(limit);
        q.sk_before = after.map(|id| format!("LEAD#{id}"));
        self.query_records(&q).await
    }

    async fn due_leads(
        &self,
        campaign: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Lead>> {
        let mut retry = query(
            Index::Gsi2,
            state_pk(campaign, LeadStateKind::RetryAt),
            "AT#",
        );
        // `~` sorts after `#`: every lead whose time is `now` or before.
        retry.sk_before = Some(format!("AT#{}~", sortable(&now)));
        retry.limit = Some(limit);
        let mut due = self.leads_at(campaign, &retry).await?;
        if due.len() < limit {
            let mut pending = query(
                Index::Gsi1,
                state_pk(campaign, LeadStateKind::Pending),
                "LEAD#",
            );
            pending.limit = Some(limit - due.len());
            due.extend(self.query_records::<Lead>(&pending).await?);
        }
        due.retain(|l| l.is_due(now));
        Ok(due)
    }

    async fn dialing_since_before(
        &self,
        campaign: &str,
        before: DateTime<Utc>,
    ) -> StoreResult<Vec<Lead>> {
        let mut q = query(
            Index::Gsi2,
            state_pk(campaign, LeadStateKind::Dialing),
            "AT#",
        );
        q.sk_before = Some(format!("AT#{}", sortable(&before)));
        let mut leads = self.leads_at(campaign, &q).await?;
        leads.retain(|l| matches!(l.state, LeadState::Dialing { since } if since < before));
        Ok(leads)
    }

    async fn count_dialing(&self, campaign: &str) -> StoreResult<usize> {
        let q = query(
            Index::Gsi2,
            state_pk(campaign, LeadStateKind::Dialing),
            "AT#",
        );
        Ok(self.table.query(&q).await?.len())
    }

    async fn add_do_not_call(
        &self,
        org: &OrgId,
        phone: &E164,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let item = Item {
            pk: org_pk(org),
            sk: format!("DNC#{phone}"),
            gsi1: None,
            gsi2: None,
            version: 0,
            data: json!({ "phone": phone, "added_at": at }),
            expires_at: None,
        };
        // Already listed: the first entry (and its date) stays.
        self.table.put(&item, Condition::Absent).await?;
        Ok(())
    }

    async fn remove_do_not_call(&self, org: &OrgId, phone: &E164) -> StoreResult<bool> {
        let (pk, sk) = (org_pk(org), format!("DNC#{phone}"));
        let Some(item) = self.table.get(&pk, &sk).await? else {
            return Ok(false);
        };
        match self.table.delete(&pk, &sk, item.version).await? {
            Written::Yes => Ok(true),
            Written::ConditionFailed => Err(StoreError::Conflict(format!("{pk}/{sk}"))),
        }
    }

    async fn is_do_not_call(&self, org: &OrgId, phone: &E164) -> StoreResult<bool> {
        Ok(self
            .table
            .get(&org_pk(org), &format!("DNC#{phone}"))
            .await?
            .is_some())
    }

    async fn list_do_not_call(&self, org: &OrgId) -> StoreResult<Vec<E164>> {
        self.table
            .query(&query(Index::Primary, org_pk(org), "DNC#"))
            .await?
            .into_iter()
            .map(|item| {
                let raw = item.sk.strip_prefix("DNC#").unwrap_or_default();
                E164::parse(raw)
                    .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))
            })
            .collect()
    }
}
