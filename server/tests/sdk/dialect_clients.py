"""The four client dialects, each driven through its official SDK behind one small
interface, so the tests can ask the same thing of every (client dialect x channel) pair:

    client.ask(model, conversation, tools=..., stream=...) -> Reply
    client.follow_up(conversation, reply, result)          -> the conversation with the tool result
    client.expected_usage(neutral)                         -> usage in the SDK's own terms

Every SDK gets an httpx2 client (what all three SDKs use) whose response hook keeps the
headers, so each test reads our `x-request-id` the same way, whole or streamed.
"""

import json
from dataclasses import dataclass, field

import anthropic
import httpx2
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

# The tests' own shell tool: an array-typed command, as Codex's `shell` has.
SHELL_SCHEMA = {"type": "object", "description": "Runs a command.",
                "properties": {"command": {"type": "array", "items": {"type": "string"},
                                           "description": "The command and its arguments."}},
                "required": ["command"]}
SHELL_DESCRIPTION = "Runs a shell command and returns its output."
MAX_TOKENS = 256


@dataclass
class Call:
    id: str | None
    name: str
    arguments: dict


@dataclass
class Reply:
    text: str
    calls: list[Call]
    finish: str | None
    usage: dict  # the SDK's own usage fields, absent ones as 0
    request_id: str | None
    headers: dict = field(default_factory=dict)


@dataclass
class Failure:
    """An error as the SDK raised it."""
    status: int
    message: str
    headers: dict
    request_id: str | None
    body: dict


class Seen:
    """httpx2 response hook: the headers of the latest response (one request at a time)."""

    def __init__(self):
        self.headers = {}

    def __call__(self, response):
        self.headers = dict(response.headers)

    def client(self):
        return httpx2.Client(event_hooks={"response": [self]}, timeout=60)


def _or0(value):
    return value or 0


class Client:
    dialect: str
    text_finish: str
    tool_finish: str

    def __init__(self, base: str, key: str):
        self.seen = Seen()
        self.sdk = self._sdk(base, key)

    def ask(self, model, conversation, *, tools=False, stream=False, **extra) -> Reply:
        reply = (self._stream if stream else self._whole)(model, conversation, tools, **extra)
        reply.request_id = self.seen.headers.get("x-request-id")
        reply.headers = self.seen.headers
        return reply

    def fail(self, model, conversation) -> Failure:
        """The error the SDK raises for this request (which must fail)."""
        try:
            self._whole(model, conversation, False)
        except self.error_class as error:
            return self._failure(error)
        raise AssertionError("the request did not fail")


# ------------------------------------------------------------------ OpenAI Chat Completions
class ChatClient(Client):
    dialect = "openai"
    text_finish, tool_finish = "stop", "tool_calls"
    error_class = openai.APIStatusError
    TOOLS = [{"type": "function", "function": {"name": "shell", "description": SHELL_DESCRIPTION,
                                               "parameters": SHELL_SCHEMA}}]

    def _sdk(self, base, key):
        # No retries: each request is exactly one request id.
        return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, http_client=self.seen.client())

    @staticmethod
    def start(prompt):
        return [{"role": "user", "content": prompt}]

    @staticmethod
    def follow_up(conversation, reply, result):
        call = reply.calls[0]
        return conversation + [
            {"role": "assistant", "content": reply.text or None, "tool_calls": [
                {"id": call.id, "type": "function",
                 "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}]},
            {"role": "tool", "tool_call_id": call.id, "content": result}]

    def _args(self, model, conversation, tools):
        return dict(model=model, messages=conversation, max_tokens=MAX_TOKENS,
                    **({"tools": self.TOOLS} if tools else {}))

    @staticmethod
    def usage(usage):
        prompt_details = usage.prompt_tokens_details
        completion_details = usage.completion_tokens_details
        return {"prompt_tokens": usage.prompt_tokens,
                "cached_tokens": _or0(prompt_details and prompt_details.cached_tokens),
                "completion_tokens": usage.completion_tokens,
                "reasoning_tokens": _or0(completion_details and completion_details.reasoning_tokens)}

    @staticmethod
    def expected_usage(n):
        return {"prompt_tokens": n["prompt"] + n["cache_read"] + n["cache_write"], "cached_tokens": n["cache_read"],
                "completion_tokens": n["completion"], "reasoning_tokens": n["reasoning"]}

    def _whole(self, model, conversation, tools):
        answer = self.sdk.chat.completions.create(**self._args(model, conversation, tools))
        choice = answer.choices[0]
        calls = [Call(c.id, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or []]
        return Reply(choice.message.content or "", calls, choice.finish_reason, self.usage(answer.usage), None)

    def _stream(self, model, conversation, tools):
        chunks = list(self.sdk.chat.completions.create(**self._args(model, conversation, tools), stream=True,
                                                       stream_options={"include_usage": True}))
        text, calls, finish = "", {}, None
        for chunk in chunks:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for delta in choice.delta.tool_calls or []:
                    # Accumulated as coding tools do: the name sent once, arguments in pieces.
                    call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                    call["id"] = delta.id or call["id"]
                    call["name"] += (delta.function and delta.function.name) or ""
                    call["arguments"] += (delta.function and delta.function.arguments) or ""
                finish = choice.finish_reason or finish
        # include_usage: the usage chunk comes last, with no choices.
        assert chunks[-1].usage is not None and not chunks[-1].choices, f"no usage chunk last: {chunks[-1]}"
        parsed = [Call(c["id"], c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())]
        return Reply(text, parsed, finish, self.usage(chunks[-1].usage), None)

    def _failure(self, error):
        return Failure(error.status_code, error.body.get("message"), self.seen.headers,
                       self.seen.headers.get("x-request-id"), error.body)


# ------------------------------------------------------------------ OpenAI Responses
class ResponsesClient(Client):
    dialect = "openai-responses"
    # Responses has no finish reason: a finished answer is `completed`, a tool call an item.
    text_finish = tool_finish = "completed"
    error_class = openai.APIStatusError
    TOOLS = [{"type": "function", "name": "shell", "description": SHELL_DESCRIPTION, "parameters": SHELL_SCHEMA}]
    _sdk = ChatClient._sdk
    _failure = ChatClient._failure

    @staticmethod
    def start(prompt):
        return [{"role": "user", "content": prompt}]

    @staticmethod
    def follow_up(conversation, reply, result):
        call = reply.calls[0]
        return conversation + [
            {"type": "function_call", "call_id": call.id, "name": call.name, "arguments": json.dumps(call.arguments)},
            {"type": "function_call_output", "call_id": call.id, "output": result}]

    def _args(self, model, conversation, tools):
        return dict(model=model, input=conversation, max_output_tokens=MAX_TOKENS,
                    **({"tools": self.TOOLS} if tools else {}))

    @staticmethod
    def usage(usage):
        return {"input_tokens": usage.input_tokens,
                "cached_tokens": _or0(usage.input_tokens_details and usage.input_tokens_details.cached_tokens),
                "output_tokens": usage.output_tokens,
                "reasoning_tokens": _or0(usage.output_tokens_details and usage.output_tokens_details.reasoning_tokens)}

    @staticmethod
    def expected_usage(n):
        return {"input_tokens": n["prompt"] + n["cache_read"] + n["cache_write"], "cached_tokens": n["cache_read"],
                "output_tokens": n["completion"], "reasoning_tokens": n["reasoning"]}

    def _reply(self, response, text=None):
        calls = [Call(item.call_id, item.name, json.loads(item.arguments))
                 for item in response.output if item.type == "function_call"]
        return Reply(response.output_text if text is None else text, calls, response.status,
                     self.usage(response.usage), None)

    def _whole(self, model, conversation, tools):
        return self._reply(self.sdk.responses.create(**self._args(model, conversation, tools)))

    def _stream(self, model, conversation, tools):
        events = list(self.sdk.responses.create(**self._args(model, conversation, tools), stream=True))
        kinds = [event.type for event in events]
        # What Codex needs of the stream (clients.md): created first, items announced
        # before their deltas, completed last with the response id and usage.
        assert kinds[0] == "response.created", kinds
        assert kinds[-1] == "response.completed", kinds
        added = set()
        text, arguments = "", {}
        for event in events:
            if event.type == "response.output_item.added":
                added.add(event.output_index)
            elif event.type in ("response.output_text.delta", "response.function_call_arguments.delta"):
                assert event.output_index in added, f"{event.type} before its output_item.added: {kinds}"
                if event.type == "response.output_text.delta":
                    text += event.delta
                else:
                    arguments[event.output_index] = arguments.get(event.output_index, "") + event.delta
        final = events[-1].response
        assert final.id and final.usage, final
        reply = self._reply(final, text)
        assert text == final.output_text, (text, final.output_text)
        calls = [item for item in final.output if item.type == "function_call"]
        assert [a for _, a in sorted(arguments.items())] == [c.arguments for c in calls], (arguments, calls)
        return reply


# ------------------------------------------------------------------ Anthropic Messages
class AnthropicClient(Client):
    dialect = "anthropic"
    text_finish, tool_finish = "end_turn", "tool_use"
    error_class = anthropic.APIStatusError
    TOOLS = [{"name": "shell", "description": SHELL_DESCRIPTION, "input_schema": SHELL_SCHEMA}]

    def _sdk(self, base, key):
        return anthropic.Anthropic(base_url=base, api_key=key, max_retries=0, http_client=self.seen.client())

    @staticmethod
    def start(prompt):
        return [{"role": "user", "content": prompt}]

    @staticmethod
    def follow_up(conversation, reply, result):
        call = reply.calls[0]
        said = [{"type": "text", "text": reply.text}] if reply.text else []
        return conversation + [
            {"role": "assistant", "content": said + [{"type": "tool_use", "id": call.id, "name": call.name,
                                                      "input": call.arguments}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": result}]}]

    def _args(self, model, conversation, tools, **extra):
        return dict(model=model, messages=conversation, max_tokens=MAX_TOKENS,
                    **({"tools": self.TOOLS} if tools else {}), **extra)

    @staticmethod
    def usage(usage):
        return {"input_tokens": usage.input_tokens, "cache_read_input_tokens": _or0(usage.cache_read_input_tokens),
                "cache_creation_input_tokens": _or0(usage.cache_creation_input_tokens),
                "output_tokens": usage.output_tokens}

    @staticmethod
    def expected_usage(n):
        return {"input_tokens": n["prompt"], "cache_read_input_tokens": n["cache_read"],
                "cache_creation_input_tokens": n["cache_write"], "output_tokens": n["completion"]}

    def _reply(self, message):
        text = "".join(block.text for block in message.content if block.type == "text")
        calls = [Call(block.id, block.name, block.input) for block in message.content if block.type == "tool_use"]
        return Reply(text, calls, message.stop_reason, self.usage(message.usage), None)

    def _whole(self, model, conversation, tools, **extra):
        return self._reply(self.sdk.messages.create(**self._args(model, conversation, tools, **extra)))

    def _stream(self, model, conversation, tools, **extra):
        raw = ("message_start", "content_block_start", "content_block_delta", "content_block_stop",
               "message_delta", "message_stop")
        with self.sdk.messages.stream(**self._args(model, conversation, tools, **extra)) as stream:
            events = [event for event in stream if event.type in raw]
            final = stream.get_final_message()
        kinds = [event.type for event in events]
        # What Claude Code's SDK needs (clients.md): one message_start first, each block
        # opened before its deltas, indices in order, message_delta (with usage) last.
        assert kinds[0] == "message_start" and kinds.count("message_start") == 1, kinds
        assert kinds[-2:] == ["message_delta", "message_stop"], kinds
        opened = []
        for event in events:
            if event.type == "content_block_start":
                assert event.index == len(opened), f"block index {event.index} out of order: {kinds}"
                opened.append(event.index)
            elif event.type in ("content_block_delta", "content_block_stop"):
                assert event.index in opened, f"{event.type} for unopened block {event.index}: {kinds}"
        assert events[-2].usage.output_tokens, events[-2]
        for block in final.content:  # no tool call with empty arguments (a known relay bug)
            if block.type == "tool_use":
                assert block.input, final
        return self._reply(final)

    def count_tokens(self, model, conversation) -> int:
        return self.sdk.messages.count_tokens(model=model, messages=conversation).input_tokens

    def _failure(self, error):
        inner = (error.body or {}).get("error", {})
        return Failure(error.status_code, inner.get("message"), self.seen.headers,
                       self.seen.headers.get("x-request-id"), error.body)


# ------------------------------------------------------------------ Gemini
class GeminiClient(Client):
    dialect = "gemini"
    # Gemini ends a function call with STOP too: the call is in the parts.
    text_finish = tool_finish = "STOP"
    error_class = genai_errors.APIError

    def __init__(self, base, key, api_version=None, json_schema=False):
        self.api_version, self.json_schema = api_version, json_schema
        super().__init__(base, key)

    def _sdk(self, base, key):
        options = types.HttpOptions(base_url=base, httpx_client=self.seen.client(),
                                    **({"api_version": self.api_version} if self.api_version else {}))
        return genai.Client(api_key=key, http_options=options)

    def _tool(self):
        if self.json_schema:  # what Gemini CLI sends: plain JSON Schema
            declaration = types.FunctionDeclaration(name="shell", description=SHELL_DESCRIPTION,
                                                    parameters_json_schema=SHELL_SCHEMA)
        else:  # the SDK's typed Schema: Gemini's OpenAPI subset, types in capitals
            declaration = types.FunctionDeclaration(name="shell", description=SHELL_DESCRIPTION, parameters=types.Schema(
                type="OBJECT", properties={"command": types.Schema(type="ARRAY", items=types.Schema(type="STRING"),
                                                                   description="The command and its arguments.")},
                required=["command"]))
        return types.Tool(function_declarations=[declaration])

    @staticmethod
    def start(prompt):
        return [types.Content(role="user", parts=[types.Part(text=prompt)])]

    @staticmethod
    def follow_up(conversation, reply, result):
        call = reply.calls[0]
        said = [types.Part(text=reply.text)] if reply.text else []
        return conversation + [
            types.Content(role="model", parts=said + [types.Part(function_call=types.FunctionCall(
                id=call.id, name=call.name, args=call.arguments))]),
            types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                id=call.id, name=call.name, response={"output": result}))])]

    def _config(self, tools):
        return types.GenerateContentConfig(
            max_output_tokens=MAX_TOKENS, tools=[self._tool()] if tools else None,
            # The SDK would call Python functions itself; the test wants to see the call.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))

    @staticmethod
    def usage(usage):
        return {"prompt_token_count": usage.prompt_token_count,
                "cached_content_token_count": _or0(usage.cached_content_token_count),
                "candidates_token_count": _or0(usage.candidates_token_count),
                "thoughts_token_count": _or0(usage.thoughts_token_count)}

    @staticmethod
    def expected_usage(n):
        # candidatesTokenCount excludes the thoughts.
        return {"prompt_token_count": n["prompt"] + n["cache_read"] + n["cache_write"],
                "cached_content_token_count": n["cache_read"],
                "candidates_token_count": n["completion"] - n["reasoning"], "thoughts_token_count": n["reasoning"]}

    @staticmethod
    def _parts(response):
        candidate = (response.candidates or [None])[0]
        return (candidate and candidate.content and candidate.content.parts) or [], candidate

    def _whole(self, model, conversation, tools):
        response = self.sdk.models.generate_content(model=model, contents=conversation, config=self._config(tools))
        parts, candidate = self._parts(response)
        text = "".join(part.text or "" for part in parts if not part.thought)
        calls = [Call(p.function_call.id, p.function_call.name, p.function_call.args) for p in parts if p.function_call]
        finish = candidate.finish_reason and candidate.finish_reason.value
        return Reply(text, calls, finish, self.usage(response.usage_metadata), None)

    def _stream(self, model, conversation, tools):
        chunks = list(self.sdk.models.generate_content_stream(model=model, contents=conversation,
                                                              config=self._config(tools)))
        text, calls, finish = "", [], None
        for chunk in chunks:
            parts, candidate = self._parts(chunk)
            text += "".join(part.text or "" for part in parts if not part.thought)
            calls += [Call(p.function_call.id, p.function_call.name, p.function_call.args)
                      for p in parts if p.function_call]
            finish = (candidate and candidate.finish_reason and candidate.finish_reason.value) or finish
        assert chunks[-1].usage_metadata, f"no usageMetadata in the last event: {chunks[-1]}"
        return Reply(text, calls, finish, self.usage(chunks[-1].usage_metadata), None)

    def count_tokens(self, model, conversation) -> int:
        return self.sdk.models.count_tokens(model=model, contents=conversation).total_tokens

    def _failure(self, error):
        return Failure(error.code, error.message, self.seen.headers, self.seen.headers.get("x-request-id"),
                       error.details)


CLIENTS = {client.dialect: client for client in (ChatClient, ResponsesClient, AnthropicClient, GeminiClient)}
DIALECTS = tuple(CLIENTS)
