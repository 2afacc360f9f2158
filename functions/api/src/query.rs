//! A request's query string, parsed once; a repeated parameter counts as its first value.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::Request;

use crate::problem::ApiError;

const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 100;

pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn of(req: &Request) -> Self {
        // From the URL itself, which API Gateway and the local gateway both pass on whole.
        Self(
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`: 1 to 100, 25 when absent.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.first("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| ApiError::BadRequest("limit: must be between 1 and 100".into())),
        }
    }

    /// `cursor`, decoded back to what [`encode_cursor`] was given.
    pub fn cursor(&self) -> Result<Option<String>, ApiError> {
        self.first("cursor").map(decode_cursor).transpose()
    }
}

/// An opaque page cursor: callers pass it back, they do not build it.
pub fn encode_cursor(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position)
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API gave out".into());
    if cursor.len() > 300 {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

/// A path parameter as sent: `%2B` (an encoded `+`, as in E.164 numbers) decoded, nothing
/// else, since no id here has other reserved characters.
pub fn path_id(raw: &str) -> String {
    raw.replace("%2B", "+").replace("%2b", "+")
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A JSON object body as `T` (as [`crate::agents::json_body`], and 400 for anything but
/// an object: serde would read a struct from an array too).
pub fn object_body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let value: serde_json::Value = crate::agents::json_body(req)?;
    if !value.is_object() {
        return Err(ApiError::BadRequest("body: must be a JSON object".into()));
    }
    serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("body: {e}")))
}
