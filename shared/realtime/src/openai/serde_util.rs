//! Small serde helpers for the shapes the Realtime API uses.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

/// For `Option<Option<T>>` fields with `#[serde(default)]`: absent stays `None` ("leave
/// unchanged"), `null` becomes `Some(None)` ("turn off"), a value becomes `Some(Some(v))`.
/// Serializing with `skip_serializing_if = "Option::is_none"` writes the same three states.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// For collection fields with `#[serde(default)]`: `null` reads as empty, like absent.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// `skip_serializing_if` for borrowed text that defaults to empty.
#[expect(clippy::ptr_arg, reason = "serde passes the field by reference")]
pub(crate) fn is_empty(s: &Cow<'_, str>) -> bool {
    s.is_empty()
}
