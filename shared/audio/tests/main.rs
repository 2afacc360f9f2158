//! The DTMF generator checked by the simulator's keypad ear (`hotline_sim::keypad`),
//! a decoder written from the standard, not from the generator.

use hotline_audio::dtmf::{DtmfTiming, dtmf_mulaw};
use hotline_audio::tone_mulaw;
use hotline_sim::keypad::decode_keys;

#[test]
fn every_key_decodes_back() {
    let digits = "123A456B789C*0#D";
    let audio = dtmf_mulaw(digits, DtmfTiming::default()).expect("valid keys");
    assert_eq!(decode_keys(&audio), digits);
}

#[test]
fn repeated_keys_stay_distinct_and_pauses_stay_silent() {
    let audio = dtmf_mulaw("11w00", DtmfTiming::default()).expect("valid keys");
    assert_eq!(decode_keys(&audio), "1100");
}

#[test]
fn shortest_legal_timing_still_decodes() {
    let timing = DtmfTiming {
        tone_ms: 40,
        gap_ms: 40,
    };
    let audio = dtmf_mulaw("9#", timing).expect("valid keys");
    // 40 ms on and 40 ms off is what Q.24 receivers must accept: two 20 ms blocks each,
    // aligned here because the sequence starts at sample 0.
    assert_eq!(decode_keys(&audio), "9#");
}

#[test]
fn a_single_tone_is_not_a_key() {
    // Speech-like energy at one row frequency alone must not press anything: the
    // decoder is not simply finding energy.
    let audio = tone_mulaw(770.0, 0.5, 400);
    assert_eq!(decode_keys(&audio), "");
}
