"""The pure parts of the log command: ``--since`` durations, host names, interleaving and
the printed form of a line."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import click

_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Host colours on a terminal, in turn (click drops them when the output is not a terminal).
COLOURS: Final = ("cyan", "green", "yellow", "magenta", "blue", "red")
_HOST: Final = re.compile(r"/(algo-\d+)-\d+$")


def parse_since(text: str) -> datetime.timedelta:
    """kubectl's relative durations: ``10m``, ``1h30m``, ``45s``, ``2d``, ``500ms``."""
    position, seconds = 0, 0.0
    for found in _DURATION.finditer(text):
        if found.start() != position:
            break
        seconds += float(found.group(1)) * _UNIT_SECONDS[found.group(2)]
        position = found.end()
    if not text or position != len(text):
        raise ValueError(f"{text!r} is not a duration like 10m, 1h30m or 45s")
    return datetime.timedelta(seconds=seconds)


def host_of(stream: str) -> str:
    """``algo-2`` of ``<job>/algo-2-1700000000``; the name after the slash otherwise."""
    found = _HOST.search(stream)
    return found.group(1) if found else stream.rpartition("/")[2]


@dataclass(frozen=True)
class Line:
    host: str
    timestamp: int  # epoch milliseconds
    message: str


def interleave(batches: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Line]:
    """Events read from several hosts, merged in time order; a host's own order is kept (a
    stable sort, hosts taken in name order on equal timestamps)."""
    lines = [
        Line(host, int(event["timestamp"]), str(event["message"]))
        for host in sorted(batches, key=_host_key)
        for event in batches[host]
    ]
    lines.sort(key=lambda line: line.timestamp)
    return lines


def _host_key(host: str) -> tuple[int, str]:
    number = host.removeprefix("algo-")
    return (int(number), host) if number.isdigit() else (1 << 30, host)


def rfc3339(timestamp_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp_ms / 1000, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render(
    line: Line, *, timestamps: bool, prefix: bool, colours: Mapping[str, str] | None = None
) -> str:
    """One printed line: ``[algo-1] message``, with the time first if asked for."""
    parts = []
    if timestamps:
        parts.append(rfc3339(line.timestamp))
    if prefix:
        tag = f"[{line.host}]"
        colour = (colours or {}).get(line.host)
        parts.append(click.style(tag, fg=colour) if colour else tag)
    parts.append(line.message.rstrip("\n"))
    return " ".join(parts)


def colours_for(hosts: Iterable[str]) -> dict[str, str]:
    return {host: COLOURS[i % len(COLOURS)] for i, host in enumerate(sorted(hosts, key=_host_key))}
