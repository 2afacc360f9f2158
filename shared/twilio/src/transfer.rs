//! The TwiML of a warm transfer (see `hotline_core::transfer`), in one place for the
//! stream node (which starts it) and the voice function (which answers the person's
//! leg and brings the caller back).

use hotline_core::model::Call;
use hotline_core::routes;
use hotline_core::transfer::conference_name;

use crate::VoiceResponse;
use crate::twiml::{Conference, ConnectStream, Gather, Say};

/// What the person hears after the summary.
pub const CHOICE_PROMPT: &str = "Press 1 to take the call, or 2 to decline.";
/// Said to a person who pressed 2 (or nothing).
pub const DECLINED: &str = "Okay, the caller stays with the assistant. Goodbye.";
/// Said to a person who accepts after the caller has gone.
pub const CALLER_GONE: &str = "Sorry, the caller has already hung up. Goodbye.";
/// How long the person has to press a key after the prompt.
pub const CHOICE_TIMEOUT_SECS: u32 = 8;

/// The call's own media stream, with the parameters the stream node checks at `start`:
/// the same for a new call and for a caller brought back from a transfer.
pub fn call_stream(stream_base: &str, call: &Call) -> ConnectStream {
    ConnectStream::new(format!("{stream_base}{}", routes::STREAM))
        .parameter("call_sid", call.sid.as_str())
        .parameter("from", call.from.as_str())
        .parameter("to", call.to.as_str())
        .parameter("agent_id", call.agent.as_str())
        .parameter("stream_token", &call.stream_token)
}

/// The caller on hold in the call's conference: music until the person joins, and the
/// conference over when the caller leaves.
pub fn caller_waits(call: &Call, hold_music_url: Option<&str>) -> VoiceResponse {
    VoiceResponse::new().verb(crate::twiml::Verb::Conference(Conference {
        name: conference_name(&call.sid),
        start_on_enter: false,
        end_on_exit: true,
        wait_url: hold_music_url.map(str::to_owned),
    }))
}

/// The whisper: the summary, then 1 or 2. Without a key the person hears goodbye and
/// the leg ends (a decline).
pub fn whisper(summary: &str, choice_url: &str) -> VoiceResponse {
    VoiceResponse::new()
        .verb(crate::twiml::Verb::Gather(Gather {
            action: choice_url.to_owned(),
            num_digits: 1,
            timeout_secs: CHOICE_TIMEOUT_SECS,
            say: vec![Say::new(summary), Say::new(CHOICE_PROMPT)],
        }))
        .say(DECLINED)
        .hangup()
}

/// The person joins the caller: the conference starts (the hold music stops) and ends
/// when they hang up.
pub fn person_joins(call: &Call) -> VoiceResponse {
    VoiceResponse::new().verb(crate::twiml::Verb::Conference(Conference {
        name: conference_name(&call.sid),
        start_on_enter: true,
        end_on_exit: true,
        wait_url: None,
    }))
}

/// The caller back with the agent: a new stream for the same call. What follows it runs
/// if that stream never opens, as on a new call.
pub fn back_to_agent(stream_base: &str, call: &Call, stream_lost: &str) -> VoiceResponse {
    VoiceResponse::new()
        .connect_stream(call_stream(stream_base, call))
        .say(stream_lost)
        .hangup()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twiml_read;

    #[test]
    fn the_whisper_gathers_one_key_around_the_summary() {
        let doc = whisper("Ann wants to move her <cleaning>.", "https://h/x?call=CA1").render();
        let root = twiml_read::parse(&doc).expect("twiml");
        let gather = &root.all_named("Gather")[0];
        assert_eq!(gather.attr("numDigits"), Some("1"));
        assert_eq!(gather.attr("action"), Some("https://h/x?call=CA1"));
        let said: Vec<_> = gather
            .all_named("Say")
            .iter()
            .map(|s| s.text.clone())
            .collect();
        assert_eq!(said, ["Ann wants to move her <cleaning>.", CHOICE_PROMPT]);
    }
}
