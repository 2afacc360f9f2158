//! A local stand-in for API Gateway's HTTP API: each request becomes a real payload-2.0
//! event, goes through `lambda_http`'s own conversion, and reaches the very handler a
//! Lambda runs; the handler's response goes back the way API Gateway would return it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// A Lambda handler as the gateway calls it.
pub type Handler = Arc<
    dyn Fn(
            lambda_http::Request,
        ) -> Pin<Box<dyn Future<Output = Response<lambda_http::Body>> + Send>>
        + Send
        + Sync,
>;

/// Routes as the template declares them: `METHOD /path` → handler.
#[derive(Clone, Default)]
pub struct Routes {
    routes: BTreeMap<(String, String), Handler>,
    /// What stands in for other AWS services locally (S3's presigned GETs), served beside
    /// the API routes but not one of them: not in [`Routes::keys`], not in the template.
    stand_ins: BTreeMap<(String, String), Handler>,
}

/// API Gateway refuses bodies over 10 MB; Twilio's forms are a few KB.
const MAX_BODY: usize = 10 * 1024 * 1024;

impl Routes {
    pub fn route(mut self, method: &str, path: &str, handler: Handler) -> Self {
        self.routes
            .insert((method.to_owned(), path.to_owned()), handler);
        self
    }

    /// Serves `handler` for something AWS provides outside API Gateway (see `stand_ins`).
    pub fn stand_in(mut self, method: &str, path: &str, handler: Handler) -> Self {
        self.stand_ins
            .insert((method.to_owned(), path.to_owned()), handler);
        self
    }

    /// The handler for `method` on `path`: an exact route first, then one whose
    /// `{param}` segments each stand for one non-empty segment, as API Gateway matches.
    fn find(&self, method: &str, path: &str) -> Option<Handler> {
        if let Some(h) = self.routes.get(&(method.to_owned(), path.to_owned())) {
            return Some(Arc::clone(h));
        }
        self.routes
            .iter()
            .chain(&self.stand_ins)
            .find(|((m, pattern), _)| m == method && matches_template(pattern, path))
            .map(|(_, h)| Arc::clone(h))
    }

    /// `METHOD /path` of every route, for listings and tests.
    pub fn keys(&self) -> Vec<String> {
        self.routes
            .keys()
            .map(|(m, p)| format!("{m} {p}"))
            .collect()
    }
}

/// Whether `path` fits `pattern`, whose `{name}` segments match any one non-empty segment
/// and whose last `{name+}` segment (API Gateway's greedy parameter) matches the rest of
/// the path, one segment or more.
fn matches_template(pattern: &str, path: &str) -> bool {
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some(want), Some(got)) if want.starts_with('{') && want.ends_with("+}") => {
                return p.next().is_none() && !got.is_empty();
            }
            (Some(want), Some(got)) => {
                let param = want.starts_with('{') && want.ends_with('}');
                if !(param && !got.is_empty() || want == got) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Serves `routes` on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, routes: Routes, stop: CancellationToken) {
    let routes = Arc::new(routes);
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let routes = Arc::clone(&routes);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let routes = Arc::clone(&routes);
                async move { Ok::<_, Infallible>(dispatch(&routes, req, peer).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "gateway connection ended with an error");
            }
        });
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp
}

async fn dispatch(
    routes: &Routes,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let Some(handler) = routes.find(req.method().as_str(), req.uri().path()) else {
        return plain(StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}");
    };
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "{\"message\":\"Request Entity Too Large\"}",
            );
        }
    };
    let event = event_json(&parts, &body, peer);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "could not build the Lambda event");
            return plain(StatusCode::BAD_REQUEST, "{\"message\":\"Bad Request\"}");
        }
    };
    into_http(handler(request).await)
}

/// The payload-2.0 event API Gateway would send for this request.
pub fn event_json(
    parts: &hyper::http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
) -> serde_json::Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        // API Gateway joins repeated headers with commas; names arrive lower-cased.
        match headers.get_mut(name.as_str()) {
            Some(serde_json::Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), value.into());
            }
        }
    }
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let now = chrono::Utc::now();
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or("local"),
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get(hyper::header::USER_AGENT).and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": BASE64.encode(body),
        "isBase64Encoded": true,
    })
}

fn into_http(resp: Response<lambda_http::Body>) -> Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(t) => Bytes::from(t),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    Response::from_parts(parts, Full::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::matches_template;

    #[test]
    fn path_parameters_match_one_segment() {
        assert!(matches_template(
            "/api/v1/agents/{id}",
            "/api/v1/agents/front-desk"
        ));
        assert!(matches_template("/twilio/voice", "/twilio/voice"));
        for path in [
            "/api/v1/agents",
            "/api/v1/agents/",
            "/api/v1/agents/a/b",
            "/api/v2/agents/a",
        ] {
            assert!(!matches_template("/api/v1/agents/{id}", path), "{path}");
        }
    }

    #[test]
    fn a_greedy_parameter_matches_the_rest_of_the_path() {
        for path in [
            "/console/calls",
            "/console/calls/CA1/todos",
            "/console/static/a.css",
        ] {
            assert!(matches_template("/console/{proxy+}", path), "{path}");
        }
        for path in ["/console", "/console/", "/consoles/x", "/api/console/x"] {
            assert!(!matches_template("/console/{proxy+}", path), "{path}");
        }
    }
}
