//! `hotline sms`: a phone texting a hotline number, simulated: signs and posts Twilio's
//! incoming-message webhook to a running stack (or any URL) and prints the answer.

use anyhow::{Context as _, bail};
use clap::Args;
use hotline_core::routes;
use hotline_core::{AccountSid, E164};
use hotline_store::{StoreConfig, Stores};
use hotline_twilio::signature;
use secrecy::ExposeSecret;

#[derive(Args, Debug)]
pub struct SmsArgs {
    /// What the phone texts.
    text: String,
    /// The number texted.
    #[arg(long)]
    to: String,
    /// The phone texting.
    #[arg(long, default_value = "+14155550100")]
    from: String,
    /// The webhook to post to; default `$HOTLINE_PUBLIC_URL/twilio/sms`, else the local
    /// stack's.
    #[arg(long)]
    url: Option<String>,
    /// Send this `MessageSid` (e.g. again, as Twilio's retry would); default a new one.
    #[arg(long)]
    message_sid: Option<String>,
    /// The account whose token signs the request; default the one owning `--to`.
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    account_sid: Option<String>,
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
}

pub async fn run(args: SmsArgs) -> anyhow::Result<()> {
    let to = E164::parse(&args.to)?;
    let from = E164::parse(&args.from)?;
    let (account_sid, auth_token) = credentials(&args, &to).await?;
    let url = match &args.url {
        Some(u) => u.clone(),
        None => format!(
            "{}{}",
            std::env::var("HOTLINE_PUBLIC_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| format!(
                    "http://{}",
                    std::env::var("HOTLINE_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into())
                ))
                .trim_end_matches('/'),
            routes::SMS
        ),
    };
    let sid = match &args.message_sid {
        Some(sid) => hotline_core::MessageSid::parse(sid)?.to_string(),
        None => format!("SM{}", uuid::Uuid::new_v4().simple()),
    };
    let replies = text(
        &url,
        &account_sid,
        &auth_token,
        &from,
        &to,
        &args.text,
        &sid,
    )
    .await?;
    if replies.is_empty() {
        println!("(no reply)");
    }
    for reply in replies {
        println!("{reply}");
    }
    Ok(())
}

/// Posts one incoming text to `url` as Twilio would (signed with `auth_token`) and
/// returns the texts of the TwiML's `<Message>`s.
pub async fn text(
    url: &str,
    account_sid: &AccountSid,
    auth_token: &str,
    from: &E164,
    to: &E164,
    body: &str,
    sid: &str,
) -> anyhow::Result<Vec<String>> {
    let params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", account_sid.as_str()),
        ("From", from.as_str()),
        ("To", to.as_str()),
        ("Body", body),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let signature = signature::compute(auth_token, url, &params);
    let response = reqwest::Client::new()
        .post(url)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .with_context(|| format!("posting to {url}"))?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("{url} answered HTTP {status}: {}", body.trim());
    }
    let twiml = hotline_twilio::twiml_read::parse(&body)
        .with_context(|| format!("{url} answered something that is not TwiML: {body}"))?;
    Ok(twiml
        .all_named("Message")
        .into_iter()
        .map(|m| m.text.clone())
        .collect())
}

/// The signing account: given, or the owner of `to` in the store.
async fn credentials(args: &SmsArgs, to: &E164) -> anyhow::Result<(AccountSid, String)> {
    if let (Some(sid), Some(token)) = (&args.account_sid, &args.auth_token) {
        return Ok((AccountSid::parse(sid)?, token.clone()));
    }
    let stores = Stores::open(&StoreConfig::from_env()?)
        .await
        .context("no credentials given and no store to read them from")?;
    let number = stores
        .directory
        .get_number(to)
        .await?
        .with_context(|| format!("{to} is not a hotline number in this store"))?;
    let org = stores
        .directory
        .get_org(&number.org)
        .await?
        .context("the number's organization is gone")?;
    Ok((
        org.twilio.account_sid,
        org.twilio.auth_token.expose_secret().to_owned(),
    ))
}
