"""The fake OpenAI REST server as OpenAI's own Python library sees it.

Run by `openai_rest.rs` (`openai_python_library_accepts_the_fake`), which starts the
fake with the key given here and scripts the answers named below:

    openai_python.py <base_url> <api_key>

Each check parses the fake's answers into the library's typed models (which fail on a
wrong shape) and asserts on them; any failure exits non-zero with a traceback.
"""

import json
import sys
from typing import List, Literal, Optional

import openai
from pydantic import BaseModel

# Scripted by the Rust side.
AUDIO = b"ID3 python call audio"
TRANSCRIPT = "Hello from the python check."
SCRIPTED_SCHEMA = "call_summary"
SCRIPTED_ANSWER = {
    "summary": "Wants a cleaning on Tuesday",
    "sentiment": "positive",
    "callback_requested": True,
    "follow_up_date": None,
}
REFUSED_SCHEMA = "refused"
REFUSAL = "I'm sorry, I can't help with that."

CALL_SUMMARY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "summary": {"type": "string"},
        "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
        "callback_requested": {"type": "boolean"},
        "follow_up_date": {"type": ["string", "null"]},
    },
    "required": ["summary", "sentiment", "callback_requested", "follow_up_date"],
}
MESSAGES = [
    {"role": "system", "content": "Extract call outcome."},
    {"role": "user", "content": "caller: I'd like a cleaning on Tuesday."},
]


class Contact(BaseModel):
    name: str
    email: Optional[str]


class CallReport(BaseModel):
    """The library builds a strict schema from this ($defs, $ref, anyOf with null)."""

    summary: str
    sentiment: Literal["positive", "neutral", "negative"]
    topics: List[str]
    contact: Contact
    score: int


def schema_format(name, schema, strict=True):
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "strict": strict, "schema": schema},
    }


def check_transcriptions(client):
    t = client.audio.transcriptions.create(
        model="gpt-4o-transcribe",
        file=("call.mp3", AUDIO, "audio/mpeg"),
        language="en",
        prompt="Acme Dental",
    )
    assert isinstance(t, openai.types.audio.Transcription), type(t)
    assert t.text == TRANSCRIPT, t.text
    assert t.usage is not None and t.usage.type == "tokens", t.usage
    assert t.usage.total_tokens == t.usage.input_tokens + t.usage.output_tokens

    text = client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe",
        file=("call.wav", AUDIO, "audio/wav"),
        response_format="text",
    )
    assert text == TRANSCRIPT, repr(text)

    verbose = client.audio.transcriptions.create(
        model="whisper-1",
        file=("call.mp3", b"other audio", "audio/mpeg"),
        response_format="verbose_json",
    )
    assert isinstance(verbose, openai.types.audio.TranscriptionVerbose), type(verbose)
    assert verbose.text == "(simulated transcription of 11 bytes)", verbose.text
    assert verbose.segments and verbose.segments[0].text == verbose.text
    assert verbose.usage is not None and verbose.usage.type == "duration"

    try:
        client.audio.transcriptions.create(
            model="gpt-4o-transcribe",
            file=("call.mp3", AUDIO, "audio/mpeg"),
            response_format="verbose_json",
        )
        raise AssertionError("verbose_json with gpt-4o-transcribe was accepted")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and e.param == "response_format", (e.status_code, e.param)

    try:
        client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=("notes.txt", b"hello", "text/plain")
        )
        raise AssertionError("a .txt file was accepted")
    except openai.BadRequestError as e:
        assert "Invalid file format" in e.message, e.message
    print("ok transcriptions")


def check_chat(client):
    c = client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=MESSAGES,
        response_format=schema_format(SCRIPTED_SCHEMA, CALL_SUMMARY_SCHEMA),
    )
    assert isinstance(c, openai.types.chat.ChatCompletion), type(c)
    assert c.id.startswith("chatcmpl-") and c.object == "chat.completion", (c.id, c.object)
    assert c.model == "gpt-4.1-mini", c.model
    choice = c.choices[0]
    assert choice.finish_reason == "stop", choice.finish_reason
    assert choice.message.role == "assistant"
    assert choice.message.refusal is None, choice.message.refusal
    assert json.loads(choice.message.content) == SCRIPTED_ANSWER, choice.message.content
    assert c.usage is not None
    assert c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens

    # Unscripted: an answer built from the schema, which follows it.
    c = client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=MESSAGES,
        response_format=schema_format("unscripted_summary", CALL_SUMMARY_SCHEMA),
    )
    answer = json.loads(c.choices[0].message.content)
    assert set(answer) == set(CALL_SUMMARY_SCHEMA["required"]), answer
    assert answer["sentiment"] in ("positive", "neutral", "negative"), answer
    assert isinstance(answer["summary"], str) and isinstance(answer["callback_requested"], bool)

    # The library's own strict schema from a Pydantic model passes the fake's checks,
    # and the built answer validates against the model.
    parsed = client.chat.completions.parse(
        model="gpt-4.1-mini", messages=MESSAGES, response_format=CallReport
    )
    report = parsed.choices[0].message.parsed
    assert isinstance(report, CallReport), type(report)
    assert report.sentiment == "positive" and report.contact.email is None, report

    c = client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=MESSAGES,
        response_format=schema_format(REFUSED_SCHEMA, CALL_SUMMARY_SCHEMA),
    )
    message = c.choices[0].message
    assert message.refusal == REFUSAL and message.content is None, message
    print("ok chat completions")


def check_errors(base_url):
    wrong = openai.OpenAI(base_url=base_url, api_key="sk-not-the-key-000", max_retries=0)
    try:
        wrong.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)
        raise AssertionError("a wrong key was accepted")
    except openai.AuthenticationError as e:
        assert e.status_code == 401 and e.code == "invalid_api_key", (e.status_code, e.code)
        assert e.type == "invalid_request_error", e.type
    try:
        wrong.audio.transcriptions.create(
            model="whisper-1", file=("call.mp3", AUDIO, "audio/mpeg")
        )
        raise AssertionError("a wrong key was accepted for a transcription")
    except openai.AuthenticationError:
        pass

    client = openai.OpenAI(base_url=base_url, api_key=sys.argv[2], max_retries=0)
    loose = {
        "type": "object",
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
    }
    try:
        client.chat.completions.create(
            model="gpt-4.1-mini",
            messages=MESSAGES,
            response_format=schema_format("loose", loose),
        )
        raise AssertionError("a schema without additionalProperties: false was accepted")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and e.param == "response_format", (e.status_code, e.param)
        assert "'additionalProperties' is required" in e.message, e.message
    # Not strict: the same schema is fine.
    client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=MESSAGES,
        response_format=schema_format("loose", loose, strict=False),
    )
    try:
        client.chat.completions.create(
            model="gpt-4.1-mini",
            messages=MESSAGES,
            response_format=schema_format("call summary", CALL_SUMMARY_SCHEMA),
        )
        raise AssertionError("a schema name with a space was accepted")
    except openai.BadRequestError as e:
        assert e.code == "invalid_value", e.code
    try:
        client.chat.completions.create(model="gpt-4.1-mini", messages=[])
        raise AssertionError("no messages was accepted")
    except openai.BadRequestError as e:
        assert e.param == "messages", e.param
    print("ok errors")


def check_speech(client):
    """audio.speech as the library streams it: raw PCM at 24 kHz, 16-bit, 50 ms a character."""
    text = "Hello there."
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="coral", input=text, response_format="pcm"
    ) as response:
        audio = b"".join(response.iter_bytes(chunk_size=4096))
    assert len(audio) == len(text) * 50 * 24 * 2, len(audio)
    # A custom voice by id is a voice too.
    client.audio.speech.create(
        model="tts-1", voice={"id": "voice_1234"}, input="Hi.", response_format="pcm"
    )
    for bad, param in (
        (dict(model="gpt-4o-mini-tts", voice="nobody", input=text), "voice"),
        (dict(model="tts-1", voice="coral", input="x" * 4097), "input"),
        (dict(model="gpt-4o-mini-tts", voice="coral", input=text, speed=9.0), "speed"),
        (dict(model="tts-1", voice="coral", input=text, stream_format="sse"), "stream_format"),
        (dict(model="whisper-1", voice="coral", input=text), "model"),
    ):
        try:
            client.audio.speech.create(response_format="pcm", **bad)
            raise AssertionError(f"accepted: {param}")
        except openai.BadRequestError as e:
            assert e.status_code == 400 and e.param == param, (e.status_code, e.param)
    print("ok speech")


def main():
    base_url, api_key = sys.argv[1], sys.argv[2]
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    check_transcriptions(client)
    check_chat(client)
    check_speech(client)
    check_errors(base_url)
    print(f"ok openai {openai.__version__}")


if __name__ == "__main__":
    main()
