//! The HTTP side of the node: `/healthz`, the signed WebSocket upgrade on
//! `/twilio/stream`, a bound on concurrent calls, and draining on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use hotline_core::ports::{Calls, Directory, StreamNodes};
use hotline_core::routes::PREWARM;
use hotline_outbound::signing::SIGNATURE_HEADER;

use crate::auth::UpgradeAuth;
use crate::call::prewarm::{self, Refused};
use crate::call::{CallContext, run_call};
use crate::config::{NodeConfig, STREAM_PATH};
use crate::heartbeat::{Heartbeat, NodeGauge};
use crate::live_metric::{self, LiveMetric};

/// Frames on this socket are 20 ms of audio (~300 bytes of JSON), and outbound chunks
/// rarely pass a few KiB: small buffers keep a call's memory in kilobytes. tungstenite
/// zero-fills its whole read buffer before each read, so its default (128 KiB) would
/// also cost CPU on every frame. The 8 KiB write buffer lets a `media` frame and its
/// `mark` leave in one write (every send path flushes explicitly): a third fewer
/// syscalls per call than writing each frame through (measured by the load bench).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

/// How long calls get to finish (apologise, close both sockets, write their outcome)
/// once the drain deadline has told them to end.
pub const FINISH_GRACE: Duration = Duration::from_secs(15);

/// State shared by every connection.
struct Shared {
    config: NodeConfig,
    auth: UpgradeAuth,
    calls: CallContext,
    /// One permit per live call: the bound on concurrency.
    permits: Arc<Semaphore>,
    /// Set on shutdown: health checks fail and upgrades are refused, live calls go on.
    draining: AtomicBool,
    /// Every call task, so shutdown can wait for them.
    tracker: TaskTracker,
}

impl NodeGauge for Shared {
    fn live_calls(&self) -> u32 {
        let live = self
            .config
            .max_calls
            .saturating_sub(self.permits.available_permits());
        u32::try_from(live).unwrap_or(u32::MAX)
    }

    fn capacity(&self) -> u32 {
        u32::try_from(self.config.max_calls).unwrap_or(u32::MAX)
    }

    fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

pub struct StreamNode {
    listener: TcpListener,
    shared: Arc<Shared>,
    heartbeat: Option<Arc<Heartbeat>>,
}

impl StreamNode {
    pub async fn bind(
        config: NodeConfig,
        directory: Arc<dyn Directory>,
        calls: Arc<dyn Calls>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.addr).await?;
        Ok(Self::from_listener(listener, config, directory, calls))
    }

    /// Serves on an already bound listener (its address may be needed before the
    /// config can be written, as for port 0).
    pub fn from_listener(
        listener: TcpListener,
        config: NodeConfig,
        directory: Arc<dyn Directory>,
        calls: Arc<dyn Calls>,
    ) -> Self {
        let calls = CallContext::new(&config, directory, calls);
        let auth = UpgradeAuth::new(calls.directory.clone(), config.stream_urls());
        Self {
            listener,
            heartbeat: None,
            shared: Arc::new(Shared {
                permits: Arc::new(Semaphore::new(config.max_calls)),
                config,
                auth,
                calls,
                draining: AtomicBool::new(false),
                tracker: TaskTracker::new(),
            }),
        }
    }

    /// Reports this node in `registry` while it serves, when it has its own URL
    /// (`HOTLINE_NODE_PUBLIC_URL`); without one there is nothing to route to.
    #[must_use]
    pub fn with_registry(mut self, registry: Arc<dyn StreamNodes>) -> Self {
        self.heartbeat = self.shared.config.node_url.clone().map(|url| {
            Arc::new(Heartbeat {
                registry,
                id: uuid::Uuid::new_v4().simple().to_string(),
                url,
                period: self.shared.config.heartbeat,
            })
        });
        self
    }

    /// Calls start knowing the caller's earlier calls and texts, read from these stores.
    #[must_use]
    pub fn with_memory(mut self, memory: crate::memory::Memory) -> Self {
        // Only ever called before serving, while this is the one reference.
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.calls.memory = Some(memory);
        }
        self
    }

    /// The `opt_out` tool writes to these stores.
    #[must_use]
    pub fn with_opt_out(mut self, ports: crate::opt_out_tool::OptOutPorts) -> Self {
        // Only ever called before serving, while this is the one reference.
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.calls.opt_out = Some(ports);
        }
        self
    }

    /// Cancelling it ends every live call now (each finishes with `Shutdown`), as the
    /// drain deadline does.
    pub fn calls_shutdown(&self) -> CancellationToken {
        self.shared.calls.shutdown.clone()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains: health checks answer 503, new
    /// streams are refused, live calls go on for up to the drain deadline and are then
    /// told to finish, each closing both its sockets and its call record.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            shared,
            heartbeat,
        } = self;
        let stop_accepting = CancellationToken::new();
        let acceptor = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            stop_accepting.clone(),
        ));
        let beating = heartbeat.clone().map(|beat| {
            let gauge: Arc<dyn NodeGauge> = shared.clone();
            tokio::spawn(beat.run(gauge, stop_accepting.clone()))
        });
        let publishing = shared.config.metrics_service.clone().map(|service| {
            let gauge: Arc<dyn NodeGauge> = shared.clone();
            let metric = LiveMetric {
                service,
                period: live_metric::PERIOD,
            };
            tokio::spawn(metric.run(gauge, stop_accepting.clone()))
        });
        shutdown.await;
        shared.draining.store(true, Ordering::SeqCst);
        if let Some(beat) = &heartbeat {
            beat.report(shared.as_ref()).await;
        }
        shared.tracker.close();
        let live = shared.tracker.len();
        info!(
            live_calls = live,
            deadline_secs = shared.config.drain.as_secs(),
            "draining"
        );
        if tokio::time::timeout(shared.config.drain, shared.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                live_calls = shared.tracker.len(),
                "drain deadline reached; ending live calls"
            );
            shared.calls.shutdown.cancel();
            if tokio::time::timeout(FINISH_GRACE, shared.tracker.wait())
                .await
                .is_err()
            {
                warn!(
                    live_calls = shared.tracker.len(),
                    "calls did not finish after shutdown"
                );
            }
        }
        stop_accepting.cancel();
        if let Err(e) = acceptor.await {
            warn!(error = %e, "accept loop failed");
        }
        if let Some(beating) = beating
            && let Err(e) = beating.await
        {
            warn!(error = %e, "heartbeat failed");
        }
        if let Some(publishing) = publishing
            && let Err(e) = publishing.await
        {
            warn!(error = %e, "publishing the live-calls metric failed");
        }
        if let Some(beat) = &heartbeat {
            beat.report(shared.as_ref()).await;
        }
        info!("stream node stopped");
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Audio frames are small and latency-bound: never wait to coalesce them.
        if let Err(e) = stream.set_nodelay(true) {
            warn!(error = %e, "TCP_NODELAY");
        }
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| route(Arc::clone(&shared), req));
            let conn = http1::Builder::new()
                .max_buf_size(64 * 1024)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// The body of every 403, as the webhooks answer it.
const FORBIDDEN: &str = "Forbidden\n";

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp
}

async fn route(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => {
            if shared.draining.load(Ordering::SeqCst) {
                text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
            } else {
                text(StatusCode::OK, "ok\n")
            }
        }
        (&Method::GET, STREAM_PATH) => upgrade(&shared, req).await,
        (&Method::POST, PREWARM) => prewarm(&shared, req).await,
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    })
}

/// `POST /internal/prewarm`: opens a call's AI session before its stream starts; the
/// session closes unused after `HOTLINE_PREWARM_UNUSED_SECS`.
async fn prewarm(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if shared.draining.load(Ordering::SeqCst) {
        return text(StatusCode::SERVICE_UNAVAILABLE, "draining\n");
    }
    let signature = header(&req, SIGNATURE_HEADER).map(str::to_owned);
    let body = match Limited::new(req.into_body(), prewarm::MAX_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "too large\n"),
    };
    let prewarmed = &shared.calls.prewarmed;
    let unused_after = shared.config.prewarm_unused_after;
    let limit = shared.permits.available_permits();
    match prewarmed
        .accept(&shared.calls, signature.as_deref(), &body, limit)
        .await
    {
        Ok(Some(sid)) => {
            let prewarmed = Arc::clone(prewarmed);
            tokio::spawn(async move {
                tokio::time::sleep(unused_after).await;
                prewarmed.expire(&sid);
            });
            text(StatusCode::ACCEPTED, "opening\n")
        }
        Ok(None) => text(StatusCode::NO_CONTENT, ""),
        Err(refused) => {
            info!(reason = %refused, "pre-warm refused");
            match refused {
                Refused::Malformed => text(StatusCode::BAD_REQUEST, "malformed\n"),
                Refused::Forbidden => text(StatusCode::FORBIDDEN, FORBIDDEN),
                Refused::CallOver => text(StatusCode::CONFLICT, "call over\n"),
                Refused::Full => text(StatusCode::SERVICE_UNAVAILABLE, "at capacity\n"),
                Refused::Store => text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n"),
            }
        }
    }
}

fn header(req: &Request<Incoming>, name: impl hyper::header::AsHeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Checks the upgrade and hands the socket to a new call task.
async fn upgrade(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let is_websocket = header(&req, UPGRADE).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && header(&req, CONNECTION).is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
        && header(&req, "sec-websocket-version") == Some("13");
    let Some(key) = header(&req, SEC_WEBSOCKET_KEY).filter(|_| is_websocket) else {
        return text(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade\n");
    };
    if shared.draining.load(Ordering::SeqCst) {
        return text(StatusCode::SERVICE_UNAVAILABLE, "draining\n");
    }
    let Ok(permit) = Arc::clone(&shared.permits).try_acquire_owned() else {
        warn!(
            max_calls = shared.config.max_calls,
            "refusing a stream: at capacity"
        );
        return text(StatusCode::SERVICE_UNAVAILABLE, "at capacity\n");
    };
    // One answer for every refusal: the log says why, the prober learns nothing.
    let Some(sig) = header(&req, "x-twilio-signature") else {
        info!("refusing a stream: unsigned upgrade");
        return text(StatusCode::FORBIDDEN, FORBIDDEN);
    };
    let org = match shared.auth.verify(sig).await {
        Ok(Some(org)) => org,
        Ok(None) => {
            info!(url = shared.auth.url(), "refusing a stream: bad signature");
            return text(StatusCode::FORBIDDEN, FORBIDDEN);
        }
        Err(e) => {
            warn!(error = %e, "cannot check stream signatures");
            return text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n");
        }
    };
    let accept = derive_accept_key(key.as_bytes());
    let shared = Arc::clone(shared);
    let tracker = shared.tracker.clone();
    tracker.spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => {
                info!(error = %e, "stream upgrade did not complete");
                return;
            }
        };
        let ws = WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(ws_config()),
        )
        .await;
        Box::pin(run_call(&shared.calls, ws, org)).await;
        drop(permit);
    });
    let mut resp = text(StatusCode::SWITCHING_PROTOCOLS, "");
    let headers = resp.headers_mut();
    headers.insert(
        UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}
