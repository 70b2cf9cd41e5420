"""``recnav-rules serve``: refusals (exit 2, one line) and a real multi-worker server that shuts down cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from recnav_rules.cli import main
from recnav_rules.service.running import free_port

ROOT = Path(__file__).parent.parent
EXAMPLE = json.loads((ROOT / "examples" / "hiu-referral.json").read_text())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "0.0.0.0"], "--host 0.0.0.0: serving beyond this machine needs a bearer token; give --token-file FILE"),
        (["--param", "adult_age"], "--param 'adult_age': expected NAME=VALUE"),
        (["--param", "no_such_parameter=1"], "--param no_such_parameter: no offered policy has this parameter"),
        (["--workers", "0"], "--workers 0: must be 1 or more"),
        (["--port", "70000"], "--port 70000: must be 1 to 65535"),
        (["--max-body-bytes", "0"], "--max-body-bytes: must be above 0"),
        (["--token-file", "/nonexistent/token"], "/nonexistent/token: cannot read the token file (FileNotFoundError)"),
        (["--param", "adult_age=old"], "adult_age"),
    ],
)
def test_bad_options_exit_2_with_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recnav-rules: ")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become healthy")


def test_two_workers_serve_decisions_and_stop_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    token = tmp_path / "token"
    token.write_text("a-long-enough-token-1234\n")
    command = [sys.executable, "-m", "recnav_rules", "serve", "--port", str(port), "--workers", "2", "--token-file", str(token)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        headers = {"Authorization": "Bearer a-long-enough-token-1234"}
        facts = {**EXAMPLE, "name": "Alice Example"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            answers = [client.post("/v1/policies/bnssg-hiu-pilot/decisions", json={"facts": facts, "as_of": "2026-11-20"}) for _ in range(8)]
            assert {a.status_code for a in answers} == {200}
            assert {a.json()["outcome"] for a in answers} == {"accept"}
            assert client.get("/v1/policies").status_code == 200
        assert httpx.get(url + "/v1/policies", timeout=10).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0
    log = err.decode()
    assert "Started parent process" in log or "Uvicorn running" in log
    assert "POST /v1/policies/bnssg-hiu-pilot/decisions 200" in log
    for secret in ("Alice", "1988-02-29", "a-long-enough-token"):
        assert secret not in log
