"""Follow a 1,000-line-per-second training job for 60 s: does the log command keep up?

Runs the emulator in this process at real time (time scale 1), one job whose single host
writes 1,000 lines a second for 60 s of Training, and the log command's reader
(:mod:`sagemaker_operator.logs.follow`) following it through boto3 as the command does, with
its default one-second interval. Prints the lines seen (each must be seen once), the lag from
a line's timestamp to its printing (p50, p99, max), and the calls made per operation.
Figures, not a pass/fail: ``python -m bench.logs_follow [--rate 1000] [--seconds 60]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import boto3
from botocore.config import Config
from tests.emulator.jobs import request

from sagemaker_operator.emulator import faults, settings, testing
from sagemaker_operator.logs import follow, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="lines per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of Training")
    parser.add_argument("--interval", type=float, default=1.0, help="the reader's interval")
    args = parser.parse_args()
    durations = settings.Durations(starting=1, downloading=1, training=args.seconds, uploading=1)
    config = settings.Settings(
        port=0,
        time_scale=1.0,
        durations=durations,
        faults=faults.FaultSettings(throttling=True),  # AWS's documented Logs rates apply
        admin=True,
    )
    with testing.running(config) as emulator:
        kwargs: dict[str, Any] = {
            "endpoint_url": emulator.url,
            "region_name": "us-east-1",
            "aws_access_key_id": "bench",
            "aws_secret_access_key": "bench",
            "config": Config(retries={"mode": "standard", "total_max_attempts": 1}),
        }
        sagemaker = boto3.client("sagemaker", **kwargs)
        cw = boto3.client("logs", **kwargs)
        fate = {"log-lines-per-second": f"{args.rate:g}"}
        sagemaker.create_training_job(**request("firehose", fate=fate))
        reader = follow.Reader(cw, "firehose", say=lambda message: None)
        lags: list[float] = []

        def emit(lines: list[text.Line]) -> None:
            now = time.time() * 1000
            lags.extend((now - line.timestamp) / 1000 for line in lines)

        def status() -> tuple[str, str]:
            described = reader.retry(
                "describe_training_job",
                sagemaker.describe_training_job,
                TrainingJobName="firehose",
            )
            return described["TrainingJobStatus"], described["SecondaryStatus"]

        started = time.monotonic()
        ending = follow.follow(reader, status, emit, interval=args.interval)
        took = time.monotonic() - started
        written = cw.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs",
            logStreamName=next(iter(reader.streams)),
            limit=1,
        )["nextForwardToken"]
        counters = emulator.admin.counters()["operations"]
    quantiles = statistics.quantiles(lags, n=100)
    print(f"job ended {ending.status}; followed for {took:.1f} s")
    print(f"lines seen: {len(lags)} (the stream holds {int(written.split('/')[1])})")
    print(
        f"lag from a line's timestamp to its printing: p50 {quantiles[49]:.2f} s, "
        f"p99 {quantiles[98]:.2f} s, max {max(lags):.2f} s"
    )
    print(f"reader's calls: {reader.stats.calls}, retries {reader.stats.retries}")
    print(f"emulator counted: {counters}")


if __name__ == "__main__":
    main()
