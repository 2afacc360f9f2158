//! The page around every page, and the pieces forms are made of: every control has a
//! label, and an error sits next to its field (`aria-describedby`, `aria-invalid`).

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, html};

use super::PREFIX;
use super::api::Session;

/// A form's errors: by field name, and `""` for the form as a whole.
#[derive(Debug, Default)]
pub struct Errors(pub BTreeMap<String, String>);

impl Errors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An API problem's detail, put next to the field it names (`field: why`), else on
    /// the form; `fields` are the form's field names.
    pub fn from_problem(detail: &str, fields: &[&str]) -> Self {
        let mut errors = Self::default();
        let named = detail.split_once(':').and_then(|(head, _)| {
            let head = head.trim();
            fields
                .iter()
                .find(|f| head == **f || head.ends_with(&format!(".{f}")))
        });
        match named {
            Some(field) => errors.add(field, detail),
            None => errors.add("", detail),
        }
        errors
    }
}

const NAV: &[(&str, &str)] = &[
    ("calls", "Calls"),
    ("agents", "Agents"),
    ("numbers", "Numbers"),
    ("contacts", "Contacts"),
    ("todos", "To-dos"),
    ("settings", "Settings"),
];

/// The whole page: head, navigation (when signed in), `body`.
pub fn layout(session: Option<&Session>, current: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hotline" }
                link rel="stylesheet" href={ (PREFIX) "/static/console.css" };
                script src={ (PREFIX) "/static/console.js" } defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href={ (PREFIX) "/calls" } { "hotline" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            ul {
                                @for (slug, label) in NAV {
                                    li {
                                        a href={ (PREFIX) "/" (slug) }
                                          aria-current=[(current == *slug).then_some("page")] { (label) }
                                    }
                                }
                            }
                        }
                        div.who {
                            span { (s.org_name) " · " (s.email) " (" (s.role) ")" }
                            a href={ (PREFIX) "/password" } { "Password" }
                            form method="post" action={ (PREFIX) "/sign-out" } {
                                input type="hidden" name="_csrf" value=(s.csrf);
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    @if session.is_some_and(|s| !s.may_write()) {
                        p.notice role="note" { "You are a viewer: you can read everything here, and change nothing." }
                    }
                    (body)
                }
            }
        }
    }
}

/// A page with one message (not found, refused, failed).
pub fn message_page(session: Option<&Session>, title: &str, text: &str) -> Markup {
    layout(
        session,
        "",
        title,
        html! {
            p.message { (text) }
            p { a href={ (PREFIX) "/calls" } { "Back to the calls" } }
        },
    )
}

/// The form's own error (not about one field), and a success note.
pub fn form_status(errors: &Errors, saved: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = errors.get("") {
            p.error role="alert" { (e) }
        }
        @if let Some(s) = saved {
            p.saved role="status" { (s) }
        }
    }
}

/// The hidden CSRF field every write form carries.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="_csrf" value=(session.csrf); }
}

fn error_id(form: &str, name: &str) -> String {
    format!("{form}-{name}-error")
}

/// One labelled control with its error. `kind` is an `<input type>`, or `textarea` /
/// `select:<a|b|c>` (options).
pub struct Field<'a> {
    pub form: &'a str,
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub value: &'a str,
    pub hint: Option<&'a str>,
    pub required: bool,
}

impl<'a> Field<'a> {
    pub fn new(form: &'a str, name: &'a str, label: &'a str, value: &'a str) -> Self {
        Self {
            form,
            name,
            label,
            kind: "text",
            value,
            hint: None,
            required: false,
        }
    }

    pub fn kind(mut self, kind: &'a str) -> Self {
        self.kind = kind;
        self
    }

    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn render(&self, errors: &Errors) -> Markup {
        let id = format!("{}-{}", self.form, self.name);
        let error = errors.get(self.name);
        let err_id = error_id(self.form, self.name);
        let hint_id = format!("{id}-hint");
        let described = match (error.is_some(), self.hint.is_some()) {
            (true, true) => Some(format!("{err_id} {hint_id}")),
            (true, false) => Some(err_id.clone()),
            (false, true) => Some(hint_id.clone()),
            (false, false) => None,
        };
        let invalid = error.map(|_| "true");
        html! {
            div.field.invalid[error.is_some()] {
                label for=(id) { (self.label) @if self.required { " " span.req aria-hidden="true" { "*" } } }
                @if let Some(h) = self.hint { small.hint id=(hint_id) { (h) } }
                @if self.kind == "textarea" {
                    textarea id=(id) name=(self.name) rows="8" required[self.required]
                        aria-invalid=[invalid] aria-describedby=[described.as_deref()] { (self.value) }
                } @else if let Some(options) = self.kind.strip_prefix("select:") {
                    select id=(id) name=(self.name) required[self.required]
                        aria-invalid=[invalid] aria-describedby=[described.as_deref()] {
                        @for option in options.split('|') {
                            @let (value, text) = option.split_once('=').unwrap_or((option, option));
                            option value=(value) selected[value == self.value] { (text) }
                        }
                    }
                } @else {
                    input id=(id) name=(self.name) type=(self.kind) value=(self.value)
                        required[self.required]
                        aria-invalid=[invalid] aria-describedby=[described.as_deref()];
                }
                @if let Some(e) = error {
                    p.field-error id=(err_id) { (e) }
                }
            }
        }
    }
}

/// A labelled checkbox.
pub fn checkbox(form: &str, name: &str, label: &str, checked: bool) -> Markup {
    let id = format!("{form}-{name}");
    html! {
        div.check {
            input type="checkbox" id=(id) name=(name) value="on" checked[checked];
            label for=(id) { (label) }
        }
    }
}

/// A value that may be absent, as text.
pub fn or_dash(value: Option<&str>) -> &str {
    value.filter(|v| !v.is_empty()).unwrap_or("—")
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM UTC`, in a `<time>`.
pub fn when(value: &serde_json::Value) -> Markup {
    let raw = value.as_str().unwrap_or_default();
    let shown = chrono::DateTime::parse_from_rfc3339(raw).map_or_else(
        |_| raw.to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    html! { time datetime=(raw) { (shown) } }
}

/// A copy button for the text of the element `target` (console.js makes it work).
pub fn copy_button(target: &str, what: &str) -> Markup {
    html! {
        button.copy type="button" data-copy=(target) aria-label={ "Copy " (what) } { "Copy" }
        span.copied role="status" aria-live="polite" {}
    }
}

/// Raw, already-escaped markup (JSON pretty-printed is escaped by maud when given as text).
pub fn json_block(value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! { pre.json { (text) } }
}
