"""The Kubernetes grading cluster (hub_config/dask/) checked against the grader it runs.

No cluster is involved (docs/scaling.md, "Kubernetes", says what is untested): these tests read
``daskcluster.yaml`` and the image's Dockerfile and check that they start what
:mod:`autograder.cluster` expects: every process from the course's environment with the grader
preloaded, CPU workers without a GPU, GPU workers offering the resource that GPU jobs ask for,
privileged workers (the sandbox needs root), Dask's lean settings in the image, and pods whose
memory limit holds every submission they may grade at once at its own limit.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from autograder import cluster, config
from autograder.models.judge import EVALUATOR_LIMITS
from tests.conftest import REPO

DASK = REPO / "hub_config" / "dask"
DASK_BIN = "/srv/course/.venv/bin/dask"
WORKER_PROCESS_GIB = 1.0
"""Memory the worker process itself may take (Dask, the grader, TensorFlow for the checks)."""


def _gib(quantity: str) -> float:
    """A Kubernetes memory quantity (``12Gi``, ``512Mi``) in GiB."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)(Gi|Mi)", quantity)
    assert found, f"memory {quantity!r} is not in Gi or Mi"
    return float(found.group(1)) / (1 if found.group(2) == "Gi" else 1024)


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    """The documents of daskcluster.yaml by kind."""
    docs = list(yaml.safe_load_all((DASK / "daskcluster.yaml").read_text()))
    return {doc["kind"]: doc for doc in docs}


def _command(container: dict[str, Any]) -> str:
    return " ".join(container.get("command", []) + container["args"])


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def _workers(manifests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The worker container of each group: "cpu" (the cluster's own), "gpu" (the extra group)."""
    return {"cpu": manifests["DaskCluster"]["spec"]["worker"]["spec"]["containers"][0],
            "gpu": manifests["DaskWorkerGroup"]["spec"]["worker"]["spec"]["containers"][0]}


def test_every_process_runs_the_course_environment_with_the_grader(manifests: dict[str, dict[str, Any]]) -> None:
    scheduler = manifests["DaskCluster"]["spec"]["scheduler"]["spec"]["containers"][0]
    for container in [scheduler, *_workers(manifests).values()]:
        command = _command(container)
        assert DASK_BIN in command and "--preload autograder.cluster" in command, command


def test_cpu_workers_see_no_gpu(manifests: dict[str, dict[str, Any]]) -> None:
    worker = _workers(manifests)["cpu"]
    assert _env(worker)["CUDA_VISIBLE_DEVICES"] == "-1"
    assert {k: _env(worker)[k] for k in cluster.NO_NVML} == cluster.NO_NVML
    assert "--resources" not in _command(worker)
    assert "nvidia.com/gpu" not in worker["resources"].get("limits", {})


def test_gpu_workers_offer_the_resource_gpu_jobs_ask_for(manifests: dict[str, dict[str, Any]]) -> None:
    group = manifests["DaskWorkerGroup"]
    assert group["spec"]["cluster"] == manifests["DaskCluster"]["metadata"]["name"]
    worker = _workers(manifests)["gpu"]
    assert f"--resources {cluster.GPU}=1" in _command(worker)
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert any(t["key"] == "nvidia.com/gpu" for t in group["spec"]["worker"]["spec"]["tolerations"])


def test_workers_run_privileged_as_root(manifests: dict[str, dict[str, Any]]) -> None:
    """bubblewrap namespaces, tmpfs mounts, cgroups and the sandbox user need root."""
    for worker in _workers(manifests).values():
        assert worker["securityContext"] == {"privileged": True, "runAsUser": 0}


def test_worker_pods_hold_every_submission_they_grade_at_once(manifests: dict[str, dict[str, Any]]) -> None:
    """A pod over its memory limit is killed with every submission in it: the limit must hold
    ``--nthreads`` kernels at the largest memory_mb of the assignments the group may take (CPU
    workers take GPU jobs too when no GPU worker runs), one evaluator jail, and the worker."""
    course = config.load(REPO)
    largest = max(course.sandbox(a).memory_bytes for a in [*course.assignments, "03.0_gradient_descent"]) / 1024**3
    for name, worker in _workers(manifests).items():
        threads = int(re.search(r"--nthreads\s+(\d+)", _command(worker)).group(1))  # type: ignore[union-attr]
        needed = threads * largest + EVALUATOR_LIMITS.memory_bytes / 1024**3 + WORKER_PROCESS_GIB
        limit = _gib(worker["resources"]["limits"]["memory"])
        assert limit >= needed, f"{name} workers: memory limit {limit:g} GiB < {needed:g} GiB needed"
        assert _gib(worker["resources"]["requests"]["memory"]) <= limit


def test_image_carries_the_lean_dask_settings() -> None:
    """The image puts hub_config/dask/config/grading.yaml where Dask reads it in every pod."""
    dockerfile = (DASK / "Dockerfile").read_text()
    assert "COPY hub_config/dask/config/grading.yaml /etc/dask/grading.yaml" in dockerfile
