//! `/console`: the web console, server-rendered HTML for people signed in with the API's
//! sessions. A client of the API and nothing more: every read and write goes through the
//! API's own handlers in process (the same authentication, CSRF check, role check,
//! validation and audit entry as a JSON caller gets), with the browser's cookie, origin
//! and the form's CSRF token passed on. The few settings the JSON API has no route for
//! (a number's calls and texts switches) use the same ports, after the same checks.
//!
//! Forms post `application/x-www-form-urlencoded` and answer with a redirect (303) or the
//! page again with the errors next to their fields; a little script adds copy buttons.

mod api;
mod calls;
mod html;
mod numbers;
mod pages;
mod people;
mod settings;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use maud::Markup;

use crate::Deps;
use api::Ctx;

/// The routes API Gateway sends here (`{proxy+}`: any path below `/console`). Declared
/// in the crate's Cargo.toml and the template with the API's own routes.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/console"),
    ("POST", "/console"),
    ("GET", "/console/{proxy+}"),
    ("POST", "/console/{proxy+}"),
];

/// Where the console lives.
pub const PREFIX: &str = "/console";

const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");

/// Whether `path` is the console's.
pub fn is_console(path: &str) -> bool {
    path == PREFIX || path.starts_with("/console/")
}

/// Why a page is not the one asked for.
#[derive(Debug)]
pub(crate) enum Fail {
    /// No live session: to the sign-in page, then back here.
    SignIn,
    /// Nothing of the caller's organization has this address.
    NotFound,
    /// The API refused or failed; the detail is for people.
    Problem(StatusCode, String),
}

/// What a page handler answers.
pub(crate) type Page = Result<Response<Body>, Fail>;

/// Serves one console request; never panics on any input.
pub async fn handle(deps: &Deps, req: Request, path: &str) -> Response<Body> {
    let ctx = Ctx::new(deps, &req, path);
    let result = route(&ctx, &req, path).await;
    match result {
        Ok(resp) => resp,
        Err(Fail::SignIn) => {
            let next = if req.method() == Method::GET {
                let q = req
                    .uri()
                    .query()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                format!("{path}{q}")
            } else {
                format!("{PREFIX}/calls")
            };
            redirect(&format!(
                "{PREFIX}/sign-in?next={}",
                form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            ))
        }
        Err(Fail::NotFound) => page_response(
            StatusCode::NOT_FOUND,
            html::message_page(
                ctx.session_opt(),
                "Not found",
                "There is nothing here, or it belongs to another organization.",
            ),
        ),
        Err(Fail::Problem(status, detail)) => page_response(
            status,
            html::message_page(
                ctx.session_opt(),
                status.canonical_reason().unwrap_or("Error"),
                &detail,
            ),
        ),
    }
}

async fn route(ctx: &Ctx<'_>, req: &Request, path: &str) -> Page {
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    let decoded: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let get = *req.method() == Method::GET || *req.method() == Method::HEAD;
    let post = *req.method() == Method::POST;
    if !get && !post {
        return Err(Fail::Problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "The console answers GET and POST only.".into(),
        ));
    }
    match (get, segments.as_slice()) {
        (true, ["static", "console.css"]) => Ok(asset(CSS, "text/css; charset=utf-8")),
        (true, ["static", "console.js"]) => Ok(asset(JS, "text/javascript; charset=utf-8")),
        (true, ["sign-in"]) => pages::sign_in_form(ctx, req).await,
        (false, ["sign-in"]) => pages::sign_in(ctx, req).await,
        (false, ["sign-out"]) => pages::sign_out(ctx, req).await,
        (true, ["invitations", "accept"]) => pages::accept_form(ctx, req).await,
        (false, ["invitations", "accept"]) => pages::accept(ctx, req).await,
        _ => {
            // Everything else needs a person signed in.
            let ctx = ctx.signed_in().await?;
            let ctx = &ctx;
            match (get, segments.as_slice()) {
                (true, []) => Ok(redirect(&format!("{PREFIX}/calls"))),
                (true, ["password"]) => pages::password_form(ctx, req).await,
                (false, ["password"]) => pages::password(ctx, req).await,
                (true, ["calls"]) => calls::list(ctx, req).await,
                (true, ["calls", sid]) => calls::one(ctx, sid, req).await,
                (false, ["todos", id, "complete"]) => people::complete_todo(ctx, id, req).await,
                (false, ["todos", id, "assign"]) => people::assign_todo(ctx, id, req).await,
                (true, ["todos"]) => people::todos(ctx, req).await,
                (true, ["contacts"]) => people::contacts(ctx, req).await,
                (true, ["agents"]) => pages::agents(ctx).await,
                (true, ["agents", id]) => pages::agent_form(ctx, id, req).await,
                (false, ["agents", id]) => pages::save_agent(ctx, id, req).await,
                (true, ["numbers"]) => numbers::page(ctx, req).await,
                (false, ["numbers", "buy"]) => numbers::buy(ctx, req).await,
                (false, ["numbers", "test-sms"]) => numbers::test_sms(ctx, req).await,
                (false, ["numbers", number]) => numbers::update(ctx, number, req).await,
                (true, ["settings"]) => settings::page(ctx, req).await,
                (false, ["settings", "reports"]) => settings::reports(ctx, req).await,
                (false, ["settings", "webhook"]) => settings::webhook(ctx, req).await,
                (false, ["settings", "keys"]) => settings::create_key(ctx, req).await,
                (false, ["settings", "keys", id, "revoke"]) => {
                    settings::revoke_key(ctx, id, req).await
                }
                (false, ["settings", "invitations"]) => settings::invite(ctx, req).await,
                (false, ["settings", "users", id, "role"]) => {
                    settings::set_role(ctx, id, req).await
                }
                _ => Err(Fail::NotFound),
            }
        }
    }
}

/// A path segment with its `%XX` escapes decoded (`+` stays `+`: it is a path, not a
/// form). Invalid escapes or UTF-8 are kept as they came; the pages parse ids strictly.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| segment.to_owned())
}

fn asset(text: &'static str, content_type: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::Text(text.to_owned()));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// A 303 to `to` (a path under the console, never a caller-chosen host).
pub(crate) fn redirect(to: &str) -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An HTML page with the headers every console page carries.
pub(crate) fn page_response(status: StatusCode, markup: Markup) -> Response<Body> {
    let mut resp = Response::new(Body::Text(markup.into_string()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; media-src 'self' https: http:; img-src 'self' data:; \
             style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; \
             base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// A page answered 200, as a [`Page`] like every page handler's answer.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn ok(markup: Markup) -> Page {
    Ok(page_response(StatusCode::OK, markup))
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn path_segments_are_percent_decoded_and_plus_is_kept() {
        assert_eq!(percent_decode("%2B15550100000"), "+15550100000");
        assert_eq!(percent_decode("+1555"), "+1555");
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("bad%zz%"), "bad%zz%");
        assert_eq!(percent_decode("%ff"), "%ff");
    }
}
