"""Every client dialect against every channel protocol, through the official SDKs:
same dialect passes through, different dialects are translated through the hub, whole and
streamed, tools included. The mock provider (mock_upstream.py) answers the same script in
every protocol, so each (client x channel) pair must show the client the same thing in its
own terms, and leave the same usage row."""

import itertools
import uuid

import httpx
import openai
import pytest

from conftest import cost, expected_row
from dialect_clients import CLIENTS, DIALECTS
from mock_upstream import COUNT_TOKENS, EMBEDDING_TOKENS_PER_INPUT, ERROR_MESSAGE, MARKER, NEUTRAL_USAGE, embedding

PAIRS = list(itertools.product(DIALECTS, DIALECTS))
PAIR_IDS = [f"{client}-client-on-{channel}" for client, channel in PAIRS]
STREAMED = pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
EVERY_PAIR = pytest.mark.parametrize("client_dialect,channel", PAIRS, ids=PAIR_IDS)


def nonce() -> str:
    """Marks one test's requests in the mock's log: tests share the mock."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def make_client(tollgate, api_key):
    def make(dialect, **options):
        return CLIENTS[dialect](tollgate.base, api_key, **options)
    return make


def check_row(tollgate, upstreams, reply, client_dialect, channel, stream):
    """The usage row of a mock answer: the contract's token classes, cost and dialects."""
    row = tollgate.usage(reply.request_id)
    expected = {"status": 200, "client_dialect": client_dialect, "channel_dialect": channel,
                "channel_id": upstreams.channels[channel], "stream": stream, **expected_row(channel)}
    assert {name: row.get(name) for name in expected} == expected, row
    # The upstream's own id, from the mock's x-request-id (or Anthropic's request-id).
    assert str(row.get("upstream_request_id") or "").startswith(("mock-req-", "req_mock_")), row


def check_reached_upstream(mock, tag, channel):
    """The request went to the channel's own endpoint, with the upstream model name."""
    seen = mock.seen(tag)
    assert seen, f"no request with {tag} reached the mock"
    for request in seen:
        if channel == "gemini":
            assert "/models/up-gemini:" in request.path, request.path
        else:
            assert request.body.get("model") == f"up-{channel}", request.body


@EVERY_PAIR
@STREAMED
def test_text_answer(tollgate, upstreams, mock, make_client, client_dialect, channel, stream):
    client, tag = make_client(client_dialect), nonce()
    reply = client.ask(upstreams.model(channel), client.start(f"say hello ({tag})"), stream=stream)
    assert (reply.text, reply.calls, reply.finish) == (f"Hello from {channel}", [], client.text_finish)
    assert reply.usage == client.expected_usage(NEUTRAL_USAGE[channel])
    check_row(tollgate, upstreams, reply, client_dialect, channel, stream)
    check_reached_upstream(mock, tag, channel)


@EVERY_PAIR
@STREAMED
def test_tool_round_trip(tollgate, upstreams, mock, make_client, client_dialect, channel, stream):
    client, tag, model = make_client(client_dialect), nonce(), upstreams.model(channel)
    conversation = client.start(f"please use the tool ({tag})")
    call = client.ask(model, conversation, tools=True, stream=stream)
    assert [(c.name, c.arguments) for c in call.calls] == [("shell", {"command": ["echo", MARKER]})], call
    assert call.finish == client.tool_finish
    assert call.usage == client.expected_usage(NEUTRAL_USAGE[channel])
    check_row(tollgate, upstreams, call, client_dialect, channel, stream)

    final = client.ask(model, client.follow_up(conversation, call, MARKER), tools=True, stream=stream)
    assert (final.text, final.calls, final.finish) == (f"final: {MARKER}", [], client.text_finish)
    check_row(tollgate, upstreams, final, client_dialect, channel, stream)
    check_reached_upstream(mock, tag, channel)


@pytest.mark.parametrize("channel", DIALECTS)
def test_gemini_json_schema_tools(upstreams, make_client, channel):
    """Gemini CLI declares tools with parametersJsonSchema, not the typed Schema."""
    client = make_client("gemini", json_schema=True)
    call = client.ask(upstreams.model(channel), client.start("please use the tool"), tools=True)
    assert [(c.name, c.arguments) for c in call.calls] == [("shell", {"command": ["echo", MARKER]})], call


@EVERY_PAIR
def test_upstream_4xx_reaches_the_client_unchanged(tollgate, upstreams, make_client, client_dialect, channel):
    client = make_client(client_dialect)
    failure = client.fail(upstreams.model(channel), client.start("FAIL-400 this request"))
    assert (failure.status, failure.message) == (400, ERROR_MESSAGE), failure
    assert failure.headers.get("x-tollgate-error-source") == "upstream", failure.headers
    if client_dialect != "gemini":  # Google's envelope has no room for our fields
        inner = failure.body.get("error", failure.body)
        assert inner.get("layer") == "upstream", failure.body
    row = tollgate.usage(failure.request_id)
    assert (row["status"], row["error_layer"], row["cost"]) == (400, "upstream", 0), row


@pytest.mark.parametrize("client_dialect", ["anthropic", "gemini"])
@pytest.mark.parametrize("channel", DIALECTS)
def test_count_tokens(tollgate, upstreams, make_client, client_dialect, channel):
    client = make_client(client_dialect)
    counted = client.count_tokens(upstreams.model(channel), client.start("count these words please"))
    if client_dialect == channel == "anthropic":
        # Passed through to the channel's /v1/messages/count_tokens: the provider's own count.
        # (A Gemini channel has no countTokens call in the contract: Tollgate counts itself.)
        assert counted == COUNT_TOKENS
    else:
        assert isinstance(counted, int) and counted > 0
    row = tollgate.usage(client.seen.headers["x-request-id"])
    assert (row["status"], row["cost"]) == (200, 0), row  # counting is free, but still a row


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_anthropic_headers_pass_through(upstreams, mock, make_client, stream):
    """Claude Code's beta list is paired with body fields: stripped, it becomes a 400
    upstream. The provider's rate-limit headers must reach the client."""
    client, tag = make_client("anthropic"), nonce()
    beta = "context-management-2025-06-27,fine-grained-tool-streaming-2025-05-14"
    headers = {"anthropic-beta": beta, "anthropic-version": "2023-06-01"}
    reply = client.ask(upstreams.model("anthropic"), client.start(f"say hello ({tag})"), tools=True,
                       stream=stream, extra_headers=headers)
    assert reply.text == "Hello from anthropic"
    [upstream] = mock.seen(tag)
    assert (upstream.headers.get("anthropic-beta"), upstream.headers.get("anthropic-version")) == (
        beta, "2023-06-01"), upstream.headers
    assert reply.headers.get("anthropic-ratelimit-requests-remaining") == "99", reply.headers


# ------------------------------------------------------------------ echo-1
@pytest.mark.parametrize("client_dialect", DIALECTS)
@STREAMED
def test_echo_through_every_sdk_with_tools(tollgate, make_client, client_dialect, stream):
    """echo speaks every dialect and accepts tools, answering in text."""
    client = make_client(client_dialect)
    reply = client.ask("echo-1", client.start("please use the tool"), tools=True, stream=stream)
    assert (reply.text, reply.calls) == ("please use the tool", []), reply
    row = tollgate.usage(reply.request_id)
    assert (row["status"], row["client_dialect"], row["channel_dialect"]) == (200, client_dialect, "echo"), row


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
def test_gemini_api_versions(make_client, api_version):
    """Gemini CLI calls /v1beta, google-genai may call /v1: both are served."""
    client = make_client("gemini", api_version=api_version)
    assert client.ask("echo-1", client.start("hello gemini")).text == "hello gemini"
    assert client.seen.headers.get("x-request-id")


# ------------------------------------------------------------------ embeddings
def embeddings_sdk(tollgate, api_key):
    return openai.OpenAI(base_url=f"{tollgate.base}/v1", api_key=api_key, max_retries=0)


def test_echo_embeddings_are_deterministic(tollgate, api_key):
    sdk = embeddings_sdk(tollgate, api_key)
    first = sdk.embeddings.with_raw_response.create(model="echo-1", input="the same words")
    again = sdk.embeddings.create(model="echo-1", input="the same words")
    other = sdk.embeddings.create(model="echo-1", input="other words")
    vector = first.parse().data[0].embedding
    assert vector and vector == again.data[0].embedding
    assert other.data[0].embedding != vector
    row = tollgate.usage(first.headers["x-request-id"])
    assert (row["status"], row["channel_dialect"]) == (200, "echo"), row


def test_embeddings_on_an_openai_channel(tollgate, upstreams, mock, api_key):
    sdk = embeddings_sdk(tollgate, api_key)
    inputs = ["first text", "second text"]
    raw = sdk.embeddings.with_raw_response.create(model=upstreams.model("openai"), input=inputs)
    answer = raw.parse()
    for got, text in zip(answer.data, inputs):  # the provider's vectors (through float32)
        assert got.embedding == pytest.approx(embedding(text), abs=1e-6)
    tokens = EMBEDDING_TOKENS_PER_INPUT * len(inputs)
    assert answer.usage.prompt_tokens == tokens
    assert mock.requests[-1].path == "/v1/embeddings" and mock.requests[-1].body["model"] == "up-openai"
    row = tollgate.usage(raw.headers["x-request-id"])
    # Billed at the input price, nothing else.
    assert (row["status"], row["prompt_tokens"], row["completion_tokens"], row["cost"]) == (
        200, tokens, 0, cost(dict(prompt=tokens, cache_read=0, cache_write=0, completion=0))), row


def test_unknown_headers_and_query_are_ignored(tollgate, api_key):
    """Claude Code adds ?beta=true and x-claude-code-* / x-stainless-* headers."""
    answer = httpx.post(f"{tollgate.base}/v1/messages?beta=true", json={
        "model": "echo-1", "max_tokens": 16, "messages": [{"role": "user", "content": "hi there"}]},
        headers={"x-api-key": api_key, "anthropic-version": "2023-06-01", "x-claude-code-session-id": "s",
                 "x-stainless-lang": "js"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == "hi there"
