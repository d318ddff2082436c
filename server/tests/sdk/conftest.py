"""Starts the real `tollgate` binary on a fresh SQLite database for the SDK tests."""

import os
import subprocess
import tempfile
import time

import httpx
import pytest

ADMIN_EMAIL = "admin@tollgate.local"
ADMIN_PASSWORD = "sdk tests admin password"


class Tollgate:
    def __init__(self, base: str):
        self.base = base
        self.admin = httpx.Client(base_url=base)
        signed_in = self.admin.post("/api/v1/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        signed_in.raise_for_status()
        self.account = signed_in.json()["accounts"][0]["account_id"]

    def key(self, **policy) -> str:
        created = self.admin.post(f"/api/v1/accounts/{self.account}/keys", json={"name": "sdk", **policy})
        created.raise_for_status()
        secret = created.json()["secret"]
        deadline = time.time() + 2
        while httpx.get(f"{self.base}/v1/models", headers={"authorization": f"Bearer {secret}"}).status_code == 401:
            assert time.time() < deadline, "the gateway never learned the key"
            time.sleep(0.02)
        return secret

    def poor_key(self) -> str:
        me = self.admin.get("/api/v1/me").json()
        account = self.admin.post("/api/v1/accounts", json={"name": f"poor-{time.time_ns()}"}).json()["id"]
        self.admin.post(f"/api/v1/accounts/{account}/members", json={"user_id": me["user"]["id"], "role": "owner"})
        created = self.admin.post(f"/api/v1/accounts/{account}/keys", json={"name": "poor"}).json()
        time.sleep(0.3)
        return created["secret"]


@pytest.fixture(scope="session")
def tollgate():
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
