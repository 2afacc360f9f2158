//! The port of outbound campaigns: campaigns, their leads, and each organization's
//! do-not-call list.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Created, StoreResult};
use crate::campaign::{Campaign, Lead, LeadStateKind};
use crate::ids::{E164, OrgId};

/// Campaigns and leads. A lead is written only over the version read
/// ([`Campaigns::update_lead`]): that is how a dialer claims one, so two dialers never
/// place the same attempt.
#[async_trait]
pub trait Campaigns: Send + Sync {
    /// Creates the campaign unless its id exists (the stored one is returned).
    async fn create_campaign(&self, campaign: &Campaign) -> StoreResult<Created<Campaign>>;
    /// The organization's campaign; another organization's is `None`.
    async fn get_campaign(&self, org: &OrgId, id: &str) -> StoreResult<Option<Campaign>>;
    /// Versioned write: `Conflict` if someone else wrote in between.
    async fn update_campaign(&self, campaign: &Campaign) -> StoreResult<Campaign>;
    /// The organization's campaigns, newest first.
    async fn list_campaigns(&self, org: &OrgId) -> StoreResult<Vec<Campaign>>;
    /// Every organization's running campaigns: what a dialer works on.
    async fn running_campaigns(&self) -> StoreResult<Vec<Campaign>>;

    /// Adds leads, each unless its id (its number) is already in the campaign; one
    /// result per lead, in order.
    async fn add_leads(&self, leads: &[Lead]) -> StoreResult<Vec<Created<Lead>>>;
    async fn get_lead(&self, campaign: &str, id: &str) -> StoreResult<Option<Lead>>;
    /// Versioned write: `Conflict` if someone else wrote in between.
    async fn update_lead(&self, lead: &Lead) -> StoreResult<Lead>;
    /// A page of the campaign's leads in id order, after `after` (a lead id), optionally
    /// in one state only.
    async fn list_leads(
        &self,
        campaign: &str,
        state: Option<LeadStateKind>,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Lead>>;
    /// Leads a dialer may claim at `now`: pending ones, and those whose retry time has
    /// come, earliest first; at most `limit`.
    async fn due_leads(
        &self,
        campaign: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Lead>>;
    /// Leads in `dialing` since before `before`: their callback may never come.
    async fn dialing_since_before(
        &self,
        campaign: &str,
        before: DateTime<Utc>,
    ) -> StoreResult<Vec<Lead>>;
    /// How many of the campaign's leads are in `dialing`.
    async fn count_dialing(&self, campaign: &str) -> StoreResult<usize>;

    /// Adds `phone` to the organization's do-not-call list (again: no change).
    async fn add_do_not_call(
        &self,
        org: &OrgId,
        phone: &E164,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// `false` when it was not on the list.
    async fn remove_do_not_call(&self, org: &OrgId, phone: &E164) -> StoreResult<bool>;
    async fn is_do_not_call(&self, org: &OrgId, phone: &E164) -> StoreResult<bool>;
    async fn list_do_not_call(&self, org: &OrgId) -> StoreResult<Vec<E164>>;
}
