#!/usr/bin/env python3
"""Cross-check hotline-realtime's OpenAI Realtime (GA) events against OpenAI's own types.

The expected shapes come from OpenAI's official Python library (the pydantic models under
`openai.types.realtime`, generated from OpenAI's API spec), so the Rust types are checked
against OpenAI's definitions rather than against themselves. Two directions:

1. Events built with the pydantic models are dumped (`model_dump_json(exclude_none=True)`)
   to tests/fixtures/openai/pydantic/*.json; the Rust tests parse every one of them.
2. The events the Rust code serializes (tests/fixtures/openai/ours/*.json, written by
   `REGENERATE=1 cargo test -p hotline-realtime --test main openai_vectors::`) are validated
   strictly by the pydantic unions `RealtimeClientEvent` / `RealtimeServerEvent`. OpenAI's
   models accept unknown fields silently (`extra="allow"`), so fields the models do not
   declare are collected and reported too, and the validated model must dump back to the
   same JSON. Results go to tests/fixtures/openai/ours/validation.json, which the Rust
   tests assert on.

    python3 -m venv /tmp/oaivenv
    /tmp/oaivenv/bin/pip install openai
    REGENERATE=1 cargo test -p hotline-realtime --test main openai_vectors::
    /tmp/oaivenv/bin/python shared/realtime/tests/vectors/generate.py
    cargo test -p hotline-realtime
"""

import base64
import json
from importlib.metadata import version
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from openai.types.realtime import (
    AudioTranscription,
    ConversationCreatedEvent,
    ConversationItemAdded,
    ConversationItemCreatedEvent,
    ConversationItemCreateEvent,
    ConversationItemDeletedEvent,
    ConversationItemDeleteEvent,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionDeltaEvent,
    ConversationItemInputAudioTranscriptionFailedEvent,
    ConversationItemInputAudioTranscriptionSegment,
    ConversationItemRetrieveEvent,
    ConversationItemTruncatedEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    InputAudioBufferClearedEvent,
    InputAudioBufferClearEvent,
    InputAudioBufferCommitEvent,
    InputAudioBufferCommittedEvent,
    InputAudioBufferDtmfEventReceivedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    InputAudioBufferTimeoutTriggered,
    RateLimitsUpdatedEvent,
    RealtimeAudioConfig,
    RealtimeAudioConfigInput,
    RealtimeAudioConfigOutput,
    RealtimeClientEvent,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemSystemMessage,
    RealtimeConversationItemUserMessage,
    RealtimeError,
    RealtimeErrorEvent,
    RealtimeFunctionTool,
    RealtimeResponse,
    RealtimeResponseCreateParams,
    RealtimeResponseStatus,
    RealtimeResponseUsage,
    RealtimeResponseUsageInputTokenDetails,
    RealtimeResponseUsageOutputTokenDetails,
    RealtimeServerEvent,
    RealtimeSessionCreateRequest,
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseCancelEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseCreateEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
    SessionUpdateEvent,
)
from openai.types.realtime import (
    conversation_item_input_audio_transcription_completed_event as transcription_completed,
)
from openai.types.realtime import conversation_item_input_audio_transcription_failed_event as failed
from openai.types.realtime import realtime_audio_config_input as audio_input
from openai.types.realtime import realtime_audio_formats as formats
from openai.types.realtime import realtime_audio_input_turn_detection as turn_detection
from openai.types.realtime import realtime_conversation_item_assistant_message as assistant_msg
from openai.types.realtime import realtime_conversation_item_system_message as system_msg
from openai.types.realtime import realtime_conversation_item_user_message as user_msg
from openai.types.realtime import rate_limits_updated_event as rate_limits
from openai.types.realtime import realtime_response_create_audio_output as response_audio
from openai.types.realtime import realtime_response_usage_input_token_details as input_details
from openai.types.realtime import response_content_part_added_event as part_added
from openai.types.realtime import response_content_part_done_event as part_done
from openai.types.realtime.realtime_server_event import (
    ConversationItemRetrieved,
    OutputAudioBufferStarted,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openai"
PYDANTIC = FIXTURES / "pydantic"
OURS = FIXTURES / "ours"

# 20 ms of µ-law at 8 kHz: 160 bytes, 216 base64 characters.
FRAME = base64.b64encode(bytes((255 - i) & 0xFF for i in range(160))).decode()
PCMU = formats.AudioPCMU(type="audio/pcmu")

TRANSFER_TOOL = RealtimeFunctionTool(
    type="function",
    name="transfer_call",
    description="Transfer the caller to a human.",
    parameters={
        "type": "object",
        "properties": {"reason": {"type": "string"}},
        "required": ["reason"],
    },
)


def session(**extra):
    return RealtimeSessionCreateRequest(
        type="realtime",
        model="gpt-realtime",
        output_modalities=["audio"],
        instructions="You are the front desk of a dental practice.",
        audio=RealtimeAudioConfig(
            input=RealtimeAudioConfigInput(
                format=PCMU,
                noise_reduction=audio_input.NoiseReduction(type="near_field"),
                transcription=AudioTranscription(model="gpt-4o-transcribe", language="en"),
                turn_detection=turn_detection.ServerVad(
                    type="server_vad",
                    threshold=0.5,
                    prefix_padding_ms=300,
                    silence_duration_ms=500,
                    create_response=True,
                    interrupt_response=True,
                ),
            ),
            output=RealtimeAudioConfigOutput(format=PCMU, voice="marin", speed=1.0),
        ),
        tools=[TRANSFER_TOOL],
        tool_choice="auto",
        max_output_tokens="inf",
        **extra,
    )


FUNCTION_CALL = RealtimeConversationItemFunctionCall(
    id="item_C9x2",
    type="function_call",
    object="realtime.item",
    status="completed",
    name="transfer_call",
    call_id="call_Kx81",
    arguments='{"reason":"billing"}',
)
ASSISTANT = RealtimeConversationItemAssistantMessage(
    id="item_C9x3",
    type="message",
    object="realtime.item",
    status="completed",
    role="assistant",
    content=[assistant_msg.Content(type="output_audio", transcript="Let me transfer you.")],
)
USER_AUDIO = RealtimeConversationItemUserMessage(
    id="item_C9z2",
    type="message",
    object="realtime.item",
    status="completed",
    role="user",
    content=[user_msg.Content(type="input_audio", transcript="I'd like to talk to billing.")],
)
USAGE = RealtimeResponseUsage(
    total_tokens=1234,
    input_tokens=1000,
    output_tokens=234,
    input_token_details=RealtimeResponseUsageInputTokenDetails(
        text_tokens=400,
        audio_tokens=600,
        image_tokens=0,
        cached_tokens=320,
        cached_tokens_details=input_details.CachedTokensDetails(
            text_tokens=300, audio_tokens=20, image_tokens=0
        ),
    ),
    output_token_details=RealtimeResponseUsageOutputTokenDetails(text_tokens=60, audio_tokens=174),
)
IDS = dict(response_id="resp_C9x1", item_id="item_C9x3", output_index=1, content_index=0)

CLIENT_EVENTS = {
    "session_update": SessionUpdateEvent(type="session.update", session=session()),
    "input_audio_buffer_append": InputAudioBufferAppendEvent(
        type="input_audio_buffer.append", audio=FRAME
    ),
    "input_audio_buffer_commit": InputAudioBufferCommitEvent(type="input_audio_buffer.commit"),
    "input_audio_buffer_clear": InputAudioBufferClearEvent(
        type="input_audio_buffer.clear", event_id="evt_client_7"
    ),
    "conversation_item_create_user": ConversationItemCreateEvent(
        type="conversation.item.create",
        item=RealtimeConversationItemUserMessage(
            type="message",
            role="user",
            content=[user_msg.Content(type="input_text", text="Greet the caller.")],
        ),
    ),
    "conversation_item_create_system": ConversationItemCreateEvent(
        type="conversation.item.create",
        previous_item_id="root",
        item=RealtimeConversationItemSystemMessage(
            type="message",
            role="system",
            content=[system_msg.Content(type="input_text", text="Caller is a VIP.")],
        ),
    ),
    "conversation_item_create_function_call_output": ConversationItemCreateEvent(
        type="conversation.item.create",
        item=RealtimeConversationItemFunctionCallOutput(
            type="function_call_output", call_id="call_Kx81", output='{"ok":true}'
        ),
    ),
    "conversation_item_truncate": ConversationItemTruncateEvent(
        type="conversation.item.truncate",
        item_id="item_C9x3",
        content_index=0,
        audio_end_ms=1840,
    ),
    "conversation_item_delete": ConversationItemDeleteEvent(
        type="conversation.item.delete", item_id="item_C9x3"
    ),
    "conversation_item_retrieve": ConversationItemRetrieveEvent(
        type="conversation.item.retrieve", item_id="item_C9x3"
    ),
    "response_create": ResponseCreateEvent(type="response.create"),
    "response_create_config": ResponseCreateEvent(
        type="response.create",
        response=RealtimeResponseCreateParams(
            instructions="Greet the caller and ask how you can help.",
            output_modalities=["audio"],
            conversation="auto",
            metadata={"purpose": "greeting"},
            max_output_tokens=400,
            tool_choice={"type": "function", "name": "transfer_call"},
            tools=[TRANSFER_TOOL],
            audio=response_audio.RealtimeResponseCreateAudioOutput(
                output=response_audio.Output(format=PCMU, voice="marin")
            ),
        ),
    ),
    "response_cancel": ResponseCancelEvent(type="response.cancel", response_id="resp_C9x1"),
}

SERVER_EVENTS = {
    "session_created": SessionCreatedEvent(
        type="session.created", event_id="event_C9w6", session=session()
    ),
    "session_updated": SessionUpdatedEvent(
        type="session.updated", event_id="event_C9w8", session=session()
    ),
    "error": RealtimeErrorEvent(
        type="error",
        event_id="event_890",
        error=RealtimeError(
            type="invalid_request_error",
            code="invalid_value",
            message="Invalid value: 'audio/wav'.",
            param="session.audio.input.format",
            event_id="evt_client_12",
        ),
    ),
    "input_audio_buffer_speech_started": InputAudioBufferSpeechStartedEvent(
        type="input_audio_buffer.speech_started",
        event_id="event_C9z1",
        audio_start_ms=10240,
        item_id="item_C9z2",
    ),
    "input_audio_buffer_speech_stopped": InputAudioBufferSpeechStoppedEvent(
        type="input_audio_buffer.speech_stopped",
        event_id="event_C9z3",
        audio_end_ms=12480,
        item_id="item_C9z2",
    ),
    "input_audio_buffer_committed": InputAudioBufferCommittedEvent(
        type="input_audio_buffer.committed",
        event_id="event_C9z4",
        previous_item_id="item_C9x3",
        item_id="item_C9z2",
    ),
    "input_audio_buffer_cleared": InputAudioBufferClearedEvent(
        type="input_audio_buffer.cleared", event_id="event_C9z0"
    ),
    "input_audio_buffer_timeout_triggered": InputAudioBufferTimeoutTriggered(
        type="input_audio_buffer.timeout_triggered",
        event_id="event_Ca01",
        audio_start_ms=20000,
        audio_end_ms=26000,
        item_id="item_Ca02",
    ),
    "conversation_item_added": ConversationItemAdded(
        type="conversation.item.added",
        event_id="event_C9z5",
        previous_item_id="item_C9x3",
        item=USER_AUDIO,
    ),
    "conversation_item_done": ConversationItemDone(
        type="conversation.item.done", event_id="event_C9z6", item=USER_AUDIO
    ),
    "conversation_item_created": ConversationItemCreatedEvent(
        type="conversation.item.created", event_id="event_C9z7", item=FUNCTION_CALL
    ),
    "conversation_item_retrieved": ConversationItemRetrieved(
        type="conversation.item.retrieved", event_id="event_C9z8", item=ASSISTANT
    ),
    "conversation_item_deleted": ConversationItemDeletedEvent(
        type="conversation.item.deleted", event_id="event_C9z9", item_id="item_C9x3"
    ),
    "conversation_item_truncated": ConversationItemTruncatedEvent(
        type="conversation.item.truncated",
        event_id="event_Ca00",
        item_id="item_C9x3",
        content_index=0,
        audio_end_ms=1840,
    ),
    "conversation_item_input_audio_transcription_delta": (
        ConversationItemInputAudioTranscriptionDeltaEvent(
            type="conversation.item.input_audio_transcription.delta",
            event_id="event_Ca03",
            item_id="item_C9z2",
            content_index=0,
            delta="I'd like",
        )
    ),
    "conversation_item_input_audio_transcription_completed": (
        ConversationItemInputAudioTranscriptionCompletedEvent(
            type="conversation.item.input_audio_transcription.completed",
            event_id="event_Ca04",
            item_id="item_C9z2",
            content_index=0,
            transcript="I'd like to talk to billing.",
            usage=transcription_completed.UsageTranscriptTextUsageTokens(
                type="tokens",
                input_tokens=29,
                output_tokens=9,
                total_tokens=38,
                input_token_details=(
                    transcription_completed.UsageTranscriptTextUsageTokensInputTokenDetails(
                        text_tokens=0, audio_tokens=29
                    )
                ),
            ),
        )
    ),
    "conversation_item_input_audio_transcription_completed_duration": (
        ConversationItemInputAudioTranscriptionCompletedEvent(
            type="conversation.item.input_audio_transcription.completed",
            event_id="event_Ca05",
            item_id="item_C9z9",
            content_index=0,
            transcript="Yes.",
            usage=transcription_completed.UsageTranscriptTextUsageDuration(
                type="duration", seconds=1.2
            ),
        )
    ),
    "conversation_item_input_audio_transcription_failed": (
        ConversationItemInputAudioTranscriptionFailedEvent(
            type="conversation.item.input_audio_transcription.failed",
            event_id="event_Ca06",
            item_id="item_C9z2",
            content_index=0,
            error=failed.Error(type="server_error", code="transcription_failed", message="…"),
        )
    ),
    "response_created": ResponseCreatedEvent(
        type="response.created",
        event_id="event_3001",
        response=RealtimeResponse(
            id="resp_C9x1",
            object="realtime.response",
            status="in_progress",
            output=[],
            conversation_id="conv_C9w7",
            output_modalities=["audio"],
            max_output_tokens="inf",
        ),
    ),
    "response_done": ResponseDoneEvent(
        type="response.done",
        event_id="event_3003",
        response=RealtimeResponse(
            id="resp_C9x1",
            object="realtime.response",
            status="completed",
            output=[FUNCTION_CALL, ASSISTANT],
            conversation_id="conv_C9w7",
            output_modalities=["audio"],
            max_output_tokens="inf",
            metadata={"purpose": "greeting"},
            usage=USAGE,
        ),
    ),
    "response_done_cancelled": ResponseDoneEvent(
        type="response.done",
        event_id="event_3107",
        response=RealtimeResponse(
            id="resp_C9y1",
            object="realtime.response",
            status="cancelled",
            status_details=RealtimeResponseStatus(type="cancelled", reason="turn_detected"),
            output=[],
            usage=RealtimeResponseUsage(total_tokens=900, input_tokens=850, output_tokens=50),
        ),
    ),
    "rate_limits_updated": RateLimitsUpdatedEvent(
        type="rate_limits.updated",
        event_id="event_C9x0",
        rate_limits=[
            rate_limits.RateLimit(name="requests", limit=1000, remaining=999, reset_seconds=60),
            rate_limits.RateLimit(name="tokens", limit=50000, remaining=49134, reset_seconds=1.038),
        ],
    ),
    "response_output_item_added": ResponseOutputItemAddedEvent(
        type="response.output_item.added",
        event_id="event_C9x4",
        response_id="resp_C9x1",
        output_index=0,
        item=RealtimeConversationItemFunctionCall(
            id="item_C9x2",
            type="function_call",
            object="realtime.item",
            status="in_progress",
            name="transfer_call",
            call_id="call_Kx81",
            arguments="",
        ),
    ),
    "response_output_item_done": ResponseOutputItemDoneEvent(
        type="response.output_item.done",
        event_id="event_C9x7",
        response_id="resp_C9x1",
        output_index=0,
        item=FUNCTION_CALL,
    ),
    "response_content_part_added": ResponseContentPartAddedEvent(
        type="response.content_part.added",
        event_id="event_C9x9",
        part=part_added.Part(type="audio", transcript=""),
        **IDS,
    ),
    "response_content_part_done": ResponseContentPartDoneEvent(
        type="response.content_part.done",
        event_id="event_C9xe",
        part=part_done.Part(type="audio", transcript="Let me transfer you."),
        **IDS,
    ),
    "response_output_audio_delta": ResponseAudioDeltaEvent(
        type="response.output_audio.delta", event_id="event_C9xa", delta=FRAME, **IDS
    ),
    "response_output_audio_done": ResponseAudioDoneEvent(
        type="response.output_audio.done", event_id="event_C9xb", **IDS
    ),
    "response_output_audio_transcript_delta": ResponseAudioTranscriptDeltaEvent(
        type="response.output_audio_transcript.delta", event_id="event_C9xc", delta="Let me ", **IDS
    ),
    "response_output_audio_transcript_done": ResponseAudioTranscriptDoneEvent(
        type="response.output_audio_transcript.done",
        event_id="event_C9xd",
        transcript="Let me transfer you.",
        **IDS,
    ),
    "response_output_text_delta": ResponseTextDeltaEvent(
        type="response.output_text.delta", event_id="event_C9xf", delta="Let me ", **IDS
    ),
    "response_output_text_done": ResponseTextDoneEvent(
        type="response.output_text.done", event_id="event_C9xg", text="Let me transfer you.", **IDS
    ),
    "response_function_call_arguments_delta": ResponseFunctionCallArgumentsDeltaEvent(
        type="response.function_call_arguments.delta",
        event_id="event_C9x5",
        response_id="resp_C9x1",
        item_id="item_C9x2",
        output_index=0,
        call_id="call_Kx81",
        delta='{"reason":',
    ),
    "response_function_call_arguments_done": ResponseFunctionCallArgumentsDoneEvent(
        type="response.function_call_arguments.done",
        event_id="event_C9x6",
        response_id="resp_C9x1",
        item_id="item_C9x2",
        output_index=0,
        call_id="call_Kx81",
        name="transfer_call",
        arguments='{"reason":"billing"}',
    ),
    # Events hotline does not handle: they must parse as Unknown, never as an error.
    "unhandled_conversation_created": ConversationCreatedEvent(
        type="conversation.created",
        event_id="event_C9w5",
        conversation={"id": "conv_C9w7", "object": "realtime.conversation"},
    ),
    "unhandled_output_audio_buffer_started": OutputAudioBufferStarted(
        type="output_audio_buffer.started", event_id="event_Cb01", response_id="resp_C9x1"
    ),
    "unhandled_input_audio_buffer_dtmf_event_received": InputAudioBufferDtmfEventReceivedEvent(
        type="input_audio_buffer.dtmf_event_received", event="5", received_at=1767225600
    ),
    "unhandled_conversation_item_input_audio_transcription_segment": (
        ConversationItemInputAudioTranscriptionSegment(
            type="conversation.item.input_audio_transcription.segment",
            event_id="event_Cb02",
            id="seg_1",
            item_id="item_C9z2",
            content_index=0,
            start=0.0,
            end=1.5,
            speaker="A",
            text="Hello.",
        )
    ),
}


def write_pydantic_events():
    PYDANTIC.mkdir(parents=True, exist_ok=True)
    for old in PYDANTIC.glob("*.json"):
        old.unlink()
    for prefix, events in (("client", CLIENT_EVENTS), ("server", SERVER_EVENTS)):
        for name, event in events.items():
            text = event.model_dump_json(exclude_none=True, indent=2)
            (PYDANTIC / f"{prefix}_{name}.json").write_text(text + "\n")
    return len(CLIENT_EVENTS) + len(SERVER_EVENTS)


def undeclared_fields(value, path="$"):
    """Paths of fields a model accepted without declaring them (extra="allow")."""
    found = []
    if isinstance(value, BaseModel):
        found += [f"{path}.{key}" for key in (value.model_extra or {})]
        for name in type(value).model_fields:
            found += undeclared_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += undeclared_fields(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += undeclared_fields(item, f"{path}.{key}")
    return found


def validate_ours():
    unions = {
        "client": ("RealtimeClientEvent", TypeAdapter(RealtimeClientEvent)),
        "server": ("RealtimeServerEvent", TypeAdapter(RealtimeServerEvent)),
    }
    results = []
    for path in sorted(OURS.glob("*.json")):
        if path.name == "validation.json":
            continue
        direction = path.name.split("_", 1)[0]
        union, adapter = unions[direction]
        data = json.loads(path.read_text())
        result = {"file": path.name, "union": union, "validated": data}
        try:
            model = adapter.validate_python(data, strict=True)
        except ValidationError as e:
            result.update(
                ok=False,
                model=None,
                errors=[f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()],
                undeclared_fields=[],
                dumps_back_identically=False,
            )
        else:
            dumped = adapter.dump_python(model, mode="json", exclude_unset=True)
            extras = undeclared_fields(model)
            result.update(
                ok=not extras and dumped == data,
                model=type(model).__name__,
                errors=[],
                undeclared_fields=extras,
                dumps_back_identically=dumped == data,
            )
        results.append(result)
    report = {
        "generator": "shared/realtime/tests/vectors/generate.py",
        "openai_version": version("openai"),
        "pydantic_version": version("pydantic"),
        "results": results,
    }
    (OURS / "validation.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return results


def main():
    written = write_pydantic_events()
    print(f"wrote {written} pydantic events to {PYDANTIC}")
    results = validate_ours()
    failed = [r for r in results if not r["ok"]]
    print(f"validated {len(results)} of our events: {len(results) - len(failed)} ok")
    for r in failed:
        print(f"  FAIL {r['file']}: {r['errors'] or r['undeclared_fields'] or 'differs on dump'}")


if __name__ == "__main__":
    main()
