//! Who is asking: the request is Twilio's, signed for one of hotline's organizations.

use hotline_core::AccountSid;
use hotline_core::model::Organization;
use hotline_core::ports::{Directory, StoreError};
use hotline_twilio::{Form, FormError, signature};
use lambda_http::Request;
use lambda_http::http::{Method, StatusCode};
use secrecy::ExposeSecret;

use crate::WebhookConfig;

/// A request Twilio signed for `org`: its form may be trusted from here on.
#[derive(Debug)]
pub struct Verified {
    /// The organization whose Twilio account signed the request.
    pub org: Organization,
    /// Every pair of the form as received (and signed).
    pub form: Form,
}

/// Why a webhook was refused or could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("only POST is accepted")]
    MethodNotAllowed,
    #[error("missing X-Twilio-Signature")]
    Unsigned,
    #[error("AccountSid is missing or belongs to no organization")]
    UnknownAccount,
    #[error("X-Twilio-Signature does not match")]
    BadSignature,
    /// Signed, but not the webhook the route expects.
    #[error("malformed webhook: {0}")]
    Malformed(#[from] FormError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl WebhookError {
    /// 405 for the wrong method, 403 for anything not signed by a known account, 400
    /// for a signed but malformed form, 503 when the store failed (so Twilio may retry).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unsigned | Self::UnknownAccount | Self::BadSignature => StatusCode::FORBIDDEN,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Checks that `req` is a `POST` to `path` that Twilio signed with the auth token of the
/// organization owning the form's `AccountSid`, over `config`'s public URL + `path` + the
/// raw query string (with and without the default port, as Twilio's libraries do).
/// Nothing in the form is trusted before this returns.
pub async fn verify(
    directory: &dyn Directory,
    config: &WebhookConfig,
    path: &str,
    req: &Request,
) -> Result<Verified, WebhookError> {
    if req.method() != Method::POST {
        return Err(WebhookError::MethodNotAllowed);
    }
    let sig = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(WebhookError::Unsigned)?;
    let form = Form::parse(req.body().as_ref());
    // The signature's key is the auth token of the account named in the request, so the
    // account is looked up before anything else in the form is trusted.
    let account = form
        .get("AccountSid")
        .and_then(|a| AccountSid::parse(a).ok())
        .ok_or(WebhookError::UnknownAccount)?;
    let org = directory
        .org_by_account(&account)
        .await?
        .ok_or(WebhookError::UnknownAccount)?;
    let url = config.signed_url(path, req.uri().query());
    if !signature::validate(
        org.twilio.auth_token.expose_secret(),
        &url,
        form.pairs(),
        sig,
    ) {
        return Err(WebhookError::BadSignature);
    }
    Ok(Verified { org, form })
}

#[cfg(test)]
mod tests {
    use hotline_core::OrgId;
    use hotline_core::model::{OrgSettings, TwilioAccount};
    use hotline_core::routes;
    use hotline_store::Stores;
    use lambda_http::Body;

    use super::*;

    const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    const ACCOUNT: &str = "AC11111111111111111111111111111111";
    const PUBLIC: &str = "https://abc.execute-api.us-east-1.amazonaws.com/prod";

    fn config() -> WebhookConfig {
        WebhookConfig::from_lookup(|_| Some(PUBLIC.to_owned())).expect("config")
    }

    async fn stores(dir: &tempfile::TempDir) -> Stores {
        let stores = Stores::local(dir.path()).expect("store");
        stores
            .directory
            .put_org(&Organization {
                id: OrgId::parse("acme").expect("org"),
                name: "Acme".into(),
                twilio: TwilioAccount {
                    parent: None,
                    account_sid: AccountSid::parse(ACCOUNT).expect("account"),
                    auth_token: TOKEN.to_owned().into(),
                },
                settings: OrgSettings::default(),
                version: 0,
            })
            .await
            .expect("org");
        stores
    }

    fn params(account: &str) -> Vec<(String, String)> {
        [
            ("AccountSid", account),
            ("CallSid", "CA22222222222222222222222222222222"),
            ("CallStatus", "completed"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn request(
        method: Method,
        query: &str,
        params: &[(String, String)],
        sig: Option<&str>,
    ) -> Request {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut req = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://internal.example/twilio/status{query}"));
        if let Some(sig) = sig {
            req = req.header("x-twilio-signature", sig);
        }
        req.body(Body::Binary(body.into_bytes())).expect("request")
    }

    async fn check(req: &Request) -> Result<Verified, WebhookError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let stores = stores(&dir).await;
        verify(stores.directory.as_ref(), &config(), routes::STATUS, req).await
    }

    #[tokio::test]
    async fn a_request_signed_over_the_public_url_is_the_signing_orgs() {
        let p = params(ACCOUNT);
        let url = format!("{PUBLIC}/twilio/status?x=%2B1");
        let sig = signature::compute(TOKEN, &url, &p);
        // The request's own host and path are those behind the gateway: never signed.
        let verified = check(&request(Method::POST, "?x=%2B1", &p, Some(&sig)))
            .await
            .expect("verified");
        assert_eq!(verified.org.id.as_str(), "acme");
        assert_eq!(verified.form.get("CallStatus"), Some("completed"));
    }

    #[tokio::test]
    async fn everything_else_is_refused_with_its_status() {
        let p = params(ACCOUNT);
        let sig = signature::compute(TOKEN, &format!("{PUBLIC}/twilio/status"), &p);
        let other = params("AC00000000000000000000000000000000");
        let other_sig = signature::compute(TOKEN, &format!("{PUBLIC}/twilio/status"), &other);
        let cases = [
            (
                request(Method::GET, "", &p, Some(&sig)),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (request(Method::POST, "", &p, None), StatusCode::FORBIDDEN),
            (
                request(Method::POST, "", &p, Some("nope")),
                StatusCode::FORBIDDEN,
            ),
            (
                request(Method::POST, "?a=1", &p, Some(&sig)),
                StatusCode::FORBIDDEN,
            ),
            (
                request(Method::POST, "", &other, Some(&other_sig)),
                StatusCode::FORBIDDEN,
            ),
            (
                request(Method::POST, "", &p[1..], Some(&sig)),
                StatusCode::FORBIDDEN,
            ),
        ];
        for (i, (req, want)) in cases.into_iter().enumerate() {
            let err = check(&req).await.expect_err("refused");
            assert_eq!(err.status(), want, "case {i}: {err}");
        }
    }

    #[test]
    fn malformed_and_store_failures_map_to_400_and_503() {
        let malformed = WebhookError::from(FormError::Missing { field: "CallSid" });
        assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            malformed.to_string(),
            "malformed webhook: missing form field CallSid"
        );
        let store = WebhookError::from(StoreError::Unavailable("down".into()));
        assert_eq!(store.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
