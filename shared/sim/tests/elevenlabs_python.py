"""The ElevenLabs simulator as ElevenLabs' own Python SDK (elevenlabs) sees it.

Run by `tests/pipeline.rs` (`elevenlabs_sdk_talks_to_the_simulator`), which starts the
simulator with the key given here:

    elevenlabs_python.py <base_url> <api_key> <what the caller says>

The SDK's `text_to_speech.stream` asks for µ-law 8 kHz and reads the chunked audio; a
wrong key, an unknown voice and an empty text come back as the SDK's own error types
with the bodies it parses. Its realtime speech-to-text client streams µ-law 8 kHz
speech and silence and hears the scripted line committed. Exits non-zero on failure; prints `ok …` on success.
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


# Realtime speech-to-text with the SDK's own client: µ-law 8 kHz committed by VAD; every
# message parses into the SDK's payload types.
import asyncio
import audioop
import base64
import math

from elevenlabs.client import AsyncElevenLabs
from elevenlabs import AudioFormat, CommitStrategy, RealtimeEvents
from elevenlabs.types import (
    CommittedTranscriptPayload,
    PartialTranscriptPayload,
    ScribeInputErrorPayload,
    SessionStartedPayload,
)

HEARD = sys.argv[3]


def mulaw(freq, ms, amplitude):
    n = 8 * ms
    pcm = b"".join(
        int(amplitude * 32767 * math.sin(2 * math.pi * freq * i / 8000)).to_bytes(2, "little", signed=True)
        for i in range(n)
    )
    return audioop.lin2ulaw(pcm, 2)


async def realtime():
    client = AsyncElevenLabs(api_key=KEY, base_url=BASE_URL)
    connection = await client.speech_to_text.realtime.connect({
        "model_id": "scribe_v2_realtime",
        "audio_format": AudioFormat.ULAW_8000,
        "sample_rate": 8000,
        "commit_strategy": CommitStrategy.VAD,
        "vad_silence_threshold_secs": 0.5,
        "language_code": "en",
    })
    seen = {"started": [], "partial": [], "committed": [], "input_error": []}
    committed = asyncio.Event()
    errored = asyncio.Event()
    connection.on(RealtimeEvents.SESSION_STARTED, lambda d: seen["started"].append(SessionStartedPayload.model_validate(d)))
    connection.on(RealtimeEvents.PARTIAL_TRANSCRIPT, lambda d: seen["partial"].append(PartialTranscriptPayload.model_validate(d)))

    def on_committed(d):
        seen["committed"].append(CommittedTranscriptPayload.model_validate(d))
        committed.set()

    def on_input_error(d):
        seen["input_error"].append(ScribeInputErrorPayload.model_validate(d))
        errored.set()

    connection.on(RealtimeEvents.COMMITTED_TRANSCRIPT, on_committed)
    connection.on(RealtimeEvents.INPUT_ERROR, on_input_error)
    audio = mulaw(150, 800, 0.3) + b"\xff" * 8 * 1000
    for i in range(0, len(audio), 160):
        await connection.send({"audio_base_64": base64.b64encode(audio[i:i + 160]).decode()})
    await asyncio.wait_for(committed.wait(), 5)
    started = seen["started"][0]
    assert started.config.audio_format == "ulaw_8000", started
    assert started.config.commit_strategy == "vad", started
    assert seen["partial"] and HEARD.startswith(seen["partial"][0].text), seen["partial"]
    assert [c.text for c in seen["committed"]] == [HEARD], seen["committed"]
    # previous_text after the first chunk is refused, as the API says.
    await connection.websocket.send(
        '{"message_type":"input_audio_chunk","audio_base_64":"","commit":false,"sample_rate":8000,"previous_text":"late"}'
    )
    await asyncio.wait_for(errored.wait(), 5)
    await connection.close()

    import websockets.exceptions
    try:
        wrong = AsyncElevenLabs(api_key="wrong", base_url=BASE_URL)
        await wrong.speech_to_text.realtime.connect({
            "model_id": "scribe_v2_realtime", "audio_format": AudioFormat.ULAW_8000, "sample_rate": 8000,
        })
        raise AssertionError("a wrong key was accepted for speech-to-text")
    except websockets.exceptions.InvalidStatus as e:
        assert e.response.status_code == 401, e.response.status_code


asyncio.run(realtime())
print("ok", len(audio))
