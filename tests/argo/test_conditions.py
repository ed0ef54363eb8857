"""examples/argo/'s conditions and output jsonPath read what our status really holds.

Argo cannot run here. The conditions are read from the example Workflows (never copied) and
evaluated with :mod:`tests.argo.conditions`, Argo's label-selector semantics over gjson
paths, against TrainingJobs the real operator drove to Completed, Failed (SageMaker's
failure) and Stopped (StopTrainingJob on the job, outside Kubernetes); the outputs'
``jsonPath`` is evaluated by our kubectl's ``-o jsonpath=``, the same Kubernetes JSONPath
Argo uses. The TrainingJob itself is the example Workflow's own manifest.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from sagemaker_operator import names
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.argo import conditions
from tests.argo.conditions import Requirement, SelectorError, evaluate, parse
from tests.controller.helpers import FATE, eventually, get, wait_phase
from tests.helm.chart import REPO_ROOT
from tests.plugins.emulator import client_for
from tests.plugins.operator import StartOperator

EXAMPLES = REPO_ROOT / "examples" / "argo"


def resource_templates(workflow: str) -> list[dict[str, Any]]:
    document = yaml.safe_load((EXAMPLES / workflow).read_text())
    parameters = {p["name"]: p["value"] for p in document["spec"]["arguments"]["parameters"]}
    found = []
    for template in document["spec"]["templates"]:
        if "resource" in template:
            template = dict(template)
            manifest = re.sub(
                r"\{\{workflow\.parameters\.([-\w]+)\}\}",
                lambda m: parameters[m.group(1)],
                template["resource"]["manifest"],
            )
            template["manifest"] = yaml.safe_load(manifest)
            found.append(template)
    return found


TEMPLATES = [t for name in ("train.yaml", "pipeline.yaml") for t in resource_templates(name)]
(TRAIN,) = resource_templates("train.yaml")


def verdict(template: dict[str, Any], resource: dict[str, Any]) -> conditions.Verdict:
    spec = template["resource"]
    return evaluate(resource, parse(spec["successCondition"]), parse(spec["failureCondition"]))


def verdicts(resource: dict[str, Any]) -> set[conditions.Verdict]:
    return {verdict(template, resource) for template in TEMPLATES}


# --- the evaluator itself, on Kubernetes' documented selector semantics -------------------


def test_the_selector_parser_follows_kubernetes() -> None:
    assert parse("status.phase == Completed") == [
        Requirement("status.phase", "==", frozenset({"Completed"}))
    ]
    assert parse("a in (x, y),!b,c,d notin (z),e>3") == [
        Requirement("a", "in", frozenset({"x", "y"})),
        Requirement("b", "!"),
        Requirement("c", "exists"),
        Requirement("d", "notin", frozenset({"z"})),
        Requirement("e", ">", frozenset({"3"})),
    ]
    for bad in ("status.phase == In Progress", "a in ()", "a ~ b", "a > x", "a ==", "-a"):
        with pytest.raises(SelectorError):
            parse(bad)


def test_requirements_match_as_kubernetes_labels_do() -> None:
    document = {"status": {"phase": "Failed", "n": 5, "ok": True, "list": [{"x": "y"}]}}
    cases = {
        "status.phase = Failed": True,
        "status.phase in (Failed,Stopped)": True,
        "status.phase notin (Failed)": False,
        "status.missing != x": True,  # a missing key satisfies != and notin
        "status.missing notin (x)": True,
        "status.missing in (x)": False,
        "!status.missing": True,
        "status.n > 4,status.n < 6": True,
        "status.phase > 1": False,  # not an integer
        "status.ok == true": True,
        "status.list.0.x == y": True,
        "status.phase": True,
    }
    for selector, expected in cases.items():
        assert all(r.matches(document) for r in parse(selector)) is expected, selector


def test_argo_checks_failure_first_and_needs_every_success_requirement() -> None:
    document = {"a": "1", "b": "2"}
    assert evaluate(document, parse("a == 1"), parse("b == 2")) == "Failed"
    assert evaluate(document, parse("a == 1,b == 3"), parse("b == 9")) == "Running"
    assert evaluate(document, parse("a == 1,b == 2"), parse("b == 9,a == 9")) == "Succeeded"


# --- the examples against resources the real operator drove ----------------------------------


def training_job(name: str, **fate: str) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(yaml.safe_dump(TRAIN["manifest"]))
    manifest["metadata"] = {"name": name}  # Argo would use generateName
    manifest["spec"]["tags"] = [{"key": FATE + k, "value": v} for k, v in fate.items()]
    return manifest


def jsonpath(plane: ControlPlane, namespace: str, name: str, expression: str) -> str:
    return plane.kubectl(
        "get", names.PLURAL, name, "-n", namespace, "-o", f"jsonpath={expression}"
    ).stdout


def test_the_examples_have_the_conditions_this_test_evaluates() -> None:
    assert len(TEMPLATES) == 2
    for template in TEMPLATES:
        assert parse(template["resource"]["successCondition"])
        assert parse(template["resource"]["failureCondition"])
        assert template["manifest"]["kind"] == names.KIND


def test_every_phase_maps_to_one_argo_verdict() -> None:
    """The design's phases: only terminal ones end the step, so the step never hangs."""
    expected: dict[str | None, conditions.Verdict] = {
        None: "Running",  # no status yet
        "Pending": "Running",
        "InProgress": "Running",
        "Stopping": "Running",
        "Completed": "Succeeded",
        "Failed": "Failed",
        "Stopped": "Failed",
    }
    for phase, wanted in expected.items():
        resource = {"status": {"phase": phase}} if phase else {"metadata": {"name": "x"}}
        assert verdicts(resource) == {wanted}, phase


def test_conditions_read_completed_failed_and_stopped_resources(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    start_operator(namespace)
    documents = [
        training_job("completes"),
        training_job("fails", outcome="Failed"),
        training_job("stopped", **{"duration-seconds": "100000"}),
    ]
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(documents))
    # Before SageMaker is done, neither condition holds: Argo keeps waiting. (Stopping would
    # too, by the same rule, but lasts too briefly in the emulator to be caught reliably.)
    running = wait_phase(control_plane, namespace, "stopped", "InProgress")
    assert verdicts(running) == {"Running"}

    done = wait_phase(control_plane, namespace, "completes", "Completed")
    assert verdicts(done) == {"Succeeded"}
    failed = wait_phase(control_plane, namespace, "fails", "Failed")
    assert verdicts(failed) == {"Failed"}

    eventually(lambda: get(control_plane, namespace, "stopped")["status"].get("trainingJobName"))
    job_name = get(control_plane, namespace, "stopped")["status"]["trainingJobName"]
    client_for(sagemaker_emulator.url).stop_training_job(TrainingJobName=job_name)
    stopped = wait_phase(control_plane, namespace, "stopped", "Stopped")
    assert verdicts(stopped) == {"Failed"}

    # The pipeline's outputs, through Kubernetes JSONPath as Argo evaluates them.
    (train_step,) = [t for t in resource_templates("pipeline.yaml") if "outputs" in t]
    outputs = {
        p["name"]: jsonpath(control_plane, namespace, "completes", p["valueFrom"]["jsonPath"])
        for p in train_step["outputs"]["parameters"]
    }
    status = done["status"]
    assert outputs["model-artifacts"] == status["modelArtifacts"]["s3ModelArtifacts"]
    output_path = TRAIN["manifest"]["spec"]["outputDataConfig"]["s3OutputPath"]
    assert (
        outputs["model-artifacts"]
        == f"{output_path}{status['trainingJobName']}/output/model.tar.gz"
    )
    assert outputs["training-job-name"] == status["trainingJobName"]
