//! Releasing a number: only its organization forgets it, and then anyone may claim it.

use hotline_core::ids::AgentId;
use hotline_core::model::PhoneNumber;
use hotline_core::ports::StoreError;
use hotline_testkit::store::TestStore;

use super::{org_id, phone};

fn number(n: &str, org: &str) -> PhoneNumber {
    PhoneNumber {
        number: phone(n),
        org: org_id(org),
        agent: AgentId::parse("front-desk").expect("agent"),
        enabled: true,
        sms: true,
        sms_agent: None,
        sms_disabled_message: None,
        analyzers: Vec::new(),
        version: 0,
    }
}

pub async fn a_number_is_deleted_only_by_its_organization_and_is_then_free(f: TestStore) {
    let d = &f.stores.directory;
    d.put_number(&number("+14155550111", "acme"))
        .await
        .expect("put");
    let n = phone("+14155550111");

    let err = d
        .delete_number(&org_id("other"), &n)
        .await
        .expect_err("not theirs");
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(d.get_number(&n).await.expect("get").is_some());

    d.delete_number(&org_id("acme"), &n).await.expect("delete");
    assert!(d.get_number(&n).await.expect("get").is_none());
    assert!(
        d.list_numbers(&org_id("acme"))
            .await
            .expect("list")
            .is_empty()
    );
    let err = d
        .delete_number(&org_id("acme"), &n)
        .await
        .expect_err("gone");
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");

    d.put_number(&number("+14155550111", "other"))
        .await
        .expect("claimed by another");
}
