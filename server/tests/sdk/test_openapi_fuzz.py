"""A bounded schemathesis run against `/api/v1/openapi.json`, as an admin with a management
token, as a user with the console's session cookie and with no credentials: no generated
request may get a 5xx, and every answer must be one the document describes."""

import os
import subprocess
import sys

import httpx
import pytest

from conftest import running_tollgate

# Generated cases per operation and phase: enough to reach every documented status,
# small enough that the three runs finish in a couple of minutes.
EXAMPLES_PER_OPERATION = 20
SEED = 16


@pytest.fixture(scope="module")
def fuzzed():
    """A server of its own: the fuzzer creates users, tokens and accounts as it goes."""
    with running_tollgate() as tollgate:
        yield tollgate


def credentials(tollgate, who: str) -> list[str]:
    if who == "no auth":
        return []
    if who == "admin token":
        token = tollgate.admin.post("/api/v1/tokens", json={"name": "fuzz"})
        token.raise_for_status()
        return [f"Authorization: Bearer {token.json()['token']}"]
    created = tollgate.admin.post("/api/v1/users", json={
        "email": "fuzzed-user@example.com", "password": "fuzzed user password", "role": "user"})
    created.raise_for_status()
    user = httpx.Client(base_url=tollgate.base)
    user.post("/api/v1/session", json={"email": "fuzzed-user@example.com", "password": "fuzzed user password"}
              ).raise_for_status()
    # The cookie's writes come from the console's own origin, as a browser tab's would.
    return [f"Cookie: tollgate_session={user.cookies['tollgate_session']}", f"Origin: {tollgate.base}"]


@pytest.mark.parametrize("who", ["admin token", "user cookie", "no auth"])
def test_every_generated_request_is_answered_as_documented(fuzzed, who):
    schemathesis = os.path.join(os.path.dirname(sys.executable), "st")
    command = [schemathesis, "run", f"{fuzzed.base}/api/v1/openapi.json", "--url", fuzzed.base,
               "--checks", "not_a_server_error,status_code_conformance",
               "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", str(SEED), "--workers", "1",
               "--request-timeout", "10", "--no-color", "--generation-database", "none",
               # Signing out would end the cookie run's own session half way.
               "--exclude-operation-id", "sign_out"]
    for header in credentials(fuzzed, who):
        command += ["--header", header]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"{who}:\n{run.stdout[-20000:]}\n{run.stderr[-5000:]}"
