"""The Gemini Live simulator as Google's own Python SDK (google-genai) sees it.

Run by `tests/gemini/sdk.rs` (`google_genai_talks_to_the_simulator`), which starts the
simulator with the key given here, a tool cue after the first utterance and a goAway:

    gemini_python.py <base_url> <api_key>

The SDK's live client sends its own `setup` (which the simulator parses with hotline's
types and logs for the Rust side to check), streams audio, answers the tool call, and
parses every server message into its pydantic `LiveServerMessage`, whose models forbid
unknown fields: a misnamed field fails here. Exits non-zero with a traceback on failure.
"""

import asyncio
import math
import struct
import sys

from google import genai
from google.genai import types

BASE_URL, KEY = sys.argv[1], sys.argv[2]
RATE = 16000


def pcm(seconds, freq=None, amplitude=0.3):
    n = int(RATE * seconds)
    if freq is None:
        return b"\x00\x00" * n
    return b"".join(
        struct.pack("<h", int(amplitude * 32767 * math.sin(2 * math.pi * freq * i / RATE)))
        for i in range(n)
    )


client = genai.Client(
    api_key=KEY, http_options=types.HttpOptions(base_url=BASE_URL, api_version="v1beta")
)
# The simulator has no TLS; the SDK would turn any base URL into wss://.
client._api_client._websocket_base_url = lambda http_options=None: BASE_URL.replace(
    "http://", "ws://"
)
client._api_client._websocket_ssl_ctx = {}

CONFIG = types.LiveConnectConfig(
    response_modalities=["AUDIO"],
    speech_config=types.SpeechConfig(
        voice_config=types.VoiceConfig(
            prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Puck")
        )
    ),
    system_instruction="You answer the phone.",
    tools=[
        types.Tool(
            function_declarations=[
                types.FunctionDeclaration(
                    name="lookup_order",
                    description="Find an order",
                    parameters=types.Schema(
                        type="OBJECT",
                        properties={"id": types.Schema(type="STRING")},
                        required=["id"],
                    ),
                )
            ]
        )
    ],
    input_audio_transcription=types.AudioTranscriptionConfig(),
    output_audio_transcription=types.AudioTranscriptionConfig(),
    session_resumption=types.SessionResumptionConfig(),
    realtime_input_config=types.RealtimeInputConfig(
        automatic_activity_detection=types.AutomaticActivityDetection(disabled=False),
        activity_handling=types.ActivityHandling.START_OF_ACTIVITY_INTERRUPTS,
    ),
    context_window_compression=types.ContextWindowCompressionConfig(
        sliding_window=types.SlidingWindow()
    ),
)


async def main():
    seen = set()
    async with client.aio.live.connect(
        model="gemini-live-2.5-flash-preview", config=CONFIG
    ) as session:
        audio = pcm(1.0, 220) + pcm(1.0)
        step = RATE // 50 * 2
        for i in range(0, len(audio), step):
            await session.send_realtime_input(
                audio=types.Blob(data=audio[i : i + step], mime_type="audio/pcm;rate=16000")
            )
        audio_bytes = 0
        for _ in range(2):
            async for msg in session.receive():
                assert isinstance(msg, types.LiveServerMessage), type(msg)
                if msg.session_resumption_update:
                    assert msg.session_resumption_update.new_handle
                    seen.add("sessionResumptionUpdate")
                if msg.go_away:
                    assert msg.go_away.time_left is not None
                    seen.add("goAway")
                if msg.usage_metadata:
                    assert msg.usage_metadata.total_token_count
                    seen.add("usageMetadata")
                if msg.tool_call:
                    call = msg.tool_call.function_calls[0]
                    assert call.name == "lookup_order" and call.args == {"id": "A-1"}, call
                    seen.add("toolCall")
                    await session.send_tool_response(
                        function_responses=[
                            types.FunctionResponse(
                                id=call.id, name=call.name, response={"status": "shipped"}
                            )
                        ]
                    )
                sc = msg.server_content
                if sc:
                    if sc.input_transcription and sc.input_transcription.text:
                        seen.add("inputTranscription")
                    if sc.output_transcription and sc.output_transcription.text:
                        seen.add("outputTranscription")
                    if sc.model_turn:
                        for part in sc.model_turn.parts:
                            blob = part.inline_data
                            assert blob.mime_type == "audio/pcm;rate=24000", blob.mime_type
                            audio_bytes += len(blob.data)
                    if sc.generation_complete:
                        seen.add("generationComplete")
                    if sc.turn_complete:
                        seen.add("turnComplete")
            if "turnComplete" in seen:
                break
        assert audio_bytes > 0, "model audio"
    want = {
        "sessionResumptionUpdate",
        "goAway",
        "usageMetadata",
        "toolCall",
        "inputTranscription",
        "outputTranscription",
        "generationComplete",
        "turnComplete",
    }
    missing = want - seen
    assert not missing, f"never parsed: {sorted(missing)}"
    print("ok", sorted(seen))


asyncio.run(main())
