"""Starts the real `tollgate` binary on a fresh SQLite database for the SDK tests, and the
scripted mock provider (mock_upstream.py) with one channel and model per protocol on it."""

import contextlib
import math
import os
import subprocess
import tempfile
import threading
import time

import httpx
import pytest

from mock_upstream import CREDENTIALS, NEUTRAL_USAGE, MockUpstream

ADMIN_EMAIL = "admin@tollgate.local"
ADMIN_PASSWORD = "sdk tests admin password"


class Tollgate:
    def __init__(self, base: str):
        self.base = base
        # Signed in with the session cookie, it writes as the console's own pages do (CSRF check).
        self.admin = httpx.Client(base_url=base, headers={"origin": base})
        signed_in = self.admin.post("/api/v1/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        signed_in.raise_for_status()
        self.account = signed_in.json()["accounts"][0]["account_id"]

    def key(self, **policy) -> str:
        created = self.admin.post(f"/api/v1/accounts/{self.account}/keys", json={"name": "sdk", **policy})
        created.raise_for_status()
        return created.json()["secret"]

    def usage(self, request_id: str) -> dict:
        """The usage row of a request; rows are written in batches, so wait for it."""
        deadline = time.time() + 5
        while True:
            found = self.admin.get(f"/api/v1/usage/{request_id}")
            if found.status_code == 200:
                return found.json()
            assert time.time() < deadline, f"no usage row for {request_id}: {found.status_code} {found.text}"
            time.sleep(0.05)

    def wait_for_model(self, code: str, key: str):
        deadline = time.time() + 5
        while True:
            listed = httpx.get(f"{self.base}/v1/models", headers={"authorization": f"Bearer {key}"})
            if listed.status_code == 200 and code in [m["id"] for m in listed.json()["data"]]:
                return
            assert time.time() < deadline, f"the gateway never served {code}: {listed.status_code} {listed.text}"
            time.sleep(0.05)

    def poor_key(self) -> str:
        me = self.admin.get("/api/v1/me").json()
        account = self.admin.post("/api/v1/accounts", json={"name": f"poor-{time.time_ns()}"}).json()["id"]
        self.admin.post(f"/api/v1/accounts/{account}/members", json={"user_id": me["user"]["id"], "role": "owner"})
        return self.admin.post(f"/api/v1/accounts/{account}/keys", json={"name": "poor"}).json()["secret"]


@contextlib.contextmanager
def running_tollgate():
    """The real binary on a fresh SQLite database, until the block ends."""
    binary = os.environ["TOLLGATE_BIN"]
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "TOLLGATE_DATA_DIR": data_dir,
            "TOLLGATE_DATABASE_URL": f"sqlite://{data_dir}/tollgate.db",
            "TOLLGATE_LISTEN": "127.0.0.1:0",
            "TOLLGATE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "TOLLGATE_SEED_DEMO": "true",
        }
        server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            base = None
            for line in server.stdout:
                if line.startswith("Tollgate console: "):
                    base = line.split(": ", 1)[1].strip().rstrip("/")
                    break
            assert base, "the server did not start"
            yield Tollgate(base)
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture(scope="session")
def tollgate():
    with running_tollgate() as tollgate:
        yield tollgate


# Prices (micro-units per million tokens) with every term distinct, so a cost computed
# from the wrong token class shows.
PRICES = {"input_price": 1_000_000, "output_price": 2_000_000,
          "cache_read_price": 100_000, "cache_write_price": 1_250_000}


def cost(row_tokens: dict) -> int:
    """The contract's cost of a usage, rounded up to a whole micro-unit."""
    return math.ceil((row_tokens["prompt"] * PRICES["input_price"]
                      + row_tokens["cache_read"] * PRICES["cache_read_price"]
                      + row_tokens["cache_write"] * PRICES["cache_write_price"]
                      + row_tokens["completion"] * PRICES["output_price"]) / 1_000_000)


def expected_row(protocol: str) -> dict:
    """The usage row fields a mock answer on a `protocol` channel must produce."""
    tokens = NEUTRAL_USAGE[protocol]
    return {"prompt_tokens": tokens["prompt"], "cache_read_tokens": tokens["cache_read"],
            "cache_write_tokens": tokens["cache_write"], "completion_tokens": tokens["completion"],
            "reasoning_tokens": tokens["reasoning"], "cost": cost(tokens)}


class Upstreams:
    """One channel per protocol pointing at the mock, each behind its own model
    `mock-<protocol>` (upstream name `up-<protocol>`, so renaming shows), made on first use."""

    def __init__(self, tollgate: Tollgate, mock: MockUpstream):
        self.tollgate, self.mock = tollgate, mock
        self.channels: dict[str, str] = {}
        self._lock = threading.Lock()
        self._key = tollgate.key()

    def model(self, protocol: str) -> str:
        code = f"mock-{protocol}"
        with self._lock:
            if protocol not in self.channels:
                self.channels[protocol] = self._create(protocol, code)
        return code

    def _create(self, protocol: str, code: str) -> str:
        admin = self.tollgate.admin
        channel = admin.post("/api/v1/channels", json={
            "name": f"mock {protocol}", "protocol": protocol, "base_url": self.mock.channel_base_url(protocol),
            "credential": CREDENTIALS[protocol], "models": [], "priority": 0, "weight": 1, "enabled": True})
        assert channel.status_code in (200, 201), channel.text
        channel_id = channel.json()["id"]
        model = admin.post("/api/v1/models", json={
            "code": code, "name": f"Mock {protocol}", **PRICES, "context_window": 200_000,
            "default_max_tokens": 4096, "channels": [{"channel_id": channel_id, "upstream_model": f"up-{protocol}"}]})
        assert model.status_code in (200, 201), model.text
        self.tollgate.wait_for_model(code, self._key)
        return channel_id


@pytest.fixture(scope="session")
def mock():
    upstream = MockUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def upstreams(tollgate, mock):
    return Upstreams(tollgate, mock)


@pytest.fixture(scope="session")
def api_key(tollgate):
    """One key for the dialect and CLI tests: no limits, every model."""
    return tollgate.key()
