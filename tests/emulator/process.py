"""The emulator as users run it: ``sagemaker-operator emulator`` in its own process.

For tests of the command's flags, which an in-process emulator (``testing.running``) skips.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import botocore.exceptions

from tests.emulator.jobs import wait_for
from tests.plugins.emulator import client_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def command(log: Path, *flags: str) -> Iterator[str]:
    """Run ``sagemaker-operator emulator --port=P *flags``; yield its URL once it answers.

    Ready means the SageMaker API answers a call, which needs no admin endpoint. The output
    goes to ``log``, quoted in the failure if the process dies first.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sagemaker_operator.cli",
                "emulator",
                f"--port={port}",
                "--time-scale=0.0035",
                "--no-throttle",
                *flags,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        client = client_for(url)

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"The emulator exited: {log.read_text()}")
            try:
                client.list_training_jobs()
            except botocore.exceptions.EndpointConnectionError:
                return False
            return True

        wait_for(answers, bool, timeout=60, interval=0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
