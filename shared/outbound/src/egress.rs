//! Where a webhook (a call report, a webhook tool) may go. The URL is a tenant's
//! setting, so without a check any tenant could make the post-call worker or the stream
//! node POST into the network it runs in (cloud metadata, internal services). In
//! production a webhook must be `https` to a host whose every address is public, and the
//! request is pinned to the addresses checked, so a DNS answer that changes between check
//! and connect (rebinding) cannot slip past.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::Url;

/// A checked destination: the URL and the addresses to connect to.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

/// Checks `raw` and resolves its host. `allow_private` (local runs only) also admits
/// `http` and loopback or private addresses.
pub async fn check(raw: &str, allow_private: bool) -> Result<Target, String> {
    let url = Url::parse(raw).map_err(|e| format!("the webhook URL is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        other => return Err(format!("the webhook URL must be https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the webhook URL must not carry credentials".into());
    }
    let host = url
        .host_str()
        .ok_or("the webhook URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or("the webhook URL has no port")?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("the webhook host does not resolve ({e})"))?
        .collect();
    if addrs.is_empty() {
        return Err("the webhook host does not resolve".into());
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "the webhook host resolves to a non-public address ({})",
            bad.ip()
        ));
    }
    Ok(Target { url, host, addrs })
}

/// A client that reaches `target` at the addresses checked and nowhere else: no
/// redirects (a webhook goes where it was configured to go), no other resolution, and no
/// proxy from the environment (a proxy would connect wherever the host name leads it,
/// past the addresses checked). `timeout` bounds the whole request, connect included.
pub fn client_for(target: &Target, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(&target.host, &target.addrs)
        .build()
}

/// Whether `ip` is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // IETF protocol assignments 192.0.0.0/24 (incl. NAT64 discovery, DS-Lite).
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        // Carrier-grade NAT, benchmarking, reserved.
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // IPv4-compatible ::/96: an IPv4 address in disguise, whichever it is.
        || s[..6] == [0; 6]
        // NAT64 64:ff9b::/96 and 6to4 2002::/16 reach IPv4 hosts (private ones too)
        // through a translator; Teredo 2001::/32 tunnels through NAT.
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
        || first == 0x2002
        || (first == 0x2001 && s[1] == 0)
        // Unique local fc00::/7, link-local fe80::/10, documentation 2001:db8::/32.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && s[1] == 0x0db8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::a9fe:a9fe",
            "::10.0.0.1",
            "::8.8.8.8",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::808:808",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "192.0.0.1",
            "192.0.0.170",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip} taken for public");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2001:4860:4860::8888",
            "192.0.1.1",
        ] {
            assert!(is_public(ip.parse().expect("ip")), "{ip} taken for private");
        }
    }

    #[tokio::test]
    async fn production_refuses_plain_http_credentials_and_internal_hosts() {
        for (url, why) in [
            ("http://hooks.example.com/x", "must be https"),
            ("https://user:pw@hooks.example.com/x", "credentials"),
            ("https://127.0.0.1:8443/x", "non-public address (127.0.0.1)"),
            ("https://[::1]/x", "non-public address (::1)"),
            ("https://169.254.169.254/latest/meta-data", "non-public"),
            ("https://localhost/x", "non-public"),
            ("ftp://example.com/x", "must be https"),
            ("not a url", "not a URL"),
        ] {
            let err = check(url, false).await.expect_err(url);
            assert!(err.contains(why), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn local_runs_may_post_to_loopback() {
        let target = check("http://127.0.0.1:9/hooks", true)
            .await
            .expect("allowed");
        assert_eq!(target.host, "127.0.0.1");
        assert_eq!(target.addrs, ["127.0.0.1:9".parse().expect("addr")]);
    }
}
