//! Organizations' secrets at rest: sealed in the table, plaintext through the ports, on
//! both adapters (a local key file; KMS on moto).

use std::sync::Arc;

use hotline_core::ids::OrgId;
use hotline_core::model::Organization;
use hotline_core::ports::StoreError;
use hotline_store::Stores;
use hotline_store::aws::{DynamoTable, KmsKeyVault, dynamodb_client, kms_client};
use hotline_store::local::{Db, KEY_FILE, SqliteTable};
use hotline_store::table::{Condition, Item, Table};
use hotline_testkit::store::{TestStore, create_kms_key};
use secrecy::ExposeSecret;

use super::{org, org_id};

const TOKEN: &str = "secret-token";
const WEBHOOK_SECRET: &str = "whsec-test";

/// The organization's item as the table holds it, with no unsealing.
async fn raw_org(f: &TestStore, id: &str) -> Item {
    let table: Box<dyn Table> = match (&f.aws, f.dir()) {
        (Some(aws), _) => Box::new(DynamoTable::new(dynamodb_client(&aws.sdk), &aws.table)),
        (None, Some(dir)) => Box::new(SqliteTable::new(
            Db::open(&dir.join("hotline.sqlite3")).expect("db"),
        )),
        (None, None) => panic!("a test store is local or on AWS"),
    };
    table
        .get(&format!("ORG#{id}"), "ORG")
        .await
        .expect("raw get")
        .expect("org item")
}

/// The same resources opened again, by another process as it were: nothing cached.
fn reopened(f: &TestStore, vault_key: Option<&str>) -> Stores {
    match (&f.aws, f.dir()) {
        (Some(aws), _) => match vault_key {
            Some(key) => Stores::aws_sealed(
                &aws.sdk,
                &aws.table,
                &aws.bucket,
                aws.queue.url(),
                Arc::new(KmsKeyVault::new(kms_client(&aws.sdk), key)),
            ),
            None => Stores::aws(&aws.sdk, &aws.table, &aws.bucket, aws.queue.url()),
        },
        (None, Some(dir)) => Stores::local(dir).expect("local store"),
        (None, None) => panic!("a test store is local or on AWS"),
    }
}

fn secrets(o: &Organization) -> (String, Option<String>) {
    (
        o.twilio.auth_token.expose_secret().to_owned(),
        o.settings
            .report_webhook_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
    )
}

pub async fn org_secrets_are_sealed_in_the_table_and_plain_through_the_ports(f: TestStore) {
    let d = &f.stores.directory;
    d.put_org(&org("acme", 1)).await.expect("put");
    let raw = raw_org(&f, "acme").await;
    let text = raw.data.to_string();
    assert!(!text.contains(TOKEN), "token in the clear: {text}");
    assert!(
        !text.contains(WEBHOOK_SECRET),
        "webhook secret in the clear: {text}"
    );
    assert!(
        raw.data["twilio"]["auth_token"]["sealed"]["ct"].is_string(),
        "{text}"
    );
    assert!(
        raw.data["settings"]["report_webhook_secret"]["sealed"].is_object(),
        "{text}"
    );
    // What is not secret stays readable in the table.
    assert_eq!(
        raw.data["settings"]["report_webhook_url"],
        "https://example.com/hook"
    );

    let want = (TOKEN.to_owned(), Some(WEBHOOK_SECRET.to_owned()));
    let got = d.get_org(&org_id("acme")).await.expect("get").expect("org");
    assert_eq!(secrets(&got), want);
    let by_account = d
        .org_by_account(&got.twilio.account_sid)
        .await
        .expect("by account")
        .expect("org");
    assert_eq!(secrets(&by_account), want);
    let listed = d.list_orgs().await.expect("list");
    assert_eq!(listed.iter().map(secrets).collect::<Vec<_>>(), vec![want]);
}

pub async fn a_rotated_secret_is_read_at_once_by_a_store_opened_before(f: TestStore) {
    let key = f.aws.as_ref().map(|a| a.kms_key.clone());
    let reader = reopened(&f, key.as_deref());
    let acme = org_id("acme");
    f.stores
        .directory
        .put_org(&org("acme", 1))
        .await
        .expect("put");
    let before = reader
        .directory
        .get_org(&acme)
        .await
        .expect("get")
        .expect("org");
    assert_eq!(secrets(&before).0, TOKEN);

    let mut rotated = org("acme", 1);
    rotated.twilio.auth_token = "rotated-token".to_owned().into();
    rotated.settings.report_webhook_secret = Some("whsec-rotated".to_owned().into());
    f.stores.directory.put_org(&rotated).await.expect("rotate");
    let after = reader
        .directory
        .get_org(&acme)
        .await
        .expect("get")
        .expect("org");
    assert_eq!(
        secrets(&after),
        ("rotated-token".to_owned(), Some("whsec-rotated".to_owned()))
    );
}

pub async fn an_org_written_before_sealing_still_reads_and_is_sealed_when_written(f: TestStore) {
    let table: Box<dyn Table> = match (&f.aws, f.dir()) {
        (Some(aws), _) => Box::new(DynamoTable::new(dynamodb_client(&aws.sdk), &aws.table)),
        (None, Some(dir)) => Box::new(SqliteTable::new(
            Db::open(&dir.join("hotline.sqlite3")).expect("db"),
        )),
        (None, None) => panic!("a test store is local or on AWS"),
    };
    let legacy = org("acme", 1);
    let item = Item {
        pk: "ORG#acme".into(),
        sk: "ORG".into(),
        gsi1: Some(("ORGS".into(), "ORG#acme".into())),
        gsi2: None,
        version: 0,
        data: serde_json::json!({
            "id": "acme", "name": "Acme",
            "twilio": {"account_sid": legacy.twilio.account_sid, "auth_token": TOKEN},
            "settings": {"report_webhook_secret": WEBHOOK_SECRET},
        }),
        expires_at: None,
    };
    table.put(&item, Condition::Always).await.expect("raw put");
    let d = &f.stores.directory;
    let got = d.get_org(&org_id("acme")).await.expect("get").expect("org");
    assert_eq!(
        secrets(&got),
        (TOKEN.to_owned(), Some(WEBHOOK_SECRET.to_owned()))
    );

    d.put_org(&got).await.expect("write again");
    let text = raw_org(&f, "acme").await.data.to_string();
    assert!(
        !text.contains(TOKEN) && !text.contains(WEBHOOK_SECRET),
        "{text}"
    );
    let again = d.get_org(&org_id("acme")).await.expect("get").expect("org");
    assert_eq!(secrets(&again).0, TOKEN);
}

pub async fn a_wrong_or_absent_key_is_a_clear_error_not_a_panic(f: TestStore) {
    f.stores
        .directory
        .put_org(&org("acme", 1))
        .await
        .expect("put");
    let acme: OrgId = org_id("acme");
    let wrong = match (&f.aws, f.dir()) {
        (Some(aws), _) => {
            let other_key = create_kms_key(&aws.sdk).await;
            let absent = reopened(&f, None);
            let err = absent.directory.get_org(&acme).await.expect_err("no key");
            assert!(err.to_string().contains("HOTLINE_KMS_KEY_ID"), "{err}");
            let err = absent
                .directory
                .put_org(&org("acme", 1))
                .await
                .expect_err("no key, no plaintext write");
            assert!(err.to_string().contains("HOTLINE_KMS_KEY_ID"), "{err}");
            reopened(&f, Some(&other_key))
        }
        (None, Some(dir)) => {
            // Another key file: as if the data directory were copied without it.
            std::fs::remove_file(dir.join(KEY_FILE)).expect("remove key");
            reopened(&f, None)
        }
        (None, None) => panic!("a test store is local or on AWS"),
    };
    let err = wrong.directory.get_org(&acme).await.expect_err("wrong key");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("cannot be unsealed"), "{err}");
    assert!(!err.to_string().contains(TOKEN), "{err}");
    let err = wrong.directory.list_orgs().await.expect_err("wrong key");
    assert!(err.to_string().contains("organization acme"), "{err}");
}
