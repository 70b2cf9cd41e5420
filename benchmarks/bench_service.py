"""Decision service load: 32 concurrent clients on loopback against ``recnav-rules serve --workers 2``.

Run:  python benchmarks/bench_service.py [--clients 32] [--workers 2] [--seconds 20] [--referrals 2000]

Target (issue 13): at least 1,500 decisions per second with 2 workers on this 2-core machine.
The referrals are ``bench_hiu.make_referrals``'s realistic mix (8 calls on average, about 10% with
a fact missing). The server runs in a subprocess; the clients are one asyncio process with one
keep-alive HTTP/1.1 connection each, sending pre-encoded ``POST /v1/policies/bnssg-hiu-pilot/decisions``
requests (the client shares the 2 cores with the server, as on a single machine). Each response is
the full ``Decision.to_dict()``, trace included. Before timing, every referral is sent once and its
answer compared with the library's own decision. Prints throughput, p50/p90/p99 latency and the
server's CPU time. Not a test: the figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
POLICY = "bnssg-hiu-pilot"
AS_OF = "2026-11-20"


def _make_referrals(count: int) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("bench_hiu", HERE / "bench_hiu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made: list[dict[str, Any]] = module.make_referrals(count, seed=1)
    return made


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _request(port: int, facts: dict[str, Any]) -> bytes:
    body = json.dumps({"facts": facts, "as_of": AS_OF}).encode()
    head = (
        f"POST /v1/policies/{POLICY}/decisions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return status, body


async def _check(port: int, referrals: list[dict[str, Any]], requests: list[bytes]) -> int:
    """Send every referral once; count answers that differ from the library's decision."""
    import recnav_rules

    policy = recnav_rules.load_policy(POLICY)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    wrong = 0
    for facts, request in zip(referrals, requests, strict=True):
        status, body = await _exchange(reader, writer, request)
        if status != 200 or json.loads(body) != policy.evaluate(facts, as_of=AS_OF).to_dict():
            wrong += 1
    writer.close()
    return wrong


async def _load(port: int, requests: list[bytes], clients: int, seconds: float, warmup: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    failures = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def client(index: int) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        position = index
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                break
            status, _ = await _exchange(reader, writer, requests[position % len(requests)])
            done = time.perf_counter()
            position += clients
            if sent >= measure_from:
                latencies.append(done - sent)
                if status != 200:
                    failures += 1
        writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, failures, seconds


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (Linux /proc), in seconds."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--referrals", type=int, default=2000)
    args = parser.parse_args()

    referrals = _make_referrals(args.referrals)
    port = _free_port()
    requests = [_request(port, facts) for facts in referrals]
    command = [sys.executable, "-m", "recnav_rules", "serve", "--port", str(port), "--workers", str(args.workers)]
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        time.sleep(2)  # let every worker finish loading
        wrong = asyncio.run(_check(port, referrals, requests))
        asyncio.run(_load(port, requests, args.clients, args.warmup, 0.0))  # warm-up, not counted
        cpu_before = _cpu_seconds(server.pid)
        latencies, failures, seconds = asyncio.run(_load(port, requests, args.clients, args.seconds, 0.0))
        cpu_used = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

    latencies.sort()
    count = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(count - 1, int(p / 100 * count))] * 1000

    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"{args.workers} workers, {args.clients} clients, {args.seconds:g} s after {args.warmup:g} s warm-up")
    print(f"library check: {len(referrals) - wrong} of {len(referrals)} referrals answered exactly as Decision.to_dict()")
    print(f"decisions: {count} in {seconds:g} s = {count / seconds:,.0f} per second; non-200: {failures}")
    print(f"latency ms: p50 {pct(50):.1f}, p90 {pct(90):.1f}, p99 {pct(99):.1f}, max {latencies[-1] * 1000:.1f}, mean {statistics.fmean(latencies) * 1000:.1f}")
    per = cpu_used / max(count, 1)
    print(f"server CPU: {cpu_used:.1f} s in {seconds:g} s of {args.workers} workers ({per * 1e6:.0f} us per decision); "
          f"at that cost {args.workers} idle cores would serve about {args.workers / per:,.0f} per second (the client excluded)")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (other work on the machine competes for the cores)")


if __name__ == "__main__":
    main()
