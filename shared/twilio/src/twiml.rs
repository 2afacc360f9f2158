//! TwiML documents for voice calls: what hotline answers a voice webhook with.
//!
//! Every attribute value and text node is escaped, and characters XML cannot carry
//! (C0 controls other than tab, LF and CR; U+FFFE; U+FFFF) are dropped, so text from
//! callers, models or configuration can never change the document's structure.

use std::borrow::Cow;
use std::io;

use hotline_core::E164;
use quick_xml::Writer;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::QName;

/// A `<Response>` under construction: verbs run in the order they are added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoiceResponse {
    verbs: Vec<Verb>,
}

/// The voice verbs hotline uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// `<Say>`: speak text with Twilio's text-to-speech.
    Say(Say),
    /// `<Pause length="…"/>`: silence.
    Pause {
        /// Seconds of silence.
        length: u32,
    },
    /// `<Hangup/>`: end the call.
    Hangup,
    /// `<Start><Recording …/></Start>`: record the whole call in the background.
    StartRecording(StartRecording),
    /// `<Connect><Stream …/></Connect>`: bridge the call to a bidirectional media stream.
    ConnectStream(ConnectStream),
    /// `<Dial><Number>…</Number></Dial>`: transfer the caller to a phone number.
    Dial(Dial),
    /// `<Dial><Conference …>name</Conference></Dial>`: join a named conference.
    Conference(Conference),
    /// `<Gather input="dtmf" …>` with `<Say>`s inside: read keys, post them to `action`.
    Gather(Gather),
    /// `<Redirect method="POST">url</Redirect>`: fetch the next TwiML.
    Redirect {
        /// Absolute URL answering with TwiML.
        url: String,
    },
}

/// Text for Twilio to speak, optionally with a voice (`Polly.Joanna`, `Google.…`) and a
/// language tag (`en-US`); Twilio's account defaults apply when they are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Say {
    /// What to say; any text, escaped on rendering.
    pub text: String,
    /// `voice` attribute; the account default when `None`.
    pub voice: Option<String>,
    /// `language` attribute; the account default when `None`.
    pub language: Option<String>,
}

impl Say {
    /// Text in the account's default voice and language.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            voice: None,
            language: None,
        }
    }

    /// The same text in a named voice.
    #[must_use]
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }

    /// The same text in a given language, e.g. `en-US`.
    #[must_use]
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }
}

impl From<&str> for Say {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for Say {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

/// How many channels a call recording has: `Dual` keeps caller and agent apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordingChannels {
    /// Both parties mixed into one channel.
    Mono,
    /// Caller and agent each on their own channel.
    Dual,
}

impl RecordingChannels {
    fn as_str(self) -> &'static str {
        match self {
            Self::Mono => "mono",
            Self::Dual => "dual",
        }
    }
}

/// A background recording of the whole call, both tracks, untrimmed. Twilio POSTs the
/// `completed` and `absent` (nothing recorded) events to `status_callback`; those and the
/// track/trim choices are fixed because hotline needs every call accounted for in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRecording {
    /// Absolute URL Twilio POSTs recording events to.
    pub status_callback: String,
    /// Mixed or separated parties.
    pub channels: RecordingChannels,
}

impl StartRecording {
    /// A recording reporting to `status_callback` (an absolute URL).
    pub fn new(status_callback: impl Into<String>, channels: RecordingChannels) -> Self {
        Self {
            status_callback: status_callback.into(),
            channels,
        }
    }
}

/// A bidirectional media stream. `url` must be an absolute `wss://` URL without a query
/// string (Twilio refuses the handshake otherwise); data for the stream goes in
/// `parameters`, which arrive in the stream's `start` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectStream {
    /// `wss://` URL of the media-stream server; also the URL the upgrade is signed over.
    pub url: String,
    /// Absolute URL Twilio POSTs stream lifecycle events to.
    pub status_callback: Option<String>,
    /// `<Parameter name value>` pairs, in order; each name + value under 500 characters.
    pub parameters: Vec<(String, String)>,
}

impl ConnectStream {
    /// A stream to `url` with no status callback and no parameters.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            status_callback: None,
            parameters: Vec::new(),
        }
    }

    /// The same stream reporting lifecycle events to `url`.
    #[must_use]
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// The same stream with one more custom parameter.
    #[must_use]
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((name.into(), value.into()));
        self
    }
}

/// A cold transfer to `number`, showing `caller_id` (a number on the account) when given,
/// else the original caller's number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// Where the caller is transferred.
    pub number: E164,
    /// The caller ID shown to `number`.
    pub caller_id: Option<E164>,
}

/// A place in a named conference (`<Dial><Conference>`): a warm transfer's caller waits
/// in one and the person joins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    /// The conference's friendly name; the same name is the same room.
    pub name: String,
    /// `startConferenceOnEnter`: whether this participant's arrival starts it (until
    /// then everyone in it hears `wait_url`).
    pub start_on_enter: bool,
    /// `endConferenceOnExit`: whether this participant's leaving ends it for all.
    pub end_on_exit: bool,
    /// `waitUrl`: what waiting participants hear; Twilio's hold music when `None`.
    pub wait_url: Option<String>,
}

/// `<Gather input="dtmf" numDigits action method="POST" timeout>` around what is said
/// while it listens. Without a key in `timeout_secs`, the document goes on after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    /// Absolute URL the keys are POSTed to (`Digits`); its TwiML replaces the document.
    pub action: String,
    pub num_digits: u32,
    pub timeout_secs: u32,
    /// Spoken while listening.
    pub say: Vec<Say>,
}

/// Returned in the unreachable case that writing to memory fails, so a caller never
/// receives a half-written document.
const FALLBACK: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#;

impl VoiceResponse {
    /// An empty `<Response>`; Twilio hangs up after the last verb.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends any verb.
    #[must_use]
    pub fn verb(mut self, verb: Verb) -> Self {
        self.verbs.push(verb);
        self
    }

    /// Appends `<Say>`.
    #[must_use]
    pub fn say(self, say: impl Into<Say>) -> Self {
        self.verb(Verb::Say(say.into()))
    }

    /// Appends `<Pause>` of `length` seconds.
    #[must_use]
    pub fn pause(self, length: u32) -> Self {
        self.verb(Verb::Pause { length })
    }

    /// Appends `<Hangup/>`.
    #[must_use]
    pub fn hangup(self) -> Self {
        self.verb(Verb::Hangup)
    }

    /// Appends `<Start><Recording/></Start>`; put it before `connect_stream` so the
    /// recording starts when the call is answered.
    #[must_use]
    pub fn start_recording(self, recording: StartRecording) -> Self {
        self.verb(Verb::StartRecording(recording))
    }

    /// Appends `<Connect><Stream/></Connect>`. Verbs after it run only once the stream ends.
    #[must_use]
    pub fn connect_stream(self, stream: ConnectStream) -> Self {
        self.verb(Verb::ConnectStream(stream))
    }

    /// Appends `<Dial><Number/></Dial>`.
    #[must_use]
    pub fn dial(self, dial: Dial) -> Self {
        self.verb(Verb::Dial(dial))
    }

    /// Appends `<Redirect method="POST">`.
    #[must_use]
    pub fn redirect(self, url: impl Into<String>) -> Self {
        self.verb(Verb::Redirect { url: url.into() })
    }

    /// The verbs added so far.
    pub fn verbs(&self) -> &[Verb] {
        &self.verbs
    }

    /// The complete document: XML declaration, then `<Response>` with every verb, no
    /// whitespace between elements. Never panics.
    pub fn render(&self) -> String {
        match self.write_document() {
            Ok(bytes) => String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            Err(_) => FALLBACK.to_owned(),
        }
    }

    fn write_document(&self) -> io::Result<Vec<u8>> {
        let mut w = Writer::new(Vec::new());
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.write_event(Event::Start(BytesStart::new("Response")))?;
        for verb in &self.verbs {
            write_verb(&mut w, verb)?;
        }
        w.write_event(Event::End(BytesEnd::new("Response")))?;
        Ok(w.into_inner())
    }
}

/// The answer to an incoming text: `<Response/>` (send nothing back) or
/// `<Response><Message>text</Message></Response>` (send `text` back to the sender).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessagingResponse {
    message: Option<String>,
}

impl MessagingResponse {
    /// Nothing is sent back.
    pub fn empty() -> Self {
        Self::default()
    }

    /// `text` is sent back; any text, escaped on rendering.
    pub fn message(text: impl Into<String>) -> Self {
        Self {
            message: Some(text.into()),
        }
    }

    /// The complete document. Never panics.
    pub fn render(&self) -> String {
        let write = || -> io::Result<Vec<u8>> {
            let mut w = Writer::new(Vec::new());
            w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
            match &self.message {
                Some(text) => {
                    open(&mut w, "Response", &[])?;
                    text_element(&mut w, "Message", &[], text)?;
                    close(&mut w, "Response")?;
                }
                None => empty(&mut w, "Response", &[])?,
            }
            Ok(w.into_inner())
        };
        match write() {
            Ok(bytes) => String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            Err(_) => r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#.to_owned(),
        }
    }
}

type Xml = Writer<Vec<u8>>;

fn write_verb(w: &mut Xml, verb: &Verb) -> io::Result<()> {
    match verb {
        Verb::Say(say) => text_element(
            w,
            "Say",
            &[
                ("voice", say.voice.as_deref()),
                ("language", say.language.as_deref()),
            ],
            &say.text,
        ),
        Verb::Pause { length } => empty(w, "Pause", &[("length", Some(&length.to_string()))]),
        Verb::Hangup => empty(w, "Hangup", &[]),
        Verb::StartRecording(rec) => {
            open(w, "Start", &[])?;
            empty(
                w,
                "Recording",
                &[
                    ("recordingStatusCallback", Some(&rec.status_callback)),
                    ("recordingStatusCallbackMethod", Some("POST")),
                    ("recordingStatusCallbackEvent", Some("completed absent")),
                    ("channels", Some(rec.channels.as_str())),
                    ("track", Some("both")),
                    ("trim", Some("do-not-trim")),
                ],
            )?;
            close(w, "Start")
        }
        Verb::ConnectStream(stream) => {
            open(w, "Connect", &[])?;
            let attrs = [
                ("url", Some(stream.url.as_str())),
                ("statusCallback", stream.status_callback.as_deref()),
                (
                    "statusCallbackMethod",
                    stream.status_callback.as_ref().map(|_| "POST"),
                ),
            ];
            if stream.parameters.is_empty() {
                empty(w, "Stream", &attrs)?;
            } else {
                open(w, "Stream", &attrs)?;
                for (name, value) in &stream.parameters {
                    empty(
                        w,
                        "Parameter",
                        &[("name", Some(name)), ("value", Some(value))],
                    )?;
                }
                close(w, "Stream")?;
            }
            close(w, "Connect")
        }
        Verb::Dial(dial) => {
            open(
                w,
                "Dial",
                &[("callerId", dial.caller_id.as_ref().map(E164::as_str))],
            )?;
            text_element(w, "Number", &[], dial.number.as_str())?;
            close(w, "Dial")
        }
        Verb::Conference(c) => {
            open(w, "Dial", &[])?;
            text_element(
                w,
                "Conference",
                &[
                    ("startConferenceOnEnter", Some(bool_str(c.start_on_enter))),
                    ("endConferenceOnExit", Some(bool_str(c.end_on_exit))),
                    ("beep", Some("false")),
                    ("waitUrl", c.wait_url.as_deref()),
                    ("waitMethod", c.wait_url.as_ref().map(|_| "GET")),
                ],
                &c.name,
            )?;
            close(w, "Dial")
        }
        Verb::Gather(g) => {
            open(
                w,
                "Gather",
                &[
                    ("input", Some("dtmf")),
                    ("numDigits", Some(&g.num_digits.to_string())),
                    ("timeout", Some(&g.timeout_secs.to_string())),
                    ("action", Some(&g.action)),
                    ("method", Some("POST")),
                ],
            )?;
            for say in &g.say {
                write_verb(w, &Verb::Say(say.clone()))?;
            }
            close(w, "Gather")
        }
        Verb::Redirect { url } => text_element(w, "Redirect", &[("method", Some("POST"))], url),
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// Attributes whose value is `None` are left out.
type Attrs<'a> = [(&'static str, Option<&'a str>)];

fn start<'a>(name: &'static str, attrs: &Attrs<'_>) -> BytesStart<'a> {
    let mut el = BytesStart::new(name);
    for (key, value) in attrs {
        if let Some(value) = value {
            el.push_attribute(Attribute {
                key: QName(key.as_bytes()),
                value: Cow::Owned(escape(value, Context::Attribute).into_bytes()),
            });
        }
    }
    el
}

fn open(w: &mut Xml, name: &'static str, attrs: &Attrs<'_>) -> io::Result<()> {
    w.write_event(Event::Start(start(name, attrs)))
}

fn close(w: &mut Xml, name: &'static str) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn empty(w: &mut Xml, name: &'static str, attrs: &Attrs<'_>) -> io::Result<()> {
    w.write_event(Event::Empty(start(name, attrs)))
}

fn text_element(w: &mut Xml, name: &'static str, attrs: &Attrs<'_>, text: &str) -> io::Result<()> {
    open(w, name, attrs)?;
    w.write_event(Event::Text(BytesText::from_escaped(escape(
        text,
        Context::Text,
    ))))?;
    close(w, name)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Text,
    Attribute,
}

/// Escapes markup characters and drops characters XML 1.0 forbids. In attributes, tab, LF
/// and CR become character references so a parser's attribute-value normalisation does
/// not turn them into spaces; CR is referenced in text too, where parsers would fold it.
fn escape(raw: &str, context: Context) -> String {
    let attr = context == Context::Attribute;
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => {}
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messaging_responses_are_empty_or_one_escaped_message() {
        assert_eq!(
            MessagingResponse::empty().render(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
        assert_eq!(
            MessagingResponse::message("a < b & c 😀</Message>").render(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>a &lt; b &amp; c 😀&lt;/Message&gt;</Message></Response>"#
        );
    }

    #[test]
    fn renders_the_documented_shapes() {
        let xml = VoiceResponse::new()
            .say(Say::new("Hello").voice("Polly.Joanna").language("en-US"))
            .pause(1)
            .start_recording(StartRecording::new(
                "https://api.example.com/rec?a=1&b=2",
                RecordingChannels::Mono,
            ))
            .connect_stream(
                ConnectStream::new("wss://stream.example.com/twilio").parameter("token", "abc"),
            )
            .dial(Dial {
                number: E164::parse("+12125550123").expect("valid"),
                caller_id: Some(E164::parse("+14155550100").expect("valid")),
            })
            .redirect("https://api.example.com/next")
            .hangup()
            .render();
        assert_eq!(
            xml,
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
                r#"<Say voice="Polly.Joanna" language="en-US">Hello</Say>"#,
                r#"<Pause length="1"/>"#,
                r#"<Start><Recording recordingStatusCallback="https://api.example.com/rec?a=1&amp;b=2" "#,
                r#"recordingStatusCallbackMethod="POST" recordingStatusCallbackEvent="completed absent" "#,
                r#"channels="mono" track="both" trim="do-not-trim"/></Start>"#,
                r#"<Connect><Stream url="wss://stream.example.com/twilio">"#,
                r#"<Parameter name="token" value="abc"/></Stream></Connect>"#,
                r#"<Dial callerId="+14155550100"><Number>+12125550123</Number></Dial>"#,
                r#"<Redirect method="POST">https://api.example.com/next</Redirect>"#,
                r#"<Hangup/></Response>"#,
            )
        );
    }

    #[test]
    fn optional_attributes_are_omitted() {
        let xml = VoiceResponse::new()
            .say("Hi")
            .connect_stream(ConnectStream::new("wss://s.example.com/t"))
            .dial(Dial {
                number: E164::parse("+12125550123").expect("valid"),
                caller_id: None,
            })
            .render();
        assert!(xml.contains("<Say>Hi</Say>"), "{xml}");
        assert!(
            xml.contains(r#"<Connect><Stream url="wss://s.example.com/t"/></Connect>"#),
            "{xml}"
        );
        assert!(
            xml.contains("<Dial><Number>+12125550123</Number></Dial>"),
            "{xml}"
        );
    }

    #[test]
    fn stream_status_callback_is_posted() {
        let xml = VoiceResponse::new()
            .connect_stream(
                ConnectStream::new("wss://s.example.com/t").status_callback("https://e/s"),
            )
            .render();
        assert!(
            xml.contains(
                r#"<Stream url="wss://s.example.com/t" statusCallback="https://e/s" statusCallbackMethod="POST"/>"#
            ),
            "{xml}"
        );
    }

    #[test]
    fn empty_response_is_still_a_document() {
        assert_eq!(
            VoiceResponse::new().render(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
        );
    }

    #[test]
    fn escape_covers_markup_and_forbidden_characters() {
        assert_eq!(
            escape(
                "a&b<c>d\"e'f\tg\nh\ri\u{0}\u{1}\u{1F}\u{7F}\u{FFFE}\u{FFFF}j",
                Context::Text
            ),
            "a&amp;b&lt;c&gt;d\"e'f\tg\nh&#13;i\u{7F}j"
        );
        assert_eq!(
            escape("a&b<c>d\"e'f\tg\nh\ri\u{0}\u{1B}j", Context::Attribute),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f&#9;g&#10;h&#13;ij"
        );
    }
}
