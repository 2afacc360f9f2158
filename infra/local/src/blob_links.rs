//! The local stand-in for S3 presigned GETs: the API hands out links signed with the data
//! directory's secret, and this serves the blob to whoever presents one that is unexpired
//! and unaltered. Anything else is 403, as S3 answers.

use std::sync::Arc;

use hotline_core::ports::Blobs;
use hotline_store::local::{LINK_PATH, SignedLinks};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use tracing::{error, warn};

use crate::gateway::{Handler, Routes};

/// `routes` with the links' path served from `blobs`.
pub fn serve_links(routes: Routes, links: SignedLinks, blobs: Arc<dyn Blobs>) -> Routes {
    let links = Arc::new(links);
    let handler: Handler = Arc::new(move |req| {
        let links = Arc::clone(&links);
        let blobs = Arc::clone(&blobs);
        Box::pin(async move { answer(&links, blobs.as_ref(), &req).await })
    });
    routes.stand_in("GET", LINK_PATH, handler)
}

async fn answer(
    links: &SignedLinks,
    blobs: &dyn Blobs,
    req: &lambda_http::Request,
) -> Response<Body> {
    let uri = req.uri();
    let key = match links.check(uri.path(), uri.query().unwrap_or(""), chrono::Utc::now()) {
        Ok(key) => key,
        Err(why) => {
            warn!(reason = %why, "blob link refused");
            return text(StatusCode::FORBIDDEN, why.to_string());
        }
    };
    match blobs.get_blob(&key).await {
        Ok(Some(blob)) => {
            let mut resp = Response::new(Body::Binary(blob.bytes));
            if let Ok(v) = HeaderValue::from_str(&blob.content_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            resp
        }
        Ok(None) => text(StatusCode::NOT_FOUND, "no such blob".into()),
        Err(e) => {
            error!(error = %e, "blob link: store unavailable");
            text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable".into())
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}
