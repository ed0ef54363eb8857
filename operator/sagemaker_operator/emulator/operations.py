"""The training-job operations: what each SageMaker call does to the store and answers.

Requests reach this module already validated against the model (:mod:`.validation`); what
is checked here is what the model cannot say: a duplicate name, a job in the wrong state, a
spot outcome asked of a job without spot training, the cross-member rules of
``StoppingCondition``.

A job can ask for its own fate through tags, so a manifest carries it to the emulator with
no side channel (keys under :data:`FATE_PREFIX`, read once at creation):

``emulator.sagemaker-operator.io/outcome``
    ``Completed`` (default), ``Failed`` (an error while training), ``CapacityError`` (fails
    while ``Starting``, before any instance is billed), or for managed spot training ``Interrupted``
    (interrupted mid-training, resumes, completes) or ``MaxWaitTimeExceeded`` (interrupted,
    never resumes; ends ``Stopped``). ``MaxRuntimeExceeded`` follows from a
    ``StoppingCondition.MaxRuntimeInSeconds`` shorter than the job.
``emulator.sagemaker-operator.io/failure-reason``
    The ``FailureReason`` of a ``Failed`` job.
``emulator.sagemaker-operator.io/duration-seconds``
    Emulated seconds of the ``Training`` phase (scaled like every duration).
``emulator.sagemaker-operator.io/log-lines-per-second``
    Log lines each host writes per emulated second while ``Training`` (default 1; see
    :mod:`.logs`).

Instance quotas (``FaultSettings.instance_quotas``, set by ``--instance-quota`` or the admin
endpoint) refuse a create with ``ResourceLimitExceeded`` when the instances of that type held
by the region's jobs (running, stopping, or keeping an ``Available`` warm pool) plus the
request's would exceed the quota, in the words AWS uses.

Describe echoes every member the create request had that the Describe output also has,
chosen by the model rather than listed here, so new members round-trip on their own.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Final

from botocore.model import ServiceModel

from sagemaker_operator.emulator import lifecycle, listing, protocol, settings, store
from sagemaker_operator.emulator.validation import member_path

FATE_PREFIX: Final = "emulator.sagemaker-operator.io/"
TAG_OUTCOME: Final = FATE_PREFIX + "outcome"
TAG_FAILURE_REASON: Final = FATE_PREFIX + "failure-reason"
TAG_DURATION: Final = FATE_PREFIX + "duration-seconds"
TAG_LOG_RATE: Final = FATE_PREFIX + "log-lines-per-second"
DEFAULT_LOG_RATE: Final = 1.0  # log lines per emulated second, per host, while Training
MAX_LOG_RATE: Final = 10_000.0
DEFAULT_FAILURE_REASON: Final = (
    f"AlgorithmError: the job failed as its tag {TAG_OUTCOME} asked (emulated failure)"
)

DEFAULT_MAX_RUNTIME: Final = 86400  # what SageMaker reports when no StoppingCondition is given
MAX_RUNTIME_LIMIT: Final = 28 * 86400  # AWS's ceiling for MaxRuntimeInSeconds
MAX_TAGS: Final = 50

Handler = Callable[[dict[str, Any], str, float], dict[str, Any]]
Quotas = Callable[[], Mapping[str, int]]  # instance type -> instances the account may hold


class Service:
    """The emulated SageMaker training-job API over one :class:`store.Store`."""

    def __init__(
        self,
        model: ServiceModel,
        config: settings.Settings,
        jobs: store.Store,
        *,
        quotas: Quotas | None = None,
    ) -> None:
        self.config = config
        self.store = jobs
        # Read on every create, so the admin endpoint's changes apply at once.
        self.quotas: Quotas = quotas or (lambda: config.faults.instance_quotas)
        create_input = model.operation_model("CreateTrainingJob").input_shape
        describe_output = model.operation_model("DescribeTrainingJob").output_shape
        assert create_input is not None
        assert describe_output is not None
        created, described = create_input.members, describe_output.members
        self._echoed = [m for m in described if m in created and m not in ("Tags",)]
        self.handlers: dict[str, Handler] = {
            "CreateTrainingJob": self.create,
            "DescribeTrainingJob": self.describe,
            "ListTrainingJobs": self.list,
            "StopTrainingJob": self.stop,
            "UpdateTrainingJob": self.update,
            "DeleteTrainingJob": self.delete,
            "AddTags": self.add_tags,
            "ListTags": self.list_tags,
            "DeleteTags": self.delete_tags,
        }

    # -- lookups --------------------------------------------------------------------------

    def arn(self, region: str, name: str) -> str:
        return f"arn:aws:sagemaker:{region}:{self.config.account}:training-job/{name.lower()}"

    def _find(self, region: str, name: str, now: float) -> store.Job | None:
        job = self.store.get((region, name.lower()))
        if job is not None and job.deleted is not None and now >= job.deleted + job.plan.stopping:
            self.store.forget(job.key)  # Deleting is over: the name is free again
            return None
        return job

    def _job(self, region: str, name: str, now: float) -> store.Job:
        job = self._find(region, name, now)
        if job is None:
            raise protocol.not_found()
        return job

    def _job_by_arn(self, arn: str, now: float) -> store.Job:
        # arn:aws:sagemaker:<region>:<account>:training-job/<name>
        parts = arn.split(":", 5)
        if len(parts) == 6 and parts[5].startswith("training-job/"):
            job = self._find(parts[3], parts[5].removeprefix("training-job/"), now)
            if job is not None and parts[4] == self.config.account:
                return job
        raise protocol.not_found()

    def status(self, job: store.Job, now: float) -> tuple[lifecycle.Snapshot, str]:
        snapshot = job.observe(now)
        return snapshot, ("Deleting" if job.deleted is not None else snapshot.status)

    # -- operations -----------------------------------------------------------------------

    def create(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        name: str = params["TrainingJobName"]
        existing = self._find(region, name, now)
        if existing is not None:
            raise protocol.resource_in_use(
                f"Training job names must be unique within an AWS account and region, and a "
                f"training job with this name already exists ({existing.arn})"
            )
        # NB: the model no longer marks AlgorithmSpecification required (serverless jobs built
        # from a model package may omit it); those are not emulated, so a job needs one.
        algorithm = params.get("AlgorithmSpecification")
        if algorithm is None:
            raise protocol.validation_error(
                "Value null at 'algorithmSpecification' failed to satisfy constraint: "
                "Member must not be null (the emulator runs only algorithm-based jobs)"
            )
        if not algorithm.get("TrainingImage") and not algorithm.get("AlgorithmName"):
            raise protocol.validation_error(
                "Either 'algorithmSpecification.trainingImage' or "
                "'algorithmSpecification.algorithmName' must be specified."
            )
        instances = _instances(params.get("ResourceConfig") or {})
        tags = _tags(params.get("Tags") or [])
        plan = self._plan(params, tags)
        self._check_quotas(region, instances, now)
        request = {k: v for k, v in params.items() if k != "Tags"}
        job = store.Job(
            region=region,
            name=name,
            arn=self.arn(region, name),
            created=now,
            plan=plan,
            request=request,
            tags=tags,
        )
        self.store.put(job)
        return {"TrainingJobArn": job.arn}

    def _check_quotas(self, region: str, wanted: Mapping[str, int], now: float) -> None:
        """ResourceLimitExceeded if ``wanted`` instances would take a type over its quota."""
        quotas = self.quotas()
        limited = {kind: count for kind, count in wanted.items() if kind in quotas and count}
        if not limited:
            return
        held = dict.fromkeys(limited, 0)
        for job in self.store.jobs(region):
            if self._find(region, job.name, now) is None:
                continue
            snapshot = job.observe(now)
            if snapshot.terminal and snapshot.warm_pool != "Available":
                continue  # NB: a warm pool's instances count against the quota too
            for kind, count in _instances(job.request.get("ResourceConfig") or {}).items():
                if kind in held:
                    held[kind] += count
        for kind, count in sorted(limited.items()):
            if held[kind] + count > quotas[kind]:
                raise protocol.resource_limit_exceeded(
                    f"The account-level service limit '{kind} for training job usage' is "
                    f"{quotas[kind]} Instances, with current utilization of {held[kind]} "
                    f"Instances and a request delta of {count} Instances. Please contact AWS "
                    "support to request an increase for this limit."
                )

    def _plan(self, params: dict[str, Any], tags: dict[str, str]) -> lifecycle.Plan:
        scale = self.config.time_scale
        durations = self.config.durations
        spot = bool(params.get("EnableManagedSpotTraining"))
        stopping = params.get("StoppingCondition") or {}
        max_runtime = stopping.get("MaxRuntimeInSeconds")
        max_wait = stopping.get("MaxWaitTimeInSeconds")
        where = "stoppingCondition.maxWaitTimeInSeconds"
        if spot and max_wait is None:
            raise protocol.validation_error(
                f"'{where}' must be specified when 'enableManagedSpotTraining' is true."
            )
        if max_wait is not None and not spot:
            raise protocol.validation_error(
                f"'{where}' can be specified only when 'enableManagedSpotTraining' is true."
            )
        if max_wait is not None and max_runtime is not None and max_wait < max_runtime:
            raise protocol.validation_error(
                f"'{where}' must be greater than or equal to "
                "'stoppingCondition.maxRuntimeInSeconds'."
            )
        if max_runtime is not None and not spot and max_runtime > MAX_RUNTIME_LIMIT:
            raise protocol.validation_error(
                f"1 validation error detected: Value '{max_runtime}' at "
                "'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: "
                f"Member must have value less than or equal to {MAX_RUNTIME_LIMIT}"
            )

        outcome = tags.get(TAG_OUTCOME, lifecycle.COMPLETED)
        if outcome not in lifecycle.OUTCOMES:
            raise protocol.validation_error(
                f"Tag '{TAG_OUTCOME}' must be one of {', '.join(lifecycle.OUTCOMES)}, "
                f"not '{outcome}'."
            )
        if outcome in lifecycle.SPOT_OUTCOMES and not spot:
            raise protocol.validation_error(
                f"Tag '{TAG_OUTCOME}' value '{outcome}' needs 'enableManagedSpotTraining': "
                "only managed spot training is interrupted."
            )
        training = durations.training
        if TAG_DURATION in tags:
            try:
                training = float(tags[TAG_DURATION])
            except ValueError:
                training = -1.0
            if not training >= 0:  # NB: also refuses NaN
                raise protocol.validation_error(
                    f"Tag '{TAG_DURATION}' must be a number of seconds, not '{tags[TAG_DURATION]}'."
                )
        log_rate = DEFAULT_LOG_RATE
        if TAG_LOG_RATE in tags:
            try:
                log_rate = float(tags[TAG_LOG_RATE])
            except ValueError:
                log_rate = -1.0
            if not 0 < log_rate <= MAX_LOG_RATE:  # NB: also refuses NaN
                raise protocol.validation_error(
                    f"Tag '{TAG_LOG_RATE}' must be a number of lines per second above 0 and "
                    f"at most {MAX_LOG_RATE:g}, not '{tags[TAG_LOG_RATE]}'."
                )
        failure_reason = None
        if outcome == lifecycle.FAILED:
            failure_reason = tags.get(TAG_FAILURE_REASON) or DEFAULT_FAILURE_REASON
        elif outcome == lifecycle.CAPACITY_ERROR:
            failure_reason = tags.get(TAG_FAILURE_REASON) or lifecycle.CAPACITY_FAILURE
        # NB: a keep-alive of 0 asks for no warm pool at all.
        keep_alive = (params.get("ResourceConfig") or {}).get("KeepAlivePeriodInSeconds") or None
        return lifecycle.Plan(
            starting=durations.starting * scale,
            downloading=durations.downloading * scale,
            training=training * scale,
            uploading=durations.uploading * scale,
            stopping=durations.stopping * scale,
            outcome=outcome,
            failure_reason=failure_reason,
            max_runtime=max_runtime * scale if max_runtime is not None else None,
            max_wait=max_wait * scale if max_wait is not None else None,
            keep_alive=keep_alive * scale if keep_alive is not None else None,
            log_interval=scale / log_rate,
        )

    def describe(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        job = self._job(region, params["TrainingJobName"], now)
        return self.description(job, now)

    def description(self, job: store.Job, now: float) -> dict[str, Any]:
        snapshot, status = self.status(job, now)
        request = job.request
        out: dict[str, Any] = {"TrainingJobName": job.name, "TrainingJobArn": job.arn}
        for member in self._echoed:
            if member in request:
                out[member] = request[member]
        out.setdefault("StoppingCondition", {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME})
        out.setdefault("EnableNetworkIsolation", False)
        out.setdefault("EnableInterContainerTrafficEncryption", False)
        out.setdefault("EnableManagedSpotTraining", False)
        out["TrainingJobStatus"] = status
        out["SecondaryStatus"] = snapshot.secondary
        out["CreationTime"] = job.created
        out["LastModifiedTime"] = _last_modified(job, snapshot)
        if snapshot.training_start is not None:
            out["TrainingStartTime"] = snapshot.training_start
        if snapshot.training_end is not None:
            out["TrainingEndTime"] = snapshot.training_end
        if snapshot.failure_reason is not None:
            out["FailureReason"] = snapshot.failure_reason
        transitions = []
        for step, end in snapshot.transitions:
            entry: dict[str, Any] = {
                "Status": step.status,
                "StartTime": step.start,
                "StatusMessage": step.message,
            }
            if end is not None:
                entry["EndTime"] = end
            transitions.append(entry)
        out["SecondaryStatusTransitions"] = transitions
        produced = snapshot.status == "Completed" or (
            snapshot.status == "Stopped" and snapshot.training_start is not None
        )
        if produced:
            s3 = str(request["OutputDataConfig"]["S3OutputPath"]).rstrip("/")
            out["ModelArtifacts"] = {"S3ModelArtifacts": f"{s3}/{job.name}/output/model.tar.gz"}
        if snapshot.status == "Completed":
            out["FinalMetricDataList"] = _metrics(job, snapshot)
        if snapshot.training_seconds is not None:
            out["TrainingTimeInSeconds"] = snapshot.training_seconds
            out["BillableTimeInSeconds"] = snapshot.billable_seconds
        if snapshot.warm_pool is not None:
            out["WarmPoolStatus"] = {"Status": snapshot.warm_pool}
        for config, statuses in (
            ("DebugRuleConfigurations", "DebugRuleEvaluationStatuses"),
            ("ProfilerRuleConfigurations", "ProfilerRuleEvaluationStatuses"),
        ):
            if request.get(config):
                rule_status = "NoIssuesFound" if snapshot.terminal else "InProgress"
                out[statuses] = [
                    {
                        "RuleConfigurationName": rule["RuleConfigurationName"],
                        "RuleEvaluationStatus": rule_status,
                        "LastModifiedTime": snapshot.last_modified,
                    }
                    for rule in request[config]
                ]
        return out

    def summary(self, job: store.Job, now: float) -> dict[str, Any]:
        snapshot, status = self.status(job, now)
        out: dict[str, Any] = {
            "TrainingJobName": job.name,
            "TrainingJobArn": job.arn,
            "CreationTime": job.created,
            "LastModifiedTime": _last_modified(job, snapshot),
            "TrainingJobStatus": status,
            "SecondaryStatus": snapshot.secondary,
        }
        if snapshot.training_end is not None:
            out["TrainingEndTime"] = snapshot.training_end
        if snapshot.warm_pool is not None:
            out["WarmPoolStatus"] = {"Status": snapshot.warm_pool}
        return out

    def list(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        query = listing.Query.from_request(params)
        return listing.page(
            query, self.store.jobs(region), now, self.status, self.summary, self._present
        )

    def _present(self, job: store.Job, now: float) -> bool:
        return self._find(job.region, job.name, now) is not None

    def stop(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        job = self._job(region, params["TrainingJobName"], now)
        _, status = self.status(job, now)
        # NB: a job already Stopping is refused like any other state but InProgress.
        if status != "InProgress":
            raise protocol.validation_error(
                f"The request was rejected because the training job is in status {status}."
            )
        return self._save(job, stop_requested=now)

    def _save(self, job: store.Job, **changes: Any) -> dict[str, Any]:
        """Record ``changes`` to ``job``; an empty answer, as Stop and Delete give."""
        for name, value in changes.items():
            setattr(job, name, value)
        self.store.put(job)
        return {}

    def update(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        job = self._job(region, params["TrainingJobName"], now)
        snapshot, status = self.status(job, now)
        changes = {k: v for k, v in params.items() if k != "TrainingJobName" and v is not None}
        if not changes:
            raise protocol.validation_error(
                "Nothing to update: specify 'profilerConfig', 'profilerRuleConfigurations', "
                "'resourceConfig' or 'remoteDebugConfig'."
            )
        for member in ("ProfilerConfig", "ProfilerRuleConfigurations"):
            if member in changes and status != "InProgress":
                raise protocol.validation_error(
                    f"'{member_path('', member)}' can be updated only while the training job "
                    f"is InProgress; it is {status}."
                )
        if "RemoteDebugConfig" in changes and (
            status != "InProgress" or snapshot.secondary not in ("Downloading", "Training")
        ):
            raise protocol.validation_error(
                "'remoteDebugConfig' can be updated only while the secondary status is "
                f"Downloading or Training; it is {snapshot.secondary}."
            )
        plan = job.plan
        if "ResourceConfig" in changes:
            if status != "InProgress" and snapshot.warm_pool != "Available":
                raise protocol.validation_error(
                    "'resourceConfig.keepAlivePeriodInSeconds' can be updated only while the "
                    f"job is InProgress or its warm pool is Available; the job is {status}."
                )
            keep_alive = changes["ResourceConfig"]["KeepAlivePeriodInSeconds"]
            plan = dataclasses.replace(plan, keep_alive=keep_alive * self.config.time_scale)
        request = dict(job.request)
        for member, value in changes.items():
            if member == "ProfilerRuleConfigurations":
                request[member] = [*request.get(member, []), *value]
            elif isinstance(value, dict):
                request[member] = {**request.get(member, {}), **value}
            else:
                request[member] = value
        job.request, job.plan, job.modified = request, plan, now
        self.store.put(job)
        return {"TrainingJobArn": job.arn}

    def delete(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        job = self._job(region, params["TrainingJobName"], now)
        if job.deleted is not None:
            return {}
        snapshot, status = self.status(job, now)
        if not snapshot.terminal:
            raise protocol.resource_in_use(
                f"Training job {job.name} is {status}: only a job in a terminal state "
                "(Completed, Failed, Stopped) can be deleted."
            )
        if snapshot.warm_pool == "Available":
            raise protocol.resource_in_use(
                f"Training job {job.name} retains an Available warm pool: it cannot be deleted."
            )
        return self._save(job, deleted=now)

    def add_tags(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        job = self._job_by_arn(params["ResourceArn"], now)
        added = _tags(params["Tags"])
        merged = {**job.tags, **added}
        if len(merged) > MAX_TAGS:
            raise protocol.validation_error(
                f"A resource can have at most {MAX_TAGS} tags; 'tags' would make {len(merged)}."
            )
        job.tags = merged
        self.store.put(job)
        return {"Tags": params["Tags"]}

    def list_tags(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        job = self._job_by_arn(params["ResourceArn"], now)
        tags = [{"Key": k, "Value": v} for k, v in job.tags.items()]
        limit = params.get("MaxResults") or MAX_TAGS
        start = 0
        token = params.get("NextToken")
        if token:
            try:
                start = int(token)
            except ValueError:
                raise protocol.validation_error(f"Invalid 'nextToken': '{token}'.") from None
        out: dict[str, Any] = {"Tags": tags[start : start + limit]}
        if start + limit < len(tags):
            out["NextToken"] = str(start + limit)
        return out

    def delete_tags(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        job = self._job_by_arn(params["ResourceArn"], now)
        job.tags = {k: v for k, v in job.tags.items() if k not in set(params["TagKeys"])}
        self.store.put(job)
        return {}


def _instances(resource_config: Mapping[str, Any]) -> dict[str, int]:
    """Instances per type a ResourceConfig asks for; refuses a mix of the two ways to ask."""
    groups = resource_config.get("InstanceGroups")
    if groups:
        single = [m for m in ("InstanceType", "InstanceCount") if m in resource_config]
        if single:
            members = " and ".join(f"'{member_path('resourceConfig', m)}'" for m in single)
            raise protocol.validation_error(
                f"{members} cannot be specified together with "
                "'resourceConfig.instanceGroups': give either one instance type and count, "
                "or instance groups for a heterogeneous cluster."
            )
        wanted: dict[str, int] = {}
        for group in groups:
            kind = group["InstanceType"]
            wanted[kind] = wanted.get(kind, 0) + int(group["InstanceCount"])
        return wanted
    kind = resource_config.get("InstanceType")
    return {kind: int(resource_config.get("InstanceCount") or 1)} if kind else {}


def _tags(tags: list[dict[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, tag in enumerate(tags, start=1):
        if tag["Key"] in out:
            raise protocol.validation_error(
                f"Duplicate tag key '{tag['Key']}' at 'tags.{i}.member.key': tag keys must be "
                "unique per resource."
            )
        out[tag["Key"]] = tag.get("Value", "")
    return out


def _last_modified(job: store.Job, snapshot: lifecycle.Snapshot) -> float:
    if job.deleted is not None:
        return max(snapshot.last_modified, job.deleted)
    return snapshot.last_modified


def _metrics(job: store.Job, snapshot: lifecycle.Snapshot) -> list[dict[str, Any]]:
    """A final value per metric the algorithm defines; fixed per job, so reruns agree."""
    definitions = job.request.get("AlgorithmSpecification", {}).get("MetricDefinitions") or []
    names = [d["Name"] for d in definitions] or ["train:loss"]
    return [
        {
            "MetricName": name,
            "Value": metric_value(job.name, name),
            "Timestamp": snapshot.training_end,
        }
        for name in names
    ]


def metric_value(job_name: str, metric: str) -> float:
    """The final value of one metric of one job: fixed, so Describe and the log agree."""
    digest = hashlib.sha256(f"{job_name}/{metric}".encode()).digest()
    return round(int.from_bytes(digest[:4], "big") / 2**32, 6)
