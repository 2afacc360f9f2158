//! The mail port's contract, for both adapters as `Stores` wires them: the local outbox
//! and SES on moto. The SES half fails (never skips) when moto is missing.

use std::path::PathBuf;

use hotline_core::ports::{Email, MailError};
use hotline_sim::moto::{Moto, REGION, SentEmail, unique_name};
use hotline_store::Stores;
use hotline_store::aws::emulator_config;
use hotline_store::local::{OutboxEntry, outbox_dir, read_outbox};

/// A sender no other test uses, so moto's shared record can be filtered by it.
fn sender() -> String {
    format!("{}@example.com", unique_name("hotline"))
}

fn email(from: &str) -> Email {
    Email {
        from: from.to_owned(),
        to: vec!["ops@example.com".to_owned(), "owner@example.org".to_owned()],
        subject: "Call from +1 415 555 0100 — callback requested ☎".to_owned(),
        text: "Ana asked to be called back tomorrow.\nNo rush: «après 10h».".to_owned(),
        html: None,
    }
}

async fn local() -> (Stores, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = Stores::local(dir.path()).expect("local store");
    (stores, dir)
}

fn outbox(dir: &tempfile::TempDir) -> Vec<OutboxEntry> {
    read_outbox(&outbox_dir(dir.path())).expect("outbox readable")
}

async fn ses() -> Stores {
    let sdk = emulator_config(&Moto::shared().endpoint, REGION).await;
    // Table, bucket and queue are never touched here.
    Stores::aws(&sdk, "unused", "unused", "http://unused")
}

async fn sent_by(from: &str) -> Vec<SentEmail> {
    Moto::shared()
        .sent_emails()
        .await
        .expect("moto's sent messages")
        .into_iter()
        .filter(|m| m.source == from)
        .collect()
}

mod local_outbox {
    use super::*;

    #[tokio::test]
    async fn a_sent_email_lands_in_the_outbox_as_it_was_given() {
        let (stores, dir) = local().await;
        let mut sent = email(&sender());
        sent.html = Some("<p>Ana asked to be called back.</p>".to_owned());
        let id = stores.mailer.send(&sent).await.expect("sent");

        let entries = outbox(&dir);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].id, id);
        assert_eq!(entries[0].email(), sent);
        let file: PathBuf = outbox_dir(dir.path()).join(format!("{id}.json"));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file).expect("file named by id")).expect("json");
        assert_eq!(json["subject"], sent.subject.as_str());
        assert_eq!(json["to"][1], "owner@example.org");
    }

    #[tokio::test]
    async fn outbox_lists_emails_in_the_order_they_were_sent() {
        let (stores, dir) = local().await;
        let from = sender();
        for n in 0..3 {
            let mut e = email(&from);
            e.subject = format!("report {n}");
            stores.mailer.send(&e).await.expect("sent");
        }
        let subjects: Vec<String> = outbox(&dir).into_iter().map(|e| e.subject).collect();
        assert_eq!(subjects, ["report 0", "report 1", "report 2"]);
    }

    #[tokio::test]
    async fn an_email_without_recipients_is_rejected() {
        let (stores, dir) = local().await;
        let mut e = email(&sender());
        e.to.clear();
        let err = stores.mailer.send(&e).await.expect_err("no recipients");
        assert!(matches!(err, MailError::Rejected(_)), "{err:?}");
        assert!(outbox(&dir).is_empty());
    }
}

mod ses_on_moto {
    use super::*;

    #[tokio::test]
    async fn a_sent_email_arrives_with_its_subject_recipients_and_text() {
        let stores = ses().await;
        let from = sender();
        Moto::shared()
            .verify_email_identity(&from)
            .await
            .expect("verify sender");
        let sent = email(&from);
        let id = stores.mailer.send(&sent).await.expect("sent");
        assert!(!id.is_empty());

        let arrived = sent_by(&from).await;
        assert_eq!(arrived.len(), 1, "{arrived:?}");
        assert_eq!(arrived[0].id, id);
        assert_eq!(arrived[0].to, sent.to);
        assert_eq!(arrived[0].subject, sent.subject);
        assert_eq!(arrived[0].body, sent.text);
    }

    #[tokio::test]
    async fn html_goes_along_with_the_text() {
        let stores = ses().await;
        let from = sender();
        Moto::shared()
            .verify_email_identity(&from)
            .await
            .expect("verify sender");
        let mut sent = email(&from);
        sent.html = Some("<p>Ana asked to be called back.</p>".to_owned());
        stores.mailer.send(&sent).await.expect("sent");

        // Moto keeps only the HTML part when there is one.
        let arrived = sent_by(&from).await;
        assert_eq!(arrived.len(), 1, "{arrived:?}");
        assert_eq!(Some(&arrived[0].body), sent.html.as_ref());
    }

    #[tokio::test]
    async fn an_unverified_sender_is_rejected() {
        let stores = ses().await;
        let from = sender();
        let err = stores
            .mailer
            .send(&email(&from))
            .await
            .expect_err("unverified sender");
        let MailError::Rejected(why) = &err else {
            panic!("expected Rejected, got {err:?}");
        };
        assert!(why.contains("MessageRejected"), "{why}");
        assert!(
            !why.contains("Ana asked"),
            "the body leaked into the error: {why}"
        );
        assert!(sent_by(&from).await.is_empty());
    }

    #[tokio::test]
    async fn an_email_without_recipients_is_rejected() {
        let stores = ses().await;
        let from = sender();
        Moto::shared()
            .verify_email_identity(&from)
            .await
            .expect("verify sender");
        let mut e = email(&from);
        e.to.clear();
        let err = stores.mailer.send(&e).await.expect_err("no recipients");
        assert!(matches!(err, MailError::Rejected(_)), "{err:?}");
        assert!(sent_by(&from).await.is_empty());
    }

    #[tokio::test]
    async fn an_unreachable_ses_is_unavailable() {
        let port = hotline_sim::moto::free_port().expect("port");
        let sdk = emulator_config(&format!("http://127.0.0.1:{port}"), REGION).await;
        let stores = Stores::aws(&sdk, "unused", "unused", "http://unused");
        let err = stores
            .mailer
            .send(&email(&sender()))
            .await
            .expect_err("nobody listens");
        assert!(matches!(err, MailError::Unavailable(_)), "{err:?}");
    }
}
