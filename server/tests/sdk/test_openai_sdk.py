"""The official OpenAI Python SDK against Tollgate: answers, streams, and every error
class the SDK maps from our status codes, carrying our request id."""

import openai
import pytest

MESSAGES = [{"role": "user", "content": "hello from the sdk"}]


def client(tollgate, key):
    # No retries: each error must surface as the SDK's exception, once.
    return openai.OpenAI(base_url=f"{tollgate.base}/v1", api_key=key, max_retries=0)


def test_chat_completion_and_stream(tollgate):
    # Whitelisted to echo-1: the other tests add models to the catalog.
    sdk = client(tollgate, tollgate.key(model_whitelist=["echo-1"]))
    answer = sdk.chat.completions.create(model="echo-1", messages=MESSAGES)
    assert answer.choices[0].message.content == "hello from the sdk"
    assert answer.usage.prompt_tokens == 4 and answer.usage.completion_tokens == 4

    chunks = list(sdk.chat.completions.create(model="echo-1", messages=MESSAGES, stream=True))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "hello from the sdk"
    assert chunks[-1].usage.completion_tokens == 4

    models = [model.id for model in sdk.models.list()]
    assert models == ["echo-1"]


def expect(error_class, status, code, call):
    with pytest.raises(error_class) as raised:
        call()
    error = raised.value
    assert error.status_code == status
    assert error.code == code
    assert error.body["layer"]
    assert error.request_id and error.body["request_id"] == error.request_id
    return error


def test_error_classes_match_the_contract(tollgate):
    good = client(tollgate, tollgate.key())
    expect(openai.AuthenticationError, 401, "invalid_api_key",
           lambda: client(tollgate, "tg-aaaaaaaaaaaa-" + "b" * 40).chat.completions.create(model="echo-1", messages=MESSAGES))
    fenced = client(tollgate, tollgate.key(ip_allowlist=["10.0.0.0/8"]))
    expect(openai.PermissionDeniedError, 403, "ip_not_allowed",
           lambda: fenced.chat.completions.create(model="echo-1", messages=MESSAGES))
    expect(openai.NotFoundError, 404, "model_not_found",
           lambda: good.chat.completions.create(model="no-such-model", messages=MESSAGES))
    expect(openai.BadRequestError, 400, "invalid_type",
           lambda: good.chat.completions.create(model="echo-1", messages="not a list"))
    limited = client(tollgate, tollgate.key(rpm=1))
    limited.chat.completions.create(model="echo-1", messages=MESSAGES)
    error = expect(openai.RateLimitError, 429, "rate_limit_exceeded",
                   lambda: limited.chat.completions.create(model="echo-1", messages=MESSAGES))
    assert int(error.response.headers["retry-after"]) >= 1
    broke = client(tollgate, tollgate.poor_key())
    expect(openai.APIStatusError, 402, "insufficient_balance",
           lambda: broke.chat.completions.create(model="echo-1", messages=MESSAGES))
