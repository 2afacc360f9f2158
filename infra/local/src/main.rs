//! `hotline`: the whole platform on one machine.
//!
//! * `hotline up [--config FILE]`: apply the configuration, then serve every webhook
//!   route, the stream node and the queue consumers on the local store (or AWS with
//!   `HOTLINE_STORE=aws`).
//! * `hotline apply -f FILE [--dry-run]`: make the store hold what a configuration file declares.
//! * `hotline call`: place a simulated call, as Twilio would, against a running stack.
//! * `hotline sms --to N "text"`: text a number, as a phone through Twilio would; prints the reply.
//! * `hotline demo`: start a stack on temporary ports, place one call, print its record.
//! * `hotline calls [show <CallSid>]`: read call records from the store;
//!   `hotline calls active|end <CallSid>`: the live calls, or end one, through the API.
//! * `hotline dial --to N [--agent A] [--var k=v]`: place an outbound call through the API.
//! * `hotline campaign create|import|start|pause|resume|cancel|status|list`: outbound
//!   campaigns through the API.
//! * `hotline tunnel`: a public URL (cloudflared or ngrok) for the local stack's webhooks.
//! * `hotline keys create|list|revoke`: an organization's API keys.
//! * `hotline users add|list`: the people who sign in to an organization.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "AI phone agents on Twilio, on one machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the platform: webhooks on HOTLINE_HTTP_ADDR, media streams on HOTLINE_STREAM_ADDR.
    Up(cli::up::UpArgs),
    /// Apply a configuration file (hotline.yaml) to the store the environment selects.
    Apply(cli::apply::ApplyArgs),
    /// Place a simulated phone call against a running stack.
    Call(cli::call::CallArgs),
    /// Text a number as a phone would (a signed SMS webhook) and print the reply.
    Sms(cli::sms::SmsArgs),
    /// Start a throwaway stack, place one call with a barge-in and a tool call, print it.
    Demo(cli::demo::DemoArgs),
    /// List recent calls, show one, list the live ones or end one.
    Calls(cli::calls::CallsArgs),
    /// Place an outbound call through the API and follow it to its end.
    Dial(cli::dial::DialArgs),
    /// Create, fill, start and watch outbound campaigns through the API.
    Campaign(cli::campaign::CampaignArgs),
    /// Open public tunnels (cloudflared or ngrok) to the local stack and print the URLs.
    Tunnel(cli::tunnel::TunnelArgs),
    /// Create, list and revoke an organization's API keys.
    Keys(cli::keys::KeysArgs),
    /// Add people who sign in (e-mail and password) to an organization, or list them.
    Users(cli::users::UsersArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hotline: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => cli::up::run(args).await,
            Command::Apply(args) => cli::apply::run(args).await,
            Command::Call(args) => cli::call::run(args).await,
            Command::Sms(args) => cli::sms::run(args).await,
            Command::Demo(args) => cli::demo::run(args).await,
            Command::Calls(args) => cli::calls::run(args).await,
            Command::Dial(args) => cli::dial::run(args).await,
            Command::Campaign(args) => cli::campaign::run(args).await,
            Command::Tunnel(args) => cli::tunnel::run(args).await,
            Command::Keys(args) => cli::keys::run(args).await,
            Command::Users(args) => cli::users::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hotline: {e:#}");
            ExitCode::FAILURE
        }
    }
}
