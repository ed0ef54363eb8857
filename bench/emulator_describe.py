"""How many DescribeTrainingJob calls a second the emulator serves on one core.

The emulator runs in its own process, pinned to one CPU (``--server-cpu``), with 10,000
jobs stored. The load comes from other processes (pinned to the other CPUs when there are
any) speaking raw HTTP/1.1 over keep-alive connections with pre-built, SigV4-looking
requests: a few microseconds of client work per call, so the client is not what is
measured. Besides the wall-clock rate, the script reads the server process's own CPU time
from ``/proc``, so "calls per CPU-second" states the emulator's capacity on one core even
on a machine busy with other work.

Run: ``python -m bench.emulator_describe [--jobs 10000] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import socket
import time
import urllib.request
from typing import Any

from sagemaker_operator.emulator import faults, server, settings

ROLE = "arn:aws:iam::123456789012:role/Bench"
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=BENCH/20240101/us-east-1/sagemaker/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)


def _pin(cpus: set[int]) -> None:
    available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if cpus & available:
        os.sched_setaffinity(0, cpus & available)


def _serve(port: int, cpu: int) -> None:
    _pin({cpu})
    config = settings.Settings(
        port=port,
        time_scale=settings.TEST_TIME_SCALE,
        admin=True,  # the benchmark reads the counters
        faults=faults.FaultSettings(throttling=False),
    )
    asyncio.run(server.serve(config))


def _request(port: int, operation: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"X-Amz-Target: SageMaker.{operation}\r\n"
        "Content-Type: application/x-amz-json-1.1\r\n"
        "X-Amz-Date: 20240101T000000Z\r\n"
        f"Authorization: {AUTHORIZATION}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def _create_body(name: str) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "bench:latest", "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://bench/output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": {"epochs": "10", "lr": "0.01"},
        "Tags": [{"Key": "bench", "Value": "emulator-describe"}],
    }


async def _connection(
    port: int, requests: list[bytes], deadline: float, stats: dict[str, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    pick = random.Random().choice
    try:
        while time.monotonic() < deadline:
            writer.write(pick(requests))
            status = int((await reader.readline()).split(b" ", 2)[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            stats["ok" if status == 200 else "errors"] += 1
    finally:
        writer.close()


async def _drive(
    port: int, requests: list[bytes], connections: int, seconds: float
) -> dict[str, int]:
    stats = {"ok": 0, "errors": 0}
    started = time.monotonic()
    await asyncio.gather(
        *(_connection(port, requests, started + seconds, stats) for _ in range(connections))
    )
    stats["elapsed_ms"] = round((time.monotonic() - started) * 1000)
    return stats


def _load(args: tuple[int, list[str], int, float, set[int]]) -> dict[str, int]:
    port, names, connections, seconds, cpus = args
    _pin(cpus)
    requests = [_request(port, "DescribeTrainingJob", {"TrainingJobName": n}) for n in names]
    return asyncio.run(_drive(port, requests, connections, seconds))


async def _seed(port: int, count: int, connections: int = 16) -> None:
    queue = [
        _request(port, "CreateTrainingJob", _create_body(f"bench-{i:05d}")) for i in range(count)
    ]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            writer.write(queue.pop())
            status = int((await reader.readline()).split(b" ", 2)[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"Seeding failed: {status} {body!r}")
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _admin(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/{path}", timeout=10) as r:
        return json.loads(r.read())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2, help="load-generating processes")
    parser.add_argument("--connections", type=int, default=16, help="per load process")
    parser.add_argument("--server-cpu", type=int, default=0)
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("spawn")
    port = _free_port()
    emulator = context.Process(target=_serve, args=(port, args.server_cpu), daemon=True)
    emulator.start()
    assert emulator.pid is not None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _admin(port, "health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        started = time.monotonic()
        asyncio.run(_seed(port, args.jobs))
        print(f"stored {args.jobs} jobs in {time.monotonic() - started:.1f} s")
        assert _admin(port, "health")["jobs"] == args.jobs

        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        client_cpus = (cpus - {args.server_cpu}) or cpus
        names = [f"bench-{i:05d}" for i in range(args.jobs)]
        calls_before = _admin(port, "counters")["operations"].get("DescribeTrainingJob", {})
        cpu_before = _cpu_seconds(emulator.pid)
        with context.Pool(args.processes) as pool:
            results = pool.map(
                _load,
                [(port, names, args.connections, args.seconds, client_cpus)] * args.processes,
            )
        # The rate over the load window itself, not the pool's start-up.
        elapsed = max(r["elapsed_ms"] for r in results) / 1000
        cpu = _cpu_seconds(emulator.pid) - cpu_before
        served = _admin(port, "counters")["operations"]["DescribeTrainingJob"]
        ok = sum(r["ok"] for r in results)
        errors = sum(r["errors"] for r in results)
        assert served.get("ok", 0) - calls_before.get("ok", 0) == ok, "counters disagree"
        print(
            json.dumps(
                {
                    "jobs": args.jobs,
                    "describe_calls": ok,
                    "errors": errors,
                    "seconds": round(elapsed, 2),
                    "calls_per_second": round(ok / elapsed),
                    "server_cpu_seconds": round(cpu, 2),
                    "calls_per_server_cpu_second": round(ok / cpu) if cpu else None,
                    "server_cpu": args.server_cpu,
                    "client_cpus": sorted(client_cpus),
                }
            )
        )
    finally:
        emulator.terminate()
        emulator.join(10)


if __name__ == "__main__":
    main()
