//! `hotline tunnel`: public HTTPS URLs for the local stack, from `cloudflared` (quick
//! tunnels) or `ngrok`, whichever is installed: one for the webhooks, one for the media
//! streams. Prints the settings `hotline up` needs and the URLs to paste into Twilio, and
//! keeps them in `{data dir}/tunnel.env`; the tunnels live until Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use hotline_core::routes;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What to say when neither tool is there.
pub const NONE_INSTALLED: &str = "neither cloudflared nor ngrok is installed (or on PATH). Install one \
(https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/ or \
https://ngrok.com/download), or expose the webhooks (HOTLINE_HTTP_ADDR, default 127.0.0.1:3000) and \
the media streams (HOTLINE_STREAM_ADDR, default 127.0.0.1:3001) over HTTPS yourself and set \
HOTLINE_PUBLIC_URL and HOTLINE_STREAM_PUBLIC_URL to them";

#[derive(Args, Debug)]
pub struct TunnelArgs {
    /// Which tool to use; default the first installed of cloudflared, ngrok.
    #[arg(long, value_parser = ["cloudflared", "ngrok"])]
    tool: Option<String>,
}

/// The first executable named `name` on `path` (a PATH value).
pub fn find_on_path(name: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// The public `https://` URL a tool prints in `line`, if it does.
pub fn public_url(tool: &str, line: &str) -> Option<String> {
    let start = line.find("https://")?;
    let url: String = line[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '|' | '\''))
        .collect();
    let host = url.trim_start_matches("https://");
    let ok = match tool {
        "cloudflared" => host.ends_with(".trycloudflare.com"),
        _ => host.contains("ngrok"),
    };
    ok.then_some(url)
}

fn addr(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Starts `tool` for `local` and waits for the public URL it prints.
async fn open(tool: &Path, name: &str, local: &str) -> anyhow::Result<(Child, String)> {
    let mut cmd = Command::new(tool);
    match name {
        "cloudflared" => cmd.args([
            "tunnel",
            "--no-autoupdate",
            "--url",
            &format!("http://{local}"),
        ]),
        _ => cmd.args(["http", local, "--log", "stdout", "--log-format", "logfmt"]),
    };
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", tool.display()))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(64);
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = rx.recv().await {
            if let Some(url) = public_url(name, &line) {
                return Some(url);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(url)) => {
            // Keep draining so the tool never blocks on a full pipe.
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
            Ok((child, url))
        }
        Ok(None) => bail!("{name} exited without printing a public URL for {local}"),
        Err(_) => bail!("{name} printed no public URL for {local} within 30 s"),
    }
}

pub async fn run(args: TunnelArgs) -> anyhow::Result<()> {
    let path = std::env::var_os("PATH");
    let candidates: Vec<&str> = match &args.tool {
        Some(t) => vec![t.as_str()],
        None => vec!["cloudflared", "ngrok"],
    };
    let Some((name, tool)) = candidates
        .iter()
        .find_map(|n| find_on_path(n, path.as_deref()).map(|p| (*n, p)))
    else {
        bail!("{NONE_INSTALLED}");
    };
    let http = addr("HOTLINE_HTTP_ADDR", "127.0.0.1:3000");
    let stream = addr("HOTLINE_STREAM_ADDR", "127.0.0.1:3001");
    println!("hotline tunnel: starting {name} for {http} (webhooks) and {stream} (media streams)…");
    let (_web_child, web) = open(&tool, name, &http).await?;
    let (_stream_child, stream_url) = open(&tool, name, &stream).await?;
    let wss = stream_url.replacen("https://", "wss://", 1);
    let env = format!("HOTLINE_PUBLIC_URL={web}\nHOTLINE_STREAM_PUBLIC_URL={wss}\n");
    let dir: PathBuf = std::env::var("HOTLINE_DATA_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| ".hotline".into())
        .into();
    let file = dir.join("tunnel.env");
    if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(&file, &env).is_ok() {
        println!("\nSettings (also in {}):", file.display());
    } else {
        println!("\nSettings:");
    }
    print!("{env}");
    println!("\nStart (or restart) the stack with them, so signatures are checked against them:");
    println!("  set -a; . {}; set +a; hotline up", file.display());
    println!("\nPaste into the Twilio console (Phone Numbers → your number → Voice):");
    println!(
        "  A call comes in:        {web}{}   (HTTP POST)",
        routes::VOICE
    );
    println!(
        "  Primary handler fails:  {web}{}   (HTTP POST)",
        routes::FALLBACK
    );
    println!(
        "  Call status changes:    {web}{}   (HTTP POST)",
        routes::STATUS
    );
    println!(
        "  A message comes in:     {web}{}   (HTTP POST)",
        routes::SMS
    );
    println!(
        "Outbound calls (hotline dial) set their own webhooks; streams go to {wss}{}",
        routes::STREAM
    );
    println!("\nThe tunnels stay open until Ctrl-C.");
    hotline_stream_node::shutdown_signal().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_read_from_each_tools_output() {
        let line = "2026-12-06T09:00:00Z INF |  https://quiet-lake-1234.trycloudflare.com                |";
        assert_eq!(
            public_url("cloudflared", line).as_deref(),
            Some("https://quiet-lake-1234.trycloudflare.com")
        );
        assert_eq!(
            public_url("cloudflared", "see https://www.cloudflare.com/terms"),
            None
        );
        let line = r#"t=2026 lvl=info msg="started tunnel" obj=tunnels name=command_line addr=http://127.0.0.1:3000 url=https://ab12.ngrok-free.app"#;
        assert_eq!(
            public_url("ngrok", line).as_deref(),
            Some("https://ab12.ngrok-free.app")
        );
    }

    #[test]
    fn tools_are_found_only_when_executable_on_the_path() {
        let dir = std::env::temp_dir().join(format!("hotline-tunnel-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let tool = dir.join("cloudflared");
        std::fs::write(&tool, "#!/bin/sh\n").expect("write");
        let path = std::env::join_paths([&dir]).expect("path");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                find_on_path("cloudflared", Some(&path)),
                None,
                "not executable"
            );
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        assert_eq!(find_on_path("cloudflared", Some(&path)), Some(tool));
        assert_eq!(find_on_path("ngrok", Some(&path)), None);
        assert_eq!(find_on_path("ngrok", None), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
