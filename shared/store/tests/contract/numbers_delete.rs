//! Releasing and editing a number: only its organization forgets it, and then anyone may
//! claim it; an edit lands only over the version it read.

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

pub async fn a_number_is_updated_only_over_the_version_read(f: TestStore) {
    let d = &f.stores.directory;
    d.put_number(&number("+14155550112", "acme"))
        .await
        .expect("put");
    let n = phone("+14155550112");
    let read = d.get_number(&n).await.expect("get").expect("stored");

    let mut texts_off = read.clone();
    texts_off.sms = false;
    let written = d.update_number(&texts_off).await.expect("update");
    assert_eq!(written.version, read.version + 1);

    // A second writer that read the same version loses, and changes nothing.
    let mut calls_off = read.clone();
    calls_off.enabled = false;
    let err = d.update_number(&calls_off).await.expect_err("stale");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let stored = d.get_number(&n).await.expect("get").expect("stored");
    assert!(!stored.sms && stored.enabled, "{stored:?}");
    assert_eq!(stored.version, written.version);
    assert_eq!(
        d.list_numbers(&org_id("acme")).await.expect("list").len(),
        1,
        "still listed under its organization"
    );
}
