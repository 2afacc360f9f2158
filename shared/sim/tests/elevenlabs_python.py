"""The ElevenLabs simulator as ElevenLabs' own Python SDK (elevenlabs) sees it.

Run by `tests/pipeline.rs` (`elevenlabs_sdk_talks_to_the_simulator`), which starts the
simulator with the key given here:

    elevenlabs_python.py <base_url> <api_key>

The SDK's `text_to_speech.stream` asks for µ-law 8 kHz and reads the chunked audio; a
wrong key, an unknown voice and an empty text come back as the SDK's own error types
with the bodies it parses. Exits non-zero on failure; prints `ok …` on success.
"""

import sys

from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.errors.unprocessable_entity_error import UnprocessableEntityError

BASE_URL, KEY = sys.argv[1], sys.argv[2]
VOICE = "21m00Tcm4TlvDq8ikWAM"
TEXT = "Hello there."

client = ElevenLabs(api_key=KEY, base_url=BASE_URL)
audio = b"".join(
    client.text_to_speech.stream(
        voice_id=VOICE,
        text=TEXT,
        model_id="eleven_flash_v2_5",
        output_format="ulaw_8000",
        previous_text="Hi.",
    )
)
# 50 ms of µ-law (8 bytes a ms) per character, and no WAV header.
assert len(audio) == len(TEXT) * 50 * 8, len(audio)
assert not audio.startswith(b"RIFF")

try:
    b"".join(ElevenLabs(api_key="wrong", base_url=BASE_URL).text_to_speech.stream(voice_id=VOICE, text=TEXT, output_format="ulaw_8000"))
    raise AssertionError("a wrong key was accepted")
except ApiError as e:
    assert e.status_code == 401, e.status_code
    assert e.body["detail"]["status"] == "invalid_api_key", e.body

try:
    b"".join(client.text_to_speech.stream(voice_id="no-such-voice", text=TEXT, output_format="ulaw_8000"))
    raise AssertionError("an unknown voice was accepted")
except ApiError as e:
    assert e.status_code == 404, e.status_code
    assert e.body["detail"]["status"] == "voice_not_found", e.body

try:
    b"".join(client.text_to_speech.stream(voice_id=VOICE, text=" ", output_format="ulaw_8000"))
    raise AssertionError("an empty text was accepted")
except UnprocessableEntityError as e:
    detail = e.body.detail if hasattr(e.body, "detail") else e.body["detail"]
    first = detail[0]
    loc = first.loc if hasattr(first, "loc") else first["loc"]
    assert list(loc) == ["body", "text"], loc

print("ok", len(audio))
