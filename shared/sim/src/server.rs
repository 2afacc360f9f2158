//! What the stand-in servers are built from: a free loopback port, an accept loop that
//! owns every connection task (so stopping the server ends them all), HTTP/1 through
//! hyper for the REST fakes, and the state a fake shares with its connections, with a
//! count of changes that tests wait on.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A server on a free loopback port. It stops, with every connection, when dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    /// The accept loop; it owns the connection tasks, so aborting it ends them all.
    accept: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Server {
    /// Serves each connection with a task of its own running `connection`.
    pub(crate) async fn start<C, F>(mut connection: C) -> std::io::Result<Self>
    where
        C: FnMut(TcpStream) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            // Owned here so that aborting this task drops the set, which aborts every
            // connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of file descriptors or similar: let it pass, don't spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                while connections.try_join_next().is_some() {}
                connections.spawn(connection(stream));
            }
        });
        Ok(Self { addr, accept })
    }

    /// Serves HTTP/1, every request answered by `handle` with `state`.
    pub(crate) async fn http<S, H, F>(state: Arc<S>, handle: H) -> std::io::Result<Self>
    where
        S: Send + Sync + 'static,
        H: Fn(Arc<S>, Request<Incoming>) -> F + Copy + Send + Sync + 'static,
        F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        Self::start(move |stream| {
            let state = Arc::clone(&state);
            async move {
                let service = service_fn(move |request| {
                    let response = handle(Arc::clone(&state), request);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                // A client that hangs up mid-request is no concern of a stand-in's.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        })
        .await
    }

    /// Serves HTTP/1 with bodies that may stream (a chunked response written while it is
    /// generated, as a model or a speech synthesizer answers).
    pub(crate) async fn http_streaming<S, H, F>(state: Arc<S>, handle: H) -> std::io::Result<Self>
    where
        S: Send + Sync + 'static,
        H: Fn(Arc<S>, Request<Incoming>) -> F + Copy + Send + Sync + 'static,
        F: Future<Output = Response<StreamingBody>> + Send + 'static,
    {
        Self::start(move |stream| {
            let state = Arc::clone(&state);
            async move {
                let service = service_fn(move |request| {
                    let response = handle(Arc::clone(&state), request);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                // Upgrades too: a vendor may serve a WebSocket on the same port.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            }
        })
        .await
    }

    /// `127.0.0.1:{port}`.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A response body that is whole or streamed; an error item breaks the connection off
/// mid-body (a dropped upstream, as the client sees it).
pub(crate) type StreamingBody = BoxBody<Bytes, std::io::Error>;

/// A whole body.
pub(crate) fn whole(bytes: impl Into<Bytes>) -> StreamingBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A body written through the sender while the client reads it; the sender's `send`
/// fails once the client has gone.
pub(crate) fn channel_body() -> (
    tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    StreamingBody,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|item: Result<Bytes, std::io::Error>| (item.map(hyper::body::Frame::data), rx))
    });
    (tx, http_body_util::StreamBody::new(stream).boxed())
}

/// A request's whole body; empty when the client broke it off.
pub(crate) async fn body(request: Request<Incoming>) -> Bytes {
    request
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default()
}

/// A count of the changes to what a server records: waits wake on each.
pub(crate) struct Changes(watch::Sender<u64>);

impl Changes {
    pub(crate) fn new() -> Self {
        Self(watch::channel(0).0)
    }

    /// Wakes every wait: call after each change.
    pub(crate) fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether anybody is waiting right now.
    pub(crate) fn awaited(&self) -> bool {
        self.0.receiver_count() > 0
    }

    /// What `find` finds now, or else after some later change within `timeout`; `None`
    /// when it found nothing by then. Looking at what is already there too means a test
    /// can never miss a change made before it started waiting.
    pub(crate) async fn wait_until<T>(
        &self,
        mut find: impl FnMut() -> Option<T>,
        timeout: Duration,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = self.0.subscribe();
        loop {
            // Mark the count seen before looking, so a change made after the look still
            // wakes the wait below.
            seen.borrow_and_update();
            let found = find();
            if found.is_some() {
                return found;
            }
            match tokio::time::timeout_at(deadline, seen.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }
}

/// A fake's state, shared by its handle and its connections.
pub(crate) struct Shared<S> {
    state: Mutex<S>,
    changes: Changes,
}

impl<S> Shared<S> {
    pub(crate) fn new(state: S) -> Self {
        Self {
            state: Mutex::new(state),
            changes: Changes::new(),
        }
    }

    /// The state; a test that panicked while holding it leaves it usable for the rest.
    pub(crate) fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every wait: call after recording a request, with the state unlocked.
    pub(crate) fn notify(&self) {
        self.changes.notify();
    }

    /// What `find` finds in the state now, or else after some later change within
    /// `timeout` (see [`Changes::wait_until`]).
    pub(crate) async fn wait_until<T>(
        &self,
        find: impl Fn(&S) -> Option<T>,
        timeout: Duration,
    ) -> Option<T> {
        self.changes
            .wait_until(|| find(&self.lock()), timeout)
            .await
    }
}

/// The first value of a query parameter, from a parsed query.
pub(crate) fn query_param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
