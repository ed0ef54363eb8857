"""``sagemaker-operator run``'s flags are the Settings fields: each has a flag and an env twin.

Pure: ``running.run`` (our own entry point) is replaced by a recorder of the Settings it is
given, so no operator, cluster or AWS is involved.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from sagemaker_operator import cli
from sagemaker_operator.config import Settings
from sagemaker_operator.controller import running

# Two ownership keys the samples can name (the setting reads its file at once).
KEYS = Path(tempfile.mkdtemp(prefix="smop-keys-"))
for _name in ("flag", "env"):
    (KEYS / _name).write_bytes(_name.encode() * 32)
FIELDS = Settings.model_fields
PREFIX = "SAGEMAKER_OPERATOR_"
DEFAULTS = {name: field.get_default(call_default_factory=True) for name, field in FIELDS.items()}
# The spellings users know that are not ``--<field-name>``; ``--kubeconfig`` is no setting.
SPELLINGS = {
    "namespaces": ("--namespace",),
    "standalone": ("--standalone", "--peering"),
    "extra_regions": ("--extra-region",),
    "operation_rates": ("--operation-rate",),
}


@dataclass(frozen=True)
class Sample:
    """A flag and an env value for one field, each unlike the default and unlike each other."""

    flag: tuple[str, ...]
    value: Any
    env: str
    env_value: Any
    # A flag that beats ``env``, where ``flag`` sets what ``env`` sets (two-valued fields).
    winner: tuple[tuple[str, ...], Any] | None = None

    def beats_env(self) -> tuple[tuple[str, ...], Any]:
        return self.winner or (self.flag, self.value)


SAMPLES = {
    "default_region": Sample(
        ("--default-region", "eu-west-1"), "eu-west-1", "ap-south-1", "ap-south-1"
    ),
    "sagemaker_endpoint_url": Sample(
        ("--sagemaker-endpoint-url", "http://127.0.0.1:4566"),
        "http://127.0.0.1:4566",
        "http://emulator:8000",
        "http://emulator:8000",
    ),
    "namespaces": Sample(
        ("--namespace", "team-a", "--namespace", "team-b"),
        ["team-a", "team-b"],
        "team-c, team-d",
        ["team-c", "team-d"],
    ),
    "standalone": Sample(("--peering",), False, "false", False, winner=(("--standalone",), True)),
    "peering_name": Sample(("--peering-name", "pair"), "pair", "other-pair", "other-pair"),
    "peering_priority": Sample(("--peering-priority", "7"), 7, "9", 9),
    "peering_lifetime_seconds": Sample(("--peering-lifetime-seconds", "15"), 15, "30", 30),
    "poll_interval_seconds": Sample(("--poll-interval-seconds", "2.5"), 2.5, "4", 4.0),
    "full_sweep_interval_seconds": Sample(
        ("--full-sweep-interval-seconds", "120"), 120.0, "90.5", 90.5
    ),
    "events_queue_url": Sample(
        ("--events-queue-url", "https://sqs.eu-west-1.amazonaws.com/123456789012/sm-events"),
        "https://sqs.eu-west-1.amazonaws.com/123456789012/sm-events",
        "https://sqs.us-east-1.amazonaws.com/123456789012/other",
        "https://sqs.us-east-1.amazonaws.com/123456789012/other",
    ),
    "events_endpoint_url": Sample(
        ("--events-endpoint-url", "https://sqs.example.internal"),
        "https://sqs.example.internal",
        "https://vpce.example.internal",
        "https://vpce.example.internal",
    ),
    "events_sweep_interval_seconds": Sample(
        ("--events-sweep-interval-seconds", "60"), 60.0, "600", 600.0
    ),
    "events_consumers": Sample(("--events-consumers", "2"), 2, "8", 8),
    "listing_lease": Sample(
        ("--listing-lease", "ops/listing"), "ops/listing", "ops/other.lease", "ops/other.lease"
    ),
    "clock_skew_seconds": Sample(("--clock-skew-seconds", "0"), 0.0, "5.5", 5.5),
    "retry_max_delay_seconds": Sample(("--retry-max-delay-seconds", "30"), 30.0, "45", 45.0),
    "calls_per_second": Sample(("--calls-per-second", "0.5"), 0.5, "2", 2.0),
    "call_burst": Sample(("--call-burst", "3"), 3, "4", 4),
    "operation_rates": Sample(
        ("--operation-rate", "CreateTrainingJob=5/10", "--operation-rate", "ListTags=1"),
        ["CreateTrainingJob=5/10", "ListTags=1"],
        "ListTrainingJobs=1/1, AddTags=3",
        ["ListTrainingJobs=1/1", "AddTags=3"],
    ),
    "observation_share": Sample(("--observation-share", "0.25"), 0.25, "0.75", 0.75),
    "thread_pool_size": Sample(("--thread-pool-size", "4"), 4, "8", 8),
    "liveness_port": Sample(("--liveness-port", "0"), 0, "8081", 8081),
    "metrics_port": Sample(("--metrics-port", "0"), 0, "9091", 9091),
    "log_level": Sample(("--log-level", "DEBUG"), "DEBUG", "WARNING", "WARNING"),
    "log_format": Sample(
        ("--log-format", "json"), "json", "json", "json", winner=(("--log-format", "text"), "text")
    ),
    "require_policy": Sample(
        ("--require-policy",), True, "true", True, winner=(("--no-require-policy",), False)
    ),
    "extra_regions": Sample(
        ("--extra-region", "xx-new-1", "--extra-region", "xx-new-2"),
        ["xx-new-1", "xx-new-2"],
        "xx-env-1, xx-env-2",
        ["xx-env-1", "xx-env-2"],
    ),
    "allow_insecure_endpoint": Sample(
        ("--allow-insecure-endpoint",),
        True,
        "true",
        True,
        winner=(("--no-allow-insecure-endpoint",), False),
    ),
    "failure_log_tail": Sample(
        ("--failure-log-tail",), True, "true", True, winner=(("--no-failure-log-tail",), False)
    ),
    "ownership_key_file": Sample(
        ("--ownership-key-file", str(KEYS / "flag")),
        str(KEYS / "flag"),
        str(KEYS / "env"),
        str(KEYS / "env"),
    ),
}


@dataclass
class Call:
    settings: Settings
    kubeconfig: str | None
    observation: object = None


@pytest.fixture(autouse=True)
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """No SAGEMAKER_OPERATOR_* from the outside; ``running.run`` records instead of running."""
    for key in [key for key in os.environ if key.startswith(PREFIX)]:
        monkeypatch.delenv(key)
    recorded: list[Call] = []

    def record(
        settings: Settings, *, kubeconfig: str | None = None, observation: object = None
    ) -> None:
        recorded.append(Call(settings, kubeconfig, observation))

    monkeypatch.setattr(running, "run", record)
    return recorded


def run(
    calls: list[Call], *argv: str, env: dict[str, str] | None = None, obj: object = None
) -> Call:
    result = CliRunner().invoke(cli.main, ["run", *argv], env=env, obj=obj)
    assert result.exit_code == 0, result.output
    assert len(calls) == 1
    return calls.pop()


def env_twin(name: str) -> str:
    return PREFIX + name.upper()


def setting_options() -> dict[str, click.Option]:
    options = [param for param in cli.run.params if isinstance(param, click.Option)]
    return {str(option.name): option for option in options if option.name != "kubeconfig"}


def test_samples_cover_every_setting_and_can_tell_values_apart() -> None:
    assert set(SAMPLES) == set(FIELDS)
    for name, sample in SAMPLES.items():
        assert sample.value != DEFAULTS[name], name
        assert sample.env_value != DEFAULTS[name], name
        assert sample.beats_env()[1] != sample.env_value, name


def test_every_setting_has_a_flag_of_its_name() -> None:
    options = setting_options()
    assert set(options) == set(FIELDS)
    for name, option in options.items():
        dashed = "--" + name.replace("_", "-")
        expected = SPELLINGS.get(name) or (
            (dashed, "--no-" + dashed[2:]) if FIELDS[name].annotation is bool else (dashed,)
        )
        assert (*option.opts, *option.secondary_opts) == expected, name


def test_repeatable_and_choice_flags() -> None:
    options = setting_options()
    assert options["namespaces"].multiple
    assert isinstance(options["log_level"].type, click.Choice)
    assert list(options["log_level"].type.choices) == ["DEBUG", "INFO", "WARNING", "ERROR"]
    assert isinstance(options["log_format"].type, click.Choice)
    assert list(options["log_format"].type.choices) == ["text", "json"]


def test_help_is_the_description_and_names_the_env_twin() -> None:
    options = setting_options()
    for name, field in FIELDS.items():
        assert field.description, f"Settings.{name} has no description"
        assert field.description in (options[name].help or ""), name
        assert env_twin(name) in (options[name].help or ""), name
    result = CliRunner().invoke(cli.main, ["run", "--help"])
    assert result.exit_code == 0, result.output
    assert "--kubeconfig" in result.output
    assert "--standalone / --peering" in result.output


@pytest.mark.parametrize("name", list(SAMPLES))
def test_the_flag_sets_the_setting(calls: list[Call], name: str) -> None:
    sample = SAMPLES[name]
    got = run(calls, *sample.flag).settings
    assert got.model_dump() == {**DEFAULTS, name: sample.value}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_the_env_twin_sets_the_setting(calls: list[Call], name: str) -> None:
    sample = SAMPLES[name]
    got = run(calls, env={env_twin(name): sample.env}).settings
    assert got.model_dump() == {**DEFAULTS, name: sample.env_value}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_the_flag_wins_over_the_env_twin(calls: list[Call], name: str) -> None:
    sample = SAMPLES[name]
    argv, value = sample.beats_env()
    got = run(calls, *argv, env={env_twin(name): sample.env}).settings
    assert getattr(got, name) == value


def test_unset_flags_leave_the_environment(calls: list[Call]) -> None:
    env = {env_twin(name): sample.env for name, sample in SAMPLES.items()}
    got = run(calls, env=env).settings
    assert got.model_dump() == {name: sample.env_value for name, sample in SAMPLES.items()}


def test_one_flag_overrides_only_its_own_setting(calls: list[Call]) -> None:
    env = {env_twin(name): sample.env for name, sample in SAMPLES.items()}
    got = run(calls, "--call-burst", "99", env=env).settings
    expected = {name: sample.env_value for name, sample in SAMPLES.items()}
    assert got.model_dump() == {**expected, "call_burst": 99}


def test_no_flag_and_no_env_is_the_defaults(calls: list[Call]) -> None:
    call = run(calls)
    assert call.settings.model_dump() == DEFAULTS
    assert call.kubeconfig is None


def test_kubeconfig_is_passed_on_and_is_no_setting(calls: list[Call]) -> None:
    assert "kubeconfig" not in FIELDS
    call = run(calls, "--kubeconfig", "/tmp/kubeconfig.yaml")
    assert call.kubeconfig == "/tmp/kubeconfig.yaml"
    assert call.settings.model_dump() == DEFAULTS


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (("--poll-interval-seconds", "0"), {}, "--poll-interval-seconds"),
        ((), {env_twin("call_burst"): "0"}, env_twin("call_burst")),
        (("--listing-lease", "listing"), {}, "--listing-lease"),  # no namespace
        (("--listing-lease", "Ops/../x"), {}, "--listing-lease"),
    ],
)
def test_an_invalid_setting_is_a_usage_error(
    calls: list[Call], argv: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    result = CliRunner().invoke(cli.main, ["run", *argv], env=env)
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert calls == []


def test_an_unknown_choice_is_refused(calls: list[Call]) -> None:
    result = CliRunner().invoke(cli.main, ["run", "--log-format", "xml"])
    assert result.exit_code == 2, result.output
    assert calls == []


def test_an_embedding_program_chooses_the_observation_through_the_context(
    calls: list[Call],
) -> None:
    """The benchmark's baseline seam: ``main(obj={"observation": ...})`` reaches running.run."""
    chosen = object()
    assert run(calls, obj={"observation": chosen}).observation is chosen


def test_the_default_observation_is_left_to_running(calls: list[Call]) -> None:
    assert run(calls).observation is None
