"""The Deepgram simulator as Deepgram's own Python SDK (deepgram-sdk) sees it.

Run by `tests/pipeline.rs` (`deepgram_sdk_talks_to_the_simulator`), which starts the
simulator with the key given here and one scripted line:

    deepgram_python.py <base_url> <api_key> <expected transcript>

The SDK's live client connects with the query a Twilio stream needs, sends µ-law audio
(silence, a "voice", silence), a KeepAlive, a Finalize and CloseStream. Every server
message is parsed as the SDK parses it, and validated against the SDK's pydantic model
for its type with no field the model lacks (recursively): a misnamed or mistyped field
fails here. Exits non-zero with a traceback on failure; prints `ok …` on success.
"""

import asyncio
import json
import math
import sys
import typing

import pydantic
from deepgram import AsyncDeepgramClient
from deepgram.environment import DeepgramClientEnvironment
from deepgram.listen.v1.types.listen_v1metadata import ListenV1Metadata
from deepgram.listen.v1.types.listen_v1results import ListenV1Results
from deepgram.listen.v1.types.listen_v1speech_started import ListenV1SpeechStarted
from deepgram.listen.v1.types.listen_v1utterance_end import ListenV1UtteranceEnd

BASE_URL, KEY, EXPECTED = sys.argv[1], sys.argv[2], sys.argv[3]
MODELS = {
    "Results": ListenV1Results,
    "Metadata": ListenV1Metadata,
    "SpeechStarted": ListenV1SpeechStarted,
    "UtteranceEnd": ListenV1UtteranceEnd,
}


def mulaw(sample):
    """G.711 µ-law of a 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    for e in range(7, -1, -1):
        if sample & (0x4000 >> (7 - e)):
            exponent = e
            break
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def audio(ms, freq=None):
    n = 8 * ms
    if freq is None:
        return bytes([0xFF]) * n
    return bytes(mulaw(int(0.1 * 32767 * math.sin(2 * math.pi * freq * i / 8000))) for i in range(n))


def model_of(annotation):
    """The pydantic model inside Optional[...] / List[...], if any."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_of(arg)
        if found is not None:
            return found
    return None


def no_unknown_fields(model, value, path):
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    unknown = set(value) - set(fields)
    assert not unknown, f"{path}: fields the SDK does not know: {unknown}"
    for key, item in value.items():
        inner = model_of(fields[key].annotation)
        if inner is None:
            continue
        for element in item if isinstance(item, list) else [item]:
            if isinstance(element, dict):
                no_unknown_fields(inner, element, f"{path}.{key}")


async def main():
    environment = DeepgramClientEnvironment(
        base=BASE_URL,
        production=BASE_URL.replace("http://", "ws://"),
        agent=BASE_URL.replace("http://", "ws://"),
        agent_rest=BASE_URL,
    )
    client = AsyncDeepgramClient(api_key=KEY, environment=environment)
    seen = {}
    finals = []
    async with client.listen.v1.connect(
        model="nova-3",
        language="en-US",
        encoding="mulaw",
        sample_rate=8000,
        channels=1,
        interim_results=True,
        endpointing=300,
        utterance_end_ms=1000,
        vad_events=True,
        smart_format=True,
    ) as socket:

        async def read():
            # The raw frames, each parsed as the SDK's own iterator parses it and checked
            # against its model.
            async for raw in socket._websocket:
                message = json.loads(raw)
                kind = message["type"]
                model = MODELS[kind]
                parsed = model.model_validate(message)
                no_unknown_fields(model, message, kind)
                seen[kind] = seen.get(kind, 0) + 1
                if kind == "Results" and parsed.is_final and parsed.channel.alternatives[0].transcript:
                    finals.append(parsed.channel.alternatives[0].transcript)

        reader = asyncio.create_task(read())
        stream = audio(500) + audio(1000, 220.0) + audio(2500)
        for i in range(0, len(stream), 160):
            await socket.send_media(stream[i : i + 160])
        await socket.send_keep_alive()
        await socket.send_finalize()
        await socket.send_close_stream()
        await asyncio.wait_for(reader, 10)
    assert finals == [EXPECTED], finals
    for kind in ["Results", "SpeechStarted", "UtteranceEnd", "Metadata"]:
        assert seen.get(kind), f"no {kind}: {seen}"
    print("ok", json.dumps(seen, sort_keys=True))


asyncio.run(main())
