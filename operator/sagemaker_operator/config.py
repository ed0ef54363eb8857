"""The operator's settings: flags and environment, read once through pydantic-settings.

Every setting has an environment twin named ``SAGEMAKER_OPERATOR_<FIELD>`` (the Helm chart
sets those), and ``sagemaker-operator run`` has a flag for each, generated from the fields below
(``settings_cli.py``): ``--<field-name>`` with dashes, its help the field's description. A field
may name another spelling in ``json_schema_extra={"cli_flag": ...}``. A flag wins over the
environment, the environment over the default. AWS credentials are never settings: they come
from the standard AWS chain (IRSA / pod identity in a cluster, env or profile locally).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sagemaker_operator.controller import proofs
from sagemaker_operator.sagemaker import budget


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAGEMAKER_OPERATOR_", frozen=True)

    default_region: str | None = Field(
        None, description="Region for resources without spec.region; else the AWS chain's region."
    )
    sagemaker_endpoint_url: str | None = Field(
        None, description="SageMaker endpoint override, e.g. the emulator's URL."
    )
    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Namespaces to watch (repeat the flag; comma-separated in the environment); "
        "none: all.",
        json_schema_extra={"cli_flag": "--namespace"},
    )
    standalone: bool = Field(
        True,
        description="Run without peering (a single replica), or as a peer of an "
        "active/standby pair.",
        json_schema_extra={"cli_flag": "--standalone/--peering"},
    )
    peering_name: str | None = Field(
        None, description="kopf peering name for an active/standby pair; implies not standalone."
    )
    peering_priority: int | None = Field(
        None,
        description="kopf peering priority of this replica; the highest live peer is active. "
        "Default: a random one per process, because kopf pauses every peer on a tie.",
    )
    peering_lifetime_seconds: int = Field(
        60,
        ge=5,
        description="Lease of each peer: a standby takes over this long after the active dies.",
    )
    poll_interval_seconds: float = Field(
        10.0, gt=0, description="How often each region's poller lists recently modified jobs."
    )
    full_sweep_interval_seconds: float = Field(
        600.0,
        gt=0,
        description="How often a poller lists its whole creation window without "
        "LastModifiedTimeAfter: running jobs it no longer shows are described, and the oldest "
        "may move to a Describe per cycle where that costs fewer List pages.",
    )
    events_queue_url: str | None = Field(
        None,
        description="SQS queue that an EventBridge rule fills with SageMaker's Training Job "
        "State Change events: status follows them, and the pollers only sweep (docs/events.md).",
    )
    events_endpoint_url: str | None = Field(
        None, description="SQS endpoint override for the events queue, e.g. the emulator's URL."
    )
    events_sweep_interval_seconds: float = Field(
        300.0,
        gt=0,
        description="With an events queue: how often each region's poller still lists, the "
        "safety net for events lost or late.",
    )
    events_consumers: int = Field(
        4, ge=1, le=32, description="Long polls of the events queue at once (a thread each)."
    )
    listing_lease: str = Field(
        "",
        pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="NAMESPACE/NAME of a Lease where each Region's poller keeps where its "
        "listing begins, so that after a restart the first listing starts before every "
        "resource is read (the chart creates it); empty: off.",
    )
    clock_skew_seconds: float = Field(
        60.0, ge=0, description="Overlap added to LastModifiedTimeAfter against clock skew."
    )
    retry_max_delay_seconds: float = Field(
        300.0, ge=1, description="Cap of the jittered exponential backoff of transient faults."
    )
    calls_per_second: float = Field(
        25.0,
        gt=0,
        description="SageMaker calls per second per region, all operations together: a cap "
        "over the per-operation budgets, for an account shared with other clients.",
    )
    call_burst: int = Field(50, ge=1, description="Burst size of that per-region cap.")
    operation_rates: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        json_schema_extra={"cli_flag": "--operation-rate"},
        description="Per-operation budgets, Operation=RATE[/BURST] (e.g. CreateTrainingJob=5/10), "
        "over the defaults (CreateTrainingJob 2/5, DescribeTrainingJob 10/20, ListTrainingJobs "
        "2/2, StopTrainingJob 2/5, UpdateTrainingJob 1/1, ListTags 10/20, AddTags 2/5, and "
        "CloudWatch Logs' GetLogEvents 5/5).",
    )
    observation_share: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="Share of the operations both handlers and pollers call (DescribeTrainingJob, "
        "ListTags) guaranteed to the pollers; the rest is the handlers'. Either side borrows "
        "what the other leaves unused.",
    )
    thread_pool_size: int = Field(
        16,
        ge=1,
        description="Threads for the handlers' blocking SageMaker calls, as many for their "
        "Kubernetes calls, and as many again of each for the pollers'; also how many changed "
        "jobs a poller describes and writes at once.",
    )
    liveness_port: int = Field(8080, ge=0, description="Port of /healthz; 0 disables it.")
    metrics_port: int = Field(9090, ge=0, description="Port of /metrics; 0 disables it.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description="Level of kopf's and the operator's logs (botocore and boto3 never below "
        "INFO: their DEBUG records carry credentials).",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text, or as one JSON object each."
    )
    require_policy: bool = Field(
        False,
        description="Run jobs only in namespaces a TrainingJobPolicy selects (deny otherwise).",
    )
    extra_regions: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        json_schema_extra={"cli_flag": "--extra-region"},
        description="Regions to accept beyond those botocore knows for SageMaker "
        "(comma-separated), e.g. a Region newer than the installed botocore.",
    )
    failure_log_tail: bool = Field(
        False,
        description="When a job ends Failed, read the last 20 lines of the failing host's "
        "CloudWatch log (one logs:GetLogEvents call) into a Warning Event and "
        "status.failureLogTail, credential-looking strings redacted.",
    )
    ownership_key_file: str | None = Field(
        None,
        description="File holding the key (at least 32 bytes) of the ownership proofs written "
        "to status, so a restarted operator need not ask SageMaker (ListTags) whose each job "
        "is; the chart mounts a Secret only the operator reads. None: every process asks.",
    )
    allow_insecure_endpoint: bool = Field(
        False,
        description="Allow a plain http:// --sagemaker-endpoint-url (a local emulator only: "
        "never send real credentials over http).",
    )

    @field_validator("ownership_key_file")
    @classmethod
    def _check_key(cls, value: str | None) -> str | None:
        # NB: read at start-up, so a missing or short key stops the operator with its reason
        # instead of running on with every restart paying a ListTags per job.
        proofs.Proofs.from_file(value)
        return value

    @field_validator("operation_rates")
    @classmethod
    def _parse_rates(cls, value: list[str]) -> list[str]:
        for text in value:
            budget.Rate.parse(text)  # raises ValueError with the offending entry
        return value

    @field_validator("namespaces", "extra_regions", "operation_rates", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value
