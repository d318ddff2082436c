"""The real coding CLIs through Tollgate: Codex CLI (Responses API) and Claude Code
(Anthropic Messages), each on a channel of every protocol, for a text answer and a real tool
round trip (the mock asks for the CLI's own shell tool, the CLI runs `echo TOOL-RAN-42`,
the mock sees the output and answers `final: TOOL-RAN-42`), and on echo-1.

The CLIs are pinned in clients/package.json and installed by `make deps` outside the clone
(~/.cache/tollgate/clients, or $TOLLGATE_CLIENTS). Each run gets a throwaway HOME, telemetry
and update checks off, and a proxy that does not exist for every non-loopback address, so
nothing leaves the machine. The runs take a few seconds each: all of them start at once
on a thread pool when the module's first test asks, and each test waits for its own.
"""

import os
import shutil
import subprocess
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from mock_upstream import MARKER, PROTOCOLS

CLIENTS_DIR = Path(os.environ.get("TOLLGATE_CLIENTS", Path.home() / ".cache/tollgate/clients"))
BIN = CLIENTS_DIR / "node_modules/.bin"
CLIS = ("codex", "claude")
TIMEOUT = 120
ECHO_PROMPT = "hello from the echo model"


@dataclass
class Run:
    tag: str
    returncode: int | None
    stdout: str
    stderr: str

    def __str__(self):  # what a failing assertion shows
        return f"exit {self.returncode}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"


def base_env(home: Path) -> dict:
    """Only what the CLI needs: nothing of the developer's own keys or config leaks in."""
    dead_proxy = "http://127.0.0.1:9"  # any non-loopback request fails at once
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb",
            "HTTPS_PROXY": dead_proxy, "HTTP_PROXY": dead_proxy, "https_proxy": dead_proxy,
            "http_proxy": dead_proxy, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def run(argv, env, cwd, tag) -> Run:
    try:
        done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=TIMEOUT)
        return Run(tag, done.returncode, done.stdout, done.stderr)
    except subprocess.TimeoutExpired as late:
        out = (late.stdout or b"").decode(errors="replace") if isinstance(late.stdout, bytes) else late.stdout or ""
        err = (late.stderr or b"").decode(errors="replace") if isinstance(late.stderr, bytes) else late.stderr or ""
        return Run(tag, None, out, err + f"\n[timed out after {TIMEOUT} s]")


def codex(base: str, key: str, model: str, prompt: str, home: Path, tag: str) -> Run:
    codex_home = home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(f'''
model = "{model}"
model_provider = "tollgate"
check_for_update_on_startup = false
[model_providers.tollgate]
name = "Tollgate"
base_url = "{base}/v1"
env_key = "TOLLGATE_KEY"
wire_api = "responses"
supports_websockets = false
request_max_retries = 0
stream_max_retries = 0
[analytics]
enabled = false
''')
    work = home / "work"  # Codex works in a git tree
    work.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    env = {**base_env(home), "CODEX_HOME": str(codex_home), "TOLLGATE_KEY": key}
    # exec never asks for approval; the workspace-write sandbox still lets `echo` run.
    return run([str(BIN / "codex"), "exec", "--skip-git-repo-check", "-s", "workspace-write", prompt],
               env, work, tag)


def claude(base: str, key: str, model: str, prompt: str, home: Path, tag: str) -> Run:
    work = home / "work"
    work.mkdir()
    env = {**base_env(home), "ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": key,
           "ANTHROPIC_DEFAULT_HAIKU_MODEL": model, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1",
           "CLAUDE_CODE_MAX_RETRIES": "0"}
    return run([str(BIN / "claude"), "-p", prompt, "--model", model, "--allowedTools", "Bash(echo:*)",
                "--max-turns", "3"], env, work, tag)


RUNNERS = {"codex": codex, "claude": claude}
# (cli, model kind, scenario): a channel protocol's mock model, or echo-1.
CASES = ([(cli, channel, scenario) for cli in CLIS for channel in PROTOCOLS for scenario in ("text", "tool")]
         + [(cli, "echo", "text") for cli in CLIS])


def prompt_for(channel, scenario, tag):
    if channel == "echo":
        return f"{ECHO_PROMPT} {tag}"
    return f"please use the tool ({tag})" if scenario == "tool" else f"say hello ({tag})"


@pytest.fixture(scope="module")
def cli_runs(tollgate, upstreams, api_key):
    missing = [cli for cli in CLIS if not (BIN / cli).exists()]
    assert not missing, f"{missing} not installed in {BIN}: run `make deps`"
    # The channels first, in this thread: the runs only read the catalog.
    models = {channel: upstreams.model(channel) for channel in PROTOCOLS} | {"echo": "echo-1"}
    homes = []

    def start(cli, channel, scenario):
        tag = uuid.uuid4().hex[:10]
        home = Path(tempfile.mkdtemp(prefix=f"tollgate-{cli}-"))
        homes.append(home)
        return RUNNERS[cli](tollgate.base, api_key, models[channel], prompt_for(channel, scenario, tag), home, tag)

    with ThreadPoolExecutor(max_workers=6) as pool:
        yield {case: pool.submit(start, *case) for case in CASES}
    for home in homes:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("cli", CLIS)
@pytest.mark.parametrize("channel", PROTOCOLS)
def test_text_answer(cli_runs, cli, channel):
    done = cli_runs[(cli, channel, "text")].result()
    assert done.returncode == 0 and f"Hello from {channel}" in done.stdout, done


@pytest.mark.parametrize("cli", CLIS)
@pytest.mark.parametrize("channel", PROTOCOLS)
def test_tool_round_trip(cli_runs, mock, cli, channel):
    done = cli_runs[(cli, channel, "tool")].result()
    # The CLI ran the command: its output came back to the provider as a tool result.
    results = mock.tool_results(done.tag, channel)
    assert any(MARKER in result for result in results), f"no tool result with {MARKER} reached the mock: {results}\n{done}"
    assert done.returncode == 0 and f"final: {MARKER}" in done.stdout, done


@pytest.mark.parametrize("cli", CLIS)
def test_echo_model(cli_runs, cli):
    done = cli_runs[(cli, "echo", "text")].result()
    assert done.returncode == 0 and ECHO_PROMPT in done.stdout, done
