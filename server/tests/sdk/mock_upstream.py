"""A scripted mock provider for the SDK and CLI tests: one loopback HTTP server that speaks
the four upstream protocols Tollgate's channels call (OpenAI Chat Completions, OpenAI
Responses, Anthropic Messages, Gemini), whole and streamed, and records every request.

The script, the same in every protocol (so a test can tell a translation bug from a mock
quirk):
- the conversation holds a tool result   -> text `final: <result>`;
- tools are offered and the latest user input says "tool" -> ONE call to the shell-like tool,
  arguments built from that tool's own JSON schema (so Codex's and Claude Code's real tools
  work as well as the tests' `shell`);
- the latest user input says FAIL-400    -> a 400 in the protocol's own error shape;
- a tool schema the real provider would refuse (JSON Schema types in capitals on OpenAI or
  Anthropic; keywords outside Gemini's OpenAPI subset in Gemini's `parameters`) -> a 400 too,
  as the real provider answers: a gateway that translates schemas carelessly fails here;
- otherwise                              -> text `Hello from <protocol>`.
Every answer reports the same usage in the protocol's own terms, cached tokens included.
"""

import base64
import hashlib
import itertools
import json
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

MARKER = "TOOL-RAN-42"
ERROR_MESSAGE = "mock upstream: prompt is too long: 999999 tokens > 200000 maximum (FAIL-400)"
COUNT_TOKENS = 1234
EMBEDDING_TOKENS_PER_INPUT = 7
RATELIMIT_HEADER = ("anthropic-ratelimit-requests-remaining", "99")
PROTOCOLS = ("openai", "openai-responses", "anthropic", "gemini")
CREDENTIALS = {protocol: f"mock-credential-{protocol}" for protocol in PROTOCOLS}

# One usage, reported in each protocol's own terms. In the gateway's neutral terms
# (uncached prompt, cache read, cache write, completion, reasoning) it is NEUTRAL_USAGE.
USAGE = {
    "openai": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050,
               "prompt_tokens_details": {"cached_tokens": 800},
               "completion_tokens_details": {"reasoning_tokens": 10}},
    "openai-responses": {"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 800},
                         "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 10},
                         "total_tokens": 1050},
    "anthropic": {"input_tokens": 200, "cache_read_input_tokens": 800,
                  "cache_creation_input_tokens": 100, "output_tokens": 50},
    # Gemini's candidatesTokenCount excludes the thoughts: completion = 40 + 10.
    "gemini": {"promptTokenCount": 1000, "cachedContentTokenCount": 800, "candidatesTokenCount": 40,
               "thoughtsTokenCount": 10, "totalTokenCount": 1050},
}
NEUTRAL_USAGE = {
    "openai": dict(prompt=200, cache_read=800, cache_write=0, completion=50, reasoning=10),
    "openai-responses": dict(prompt=200, cache_read=800, cache_write=0, completion=50, reasoning=10),
    "anthropic": dict(prompt=200, cache_read=800, cache_write=100, completion=50, reasoning=0),
    "gemini": dict(prompt=200, cache_read=800, cache_write=0, completion=50, reasoning=10),
}

# Context blocks the CLIs wrap around the user's words (<system-reminder>,
# <environment_context>, ...): not what the user said, so the script ignores them.
_CONTEXT_BLOCK = re.compile(r"<([A-Za-z_][\w-]*)[^>]*>.*?</\1>", re.S)
_SHELL_NAME = re.compile(r"shell|exec|bash", re.I)


@dataclass
class Recorded:
    path: str
    query: dict
    headers: dict  # lower-cased names
    body: dict


@dataclass
class Turn:
    """A request seen protocol-neutrally: what the script decides on."""
    tools: list = field(default_factory=list)  # [(name, json schema)]
    user_texts: list = field(default_factory=list)  # in order
    tool_results: list = field(default_factory=list)  # texts, in order
    refused: list = field(default_factory=list)  # why the real provider would refuse the request

    def latest_user_input(self) -> str:
        for text in reversed(self.user_texts):
            words = _CONTEXT_BLOCK.sub("", text).strip()
            if words:
                return words
        return ""


@dataclass
class Answer:
    text: str | None = None
    tool: str | None = None
    arguments: dict | None = None
    error: str | None = None  # a 400 with this message


def lowercase_types(schema):
    """Gemini's OpenAPI subset writes types in capitals (STRING, ARRAY)."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, list):  # ["string", "null"]
        kind = next((k for k in kind if k != "null"), None)
    return kind.lower() if isinstance(kind, str) else None


def shell_arguments(schema: dict) -> dict | None:
    """Arguments that make this tool run `echo MARKER`, or None if it takes no command."""
    properties = (schema or {}).get("properties") or {}
    name = next((n for n in ("command", "cmd") if n in properties), None)
    if name is None:
        return None
    if lowercase_types(properties[name]) == "array":
        arguments = {name: ["echo", MARKER]}
    else:
        arguments = {name: f"echo {MARKER}"}
    # Fill any other required property so a strict client accepts the call.
    for other in (schema.get("required") or []):
        if other in arguments or other not in properties:
            continue
        kind = lowercase_types(properties[other])
        arguments[other] = {"array": [], "boolean": False, "integer": 10000, "number": 10000,
                            "object": {}}.get(kind, "Print the marker")
    return arguments


def pick_shell_tool(tools) -> tuple[str, dict] | None:
    for name, schema in tools:
        if _SHELL_NAME.search(name or ""):
            arguments = shell_arguments(schema)
            if arguments is not None:
                return name, arguments
    return None


JSON_SCHEMA_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
# Gemini's Schema object (the `parameters` of a function declaration); anything else there,
# e.g. additionalProperties or $schema, is an "Unknown name" 400 from the real API.
GEMINI_SCHEMA_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
                        "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
                        "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
                        "maximum", "max_items", "min_items", "property_ordering", "any_of"}


def subschemas(schema: dict):
    yield schema
    for child in (schema.get("properties") or {}).values():
        yield from subschemas(child)
    for key in ("items",):
        if isinstance(schema.get(key), dict):
            yield from subschemas(schema[key])
    for child in schema.get("anyOf") or schema.get("oneOf") or []:
        yield from subschemas(child)


def json_schema_problems(name: str, schema: dict) -> list[str]:
    problems = []
    for part in subschemas(schema or {}):
        kinds = part.get("type")
        for kind in kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []:
            if kind not in JSON_SCHEMA_TYPES:
                problems.append(f"Invalid schema for function '{name}': {kind!r} is not a valid JSON Schema type")
    return problems


def gemini_schema_problems(name: str, schema: dict) -> list[str]:
    problems = []
    for part in subschemas(schema or {}):
        for key in set(part) - GEMINI_SCHEMA_FIELDS:
            problems.append(f"Invalid JSON payload received. Unknown name \"{key}\" at "
                            f"'tools[0].function_declarations[{name}].parameters'")
    return problems


def decide(turn: Turn, protocol: str) -> Answer:
    if turn.refused:
        return Answer(error=turn.refused[0])
    if turn.tool_results:
        result = turn.tool_results[-1].strip()
        # A CLI wraps the command's output ("Exit code: 0 ... Output: TOOL-RAN-42"): the
        # marker alone is what the test looks for in the CLI's stdout.
        return Answer(text=f"final: {MARKER if MARKER in result else result}")
    said = turn.latest_user_input()
    if "FAIL-400" in said:
        return Answer(error=ERROR_MESSAGE)
    if re.search(r"\btool\b", said, re.I):
        picked = pick_shell_tool(turn.tools)
        if picked:
            return Answer(tool=picked[0], arguments=picked[1])
    return Answer(text=f"Hello from {protocol}")


def text_of(content) -> str:
    """Text of a content value in any protocol: a string, or a list of text-bearing parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return content.get("text") or ""
    return "".join(text_of(part) for part in content if isinstance(part, (dict, str)))


def fragments(text: str) -> list[str]:
    """Stream pieces: word by word for text."""
    return re.findall(r"\S+\s*", text) or [text]


def halves(arguments: str) -> list[str]:
    """Tool arguments in (at least) two pieces, as real providers stream them."""
    middle = max(1, len(arguments) // 2)
    return [arguments[:middle], arguments[middle:]]


def sse(data: dict, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


ids = itertools.count(1)


# ------------------------------------------------------------------ OpenAI Chat Completions
class OpenAIChat:
    name = "openai"

    @staticmethod
    def authorized(headers, query):
        return headers.get("authorization") == f"Bearer {CREDENTIALS['openai']}"

    @staticmethod
    def parse(body) -> Turn:
        turn = Turn()
        for tool in body.get("tools") or []:
            function = tool.get("function") or {}
            turn.tools.append((function.get("name"), function.get("parameters") or {}))
            turn.refused += json_schema_problems(function.get("name"), function.get("parameters"))
        for message in body.get("messages") or []:
            if message.get("role") == "user":
                turn.user_texts.append(text_of(message.get("content")))
            elif message.get("role") == "tool":
                turn.tool_results.append(text_of(message.get("content")))
        return turn

    @staticmethod
    def whole(answer: Answer, model, n):
        message = {"role": "assistant", "content": answer.text}
        if answer.tool:
            message["tool_calls"] = [{"id": f"call_mock_{n}", "type": "function", "function": {
                "name": answer.tool, "arguments": json.dumps(answer.arguments)}}]
        return {"id": f"chatcmpl-mock-{n}", "object": "chat.completion", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "message": message, "logprobs": None,
                                             "finish_reason": "tool_calls" if answer.tool else "stop"}],
                "usage": USAGE["openai"]}

    @staticmethod
    def stream(answer: Answer, model, n, body) -> Iterator[str]:
        def chunk(delta, finish=None):
            return sse({"id": f"chatcmpl-mock-{n}", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": model,
                        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})
        if answer.tool:
            yield chunk({"role": "assistant", "content": None, "tool_calls": [{
                "index": 0, "id": f"call_mock_{n}", "type": "function",
                "function": {"name": answer.tool, "arguments": ""}}]})
            for piece in halves(json.dumps(answer.arguments)):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            yield chunk({}, "tool_calls")
        else:
            yield chunk({"role": "assistant", "content": ""})
            for piece in fragments(answer.text):
                yield chunk({"content": piece})
            yield chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield sse({"id": f"chatcmpl-mock-{n}", "object": "chat.completion.chunk", "created": int(time.time()),
                       "model": model, "choices": [], "usage": USAGE["openai"]})
        yield "data: [DONE]\n\n"

    @staticmethod
    def error(message):
        return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                          "code": "context_length_exceeded"}}


# ------------------------------------------------------------------ OpenAI Responses
class OpenAIResponses:
    name = "openai-responses"

    @staticmethod
    def authorized(headers, query):
        return headers.get("authorization") == f"Bearer {CREDENTIALS['openai-responses']}"

    @staticmethod
    def parse(body) -> Turn:
        turn = Turn()
        for tool in body.get("tools") or []:
            if tool.get("type") == "function":
                turn.tools.append((tool.get("name"), tool.get("parameters") or {}))
                turn.refused += json_schema_problems(tool.get("name"), tool.get("parameters"))
        items = body.get("input")
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        for item in items or []:
            kind = item.get("type", "message")
            if kind == "message" and item.get("role") == "user":
                turn.user_texts.append(text_of(item.get("content")))
            elif kind in ("function_call_output", "custom_tool_call_output"):
                turn.tool_results.append(text_of(item.get("output")))
        return turn

    @staticmethod
    def item(answer: Answer, n, done=True):
        status = "completed" if done else "in_progress"
        if answer.tool:
            return {"id": f"fc_mock_{n}", "type": "function_call", "status": status, "call_id": f"call_mock_{n}",
                    "name": answer.tool, "arguments": json.dumps(answer.arguments) if done else ""}
        content = [{"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}] if done else []
        return {"id": f"msg_mock_{n}", "type": "message", "role": "assistant", "status": status, "content": content}

    @classmethod
    def response(cls, answer, model, n, done=True):
        return {"id": f"resp_mock_{n}", "object": "response", "created_at": int(time.time()), "model": model,
                "status": "completed" if done else "in_progress", "error": None, "incomplete_details": None,
                "instructions": None, "metadata": {}, "parallel_tool_calls": True, "temperature": 1.0,
                "top_p": 1.0, "tool_choice": "auto", "tools": [], "text": {"format": {"type": "text"}},
                "output": [cls.item(answer, n)] if done else [],
                "usage": USAGE["openai-responses"] if done else None}

    @classmethod
    def whole(cls, answer, model, n):
        return cls.response(answer, model, n)

    @classmethod
    def stream(cls, answer: Answer, model, n, body) -> Iterator[str]:
        sequence = itertools.count()

        def event(kind, **fields):
            return sse({"type": kind, "sequence_number": next(sequence), **fields}, kind)
        yield event("response.created", response=cls.response(answer, model, n, done=False))
        yield event("response.in_progress", response=cls.response(answer, model, n, done=False))
        item = cls.item(answer, n)
        yield event("response.output_item.added", output_index=0, item=cls.item(answer, n, done=False))
        if answer.tool:
            for piece in halves(item["arguments"]):
                yield event("response.function_call_arguments.delta", item_id=item["id"], output_index=0, delta=piece)
            yield event("response.function_call_arguments.done", item_id=item["id"], output_index=0,
                        name=answer.tool, arguments=item["arguments"])
        else:
            where = dict(item_id=item["id"], output_index=0, content_index=0)
            yield event("response.content_part.added", **where,
                        part={"type": "output_text", "text": "", "annotations": []})
            for piece in fragments(answer.text):
                yield event("response.output_text.delta", **where, delta=piece, logprobs=[])
            yield event("response.output_text.done", **where, text=answer.text, logprobs=[])
            yield event("response.content_part.done", **where, part=item["content"][0])
        yield event("response.output_item.done", output_index=0, item=item)
        yield event("response.completed", response=cls.response(answer, model, n))

    error = staticmethod(OpenAIChat.error)  # the same error shape as Chat Completions


# ------------------------------------------------------------------ Anthropic Messages
class Anthropic:
    name = "anthropic"

    @staticmethod
    def authorized(headers, query):
        # Anthropic takes x-api-key, and a Bearer token too (what its SDK 2.x sends).
        return CREDENTIALS["anthropic"] in (headers.get("x-api-key"), headers.get("authorization", "")[7:])

    @staticmethod
    def parse(body) -> Turn:
        turn = Turn()
        for tool in body.get("tools") or []:
            if "input_schema" in tool:  # custom tools; server tools have no schema
                turn.tools.append((tool.get("name"), tool["input_schema"]))
                turn.refused += json_schema_problems(tool.get("name"), tool["input_schema"])
        for message in body.get("messages") or []:
            if message.get("role") != "user":
                continue
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
            for block in blocks:
                if block.get("type") == "text":
                    turn.user_texts.append(block.get("text") or "")
                elif block.get("type") == "tool_result":
                    turn.tool_results.append(text_of(block.get("content")))
        return turn

    @staticmethod
    def block(answer: Answer, n):
        if answer.tool:
            return {"type": "tool_use", "id": f"toolu_mock_{n}", "name": answer.tool, "input": answer.arguments}
        return {"type": "text", "text": answer.text}

    @classmethod
    def whole(cls, answer, model, n):
        return {"id": f"msg_mock_{n}", "type": "message", "role": "assistant", "model": model,
                "content": [cls.block(answer, n)], "stop_reason": "tool_use" if answer.tool else "end_turn",
                "stop_sequence": None, "usage": USAGE["anthropic"]}

    @classmethod
    def stream(cls, answer: Answer, model, n, body) -> Iterator[str]:
        usage = USAGE["anthropic"]
        # Input usage in message_start, output in message_delta: the classic split that
        # a gateway has to merge.
        start_usage = {**usage, "output_tokens": 1}
        yield sse({"type": "message_start", "message": {**cls.whole(answer, model, n), "content": [],
                                                          "stop_reason": None, "usage": start_usage}},
                  "message_start")
        block = cls.block(answer, n)
        opened = {**block, "input": {}} if answer.tool else {**block, "text": ""}
        yield sse({"type": "content_block_start", "index": 0, "content_block": opened}, "content_block_start")
        yield sse({"type": "ping"}, "ping")
        if answer.tool:
            pieces = [{"type": "input_json_delta", "partial_json": p} for p in halves(json.dumps(answer.arguments))]
        else:
            pieces = [{"type": "text_delta", "text": p} for p in fragments(answer.text)]
        for delta in pieces:
            yield sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
        yield sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        yield sse({"type": "message_delta", "delta": {"stop_reason": "tool_use" if answer.tool else "end_turn",
                                                     "stop_sequence": None},
                   "usage": {"output_tokens": usage["output_tokens"]}}, "message_delta")
        yield sse({"type": "message_stop"}, "message_stop")

    @staticmethod
    def error(message):
        return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


# ------------------------------------------------------------------ Gemini
class Gemini:
    name = "gemini"

    @staticmethod
    def authorized(headers, query):
        return CREDENTIALS["gemini"] in (headers.get("x-goog-api-key"), (query.get("key") or [None])[0])

    @staticmethod
    def parse(body) -> Turn:
        turn = Turn()
        for tool in body.get("tools") or []:
            for declaration in tool.get("functionDeclarations") or tool.get("function_declarations") or []:
                schema = next((declaration[k] for k in ("parametersJsonSchema", "parameters_json_schema", "parameters")
                               if declaration.get(k)), {})
                turn.tools.append((declaration.get("name"), schema))
                if "parameters" in declaration:  # parametersJsonSchema takes any JSON Schema
                    turn.refused += gemini_schema_problems(declaration.get("name"), declaration["parameters"])
        for content in body.get("contents") or []:
            if content.get("role", "user") != "user":
                continue
            for part in content.get("parts") or []:
                if "text" in part:
                    turn.user_texts.append(part["text"])
                response = part.get("functionResponse") or part.get("function_response")
                if response is not None:
                    value = response.get("response")
                    # {"output": "..."} / {"result": "..."}: the one string is the result.
                    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), str):
                        value = next(iter(value.values()))
                    turn.tool_results.append(value if isinstance(value, str) else json.dumps(value))
        return turn

    @staticmethod
    def candidate(parts, finish=None):
        candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return candidate

    @classmethod
    def parts(cls, answer):
        if answer.tool:
            return [{"functionCall": {"name": answer.tool, "args": answer.arguments}}]
        return [{"text": answer.text}]

    @classmethod
    def whole(cls, answer, model, n):
        return {"candidates": [cls.candidate(cls.parts(answer), "STOP")], "usageMetadata": USAGE["gemini"],
                "modelVersion": model, "responseId": f"mock-gemini-{n}"}

    @classmethod
    def stream(cls, answer: Answer, model, n, body) -> Iterator[str]:
        # Gemini sends a function call whole, in one event; text comes in pieces. The last
        # event carries the finish reason and the usage.
        pieces = cls.parts(answer) if answer.tool else [{"text": p} for p in fragments(answer.text)]
        for index, part in enumerate(pieces):
            last = index == len(pieces) - 1
            event = {"candidates": [cls.candidate([part], "STOP" if last else None)],
                     "modelVersion": model, "responseId": f"mock-gemini-{n}"}
            if last:
                event["usageMetadata"] = USAGE["gemini"]
            yield sse(event)

    @staticmethod
    def error(message):
        return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}


PROTOCOL = {protocol.name: protocol for protocol in (OpenAIChat, OpenAIResponses, Anthropic, Gemini)}


def embedding(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(byte / 255, 6) for byte in digest[:8]]


# ------------------------------------------------------------------ the server
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mock: "MockUpstream"

    def log_message(self, *args):  # quiet: pytest shows what fails
        pass

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _send(self, status, payload: dict, extra_headers=()):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, events, extra_headers=()):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        for event in events:  # one HTTP chunk per event, flushed: a real stream, not a buffer
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            time.sleep(0.002)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        self._send(404, {"error": {"message": f"mock upstream: no GET {self.path}"}})

    def do_POST(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        headers = {name.lower(): value for name, value in self.headers.items()}
        raw = self._body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode(errors="replace")}
        self.mock.record(Recorded(url.path, query, headers, body))
        n = next(ids)
        common = [("x-request-id", f"mock-req-{n}")]
        path = url.path

        gemini = re.fullmatch(r"/v1(?:beta)?/models/([^/:]+):(generateContent|streamGenerateContent|countTokens)", path)
        if path == "/v1/chat/completions":
            protocol, model, streamed = OpenAIChat, body.get("model"), bool(body.get("stream"))
        elif path == "/v1/responses":
            protocol, model, streamed = OpenAIResponses, body.get("model"), bool(body.get("stream"))
        elif path in ("/v1/messages", "/v1/messages/count_tokens"):
            protocol, model, streamed = Anthropic, body.get("model"), bool(body.get("stream"))
            common.append(RATELIMIT_HEADER)
            common.append(("request-id", f"req_mock_{n}"))
        elif gemini:
            protocol, model, streamed = Gemini, gemini.group(1), gemini.group(2) == "streamGenerateContent"
        elif path == "/v1/embeddings":
            protocol, model, streamed = OpenAIChat, body.get("model"), False
        else:
            return self._send(404, {"error": {"message": f"mock upstream: no route {path}"}}, common)

        if not protocol.authorized(headers, query):
            return self._send(401, protocol.error("mock upstream: wrong credential"), common)
        if path == "/v1/embeddings":
            return self._send(200, self._embeddings(body, model), common)
        if path.endswith("count_tokens"):
            return self._send(200, {"input_tokens": COUNT_TOKENS}, common)
        if gemini and gemini.group(2) == "countTokens":
            return self._send(200, {"totalTokens": COUNT_TOKENS}, common)

        answer = decide(protocol.parse(body), protocol.name)
        if answer.error:
            return self._send(400, protocol.error(answer.error), common)
        if streamed:
            return self._send_stream(protocol.stream(answer, model, n, body), common)
        return self._send(200, protocol.whole(answer, model, n), common)

    @staticmethod
    def _embeddings(body, model):
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs or []
        data = []
        for index, text in enumerate(inputs):
            vector = embedding(str(text))
            if body.get("encoding_format") == "base64":  # what the openai SDK asks for by default
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = EMBEDDING_TOKENS_PER_INPUT * len(inputs)
        return {"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


class MockUpstream:
    """The mock on 127.0.0.1:<free port>, serving from a daemon thread."""

    def __init__(self):
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"mock": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def record(self, request: Recorded):
        with self._lock:
            self.requests.append(request)

    def seen(self, needle: str) -> list[Recorded]:
        """Requests whose body mentions `needle` (a test's nonce): concurrent tests share the mock."""
        with self._lock:
            return [r for r in self.requests if needle in json.dumps(r.body)]

    def tool_results(self, needle: str, protocol: str) -> list[str]:
        """The tool results that reached the mock in requests mentioning `needle`."""
        return [result for request in self.seen(needle) for result in PROTOCOL[protocol].parse(request.body).tool_results]

    def channel_base_url(self, protocol: str) -> str:
        # Tollgate appends /chat/completions, /responses and /embeddings to an OpenAI
        # base URL, and /v1/messages or /v1beta/models/... to the others.
        return f"{self.base}/v1" if protocol.startswith("openai") else self.base
