"""The Kubernetes deployment (hub_config/k8s/) checked as Helm and the hub would read it.

Helm merges a values file over the chart's defaults and validates the result against the
chart's JSON schema before it renders anything. The zero-to-jupyterhub chart's two files live in
``shared/z2jh`` beside the repository (``Z2JH_DIR`` names another folder); without them every
test here fails, it does not skip. The schema passes ``profileList`` and ``extraConfig`` through
unchecked, so the tests also check the profiles against KubeSpawner's traits, run the
extraConfig snippets the way the hub does, and check that values.yaml, formgrader.yaml,
volumes.yaml and the Dockerfile agree. No cluster is involved: docs/kubernetes.md lists what is
left untested.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlparse

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from jupyterhub.scopes import _check_scopes_exist
from jupyterhub.spawner import Spawner
from traitlets.config import Config
from traitlets.config.loader import LazyConfigValue

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "hub_config" / "k8s"
Z2JH_ENV = "Z2JH_DIR"
Z2JH_DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "z2jh"
EXCHANGE = "/srv/nbgrader/exchange"

Values = dict[str, Any]

# KubeSpawner's own configurable traits: sorted(set(KubeSpawner.class_trait_names(config=True)) -
# set(Spawner.class_trait_names(config=True))) for jupyterhub-kubespawner==7.1.0 (the newest
# release) over jupyterhub==6.1.1. Listed, not imported: kubespawner brings kubernetes_asyncio,
# 48 MB of generated API models, for a check of names. The inherited traits (mem_limit,
# cpu_limit, environment, ...) come from the jupyterhub installed here. After a KubeSpawner
# upgrade, run that expression in a scratch environment and paste the result.
KUBESPAWNER_OWN_TRAITS = frozenset({
    "additional_profile_form_template_paths", "after_pod_created_hook", "allow_privilege_escalation",
    "automount_service_account_token", "common_labels", "component_label", "container_security_context",
    "delete_grace_period", "delete_pvc", "delete_stopped_pods", "dns_name_template", "enable_user_namespaces",
    "events_enabled", "extra_annotations", "extra_container_config", "extra_containers", "extra_labels",
    "extra_pod_config", "extra_resource_guarantees", "extra_resource_limits", "fs_gid", "get_pod_url", "gid",
    "handle_legacy_names", "hub_connect_ip", "hub_connect_port", "image", "image_pull_policy",
    "image_pull_secrets", "init_containers", "k8s_api_host", "k8s_api_request_retry_timeout",
    "k8s_api_request_timeout", "k8s_api_ssl_ca_cert", "k8s_api_threadpool_workers", "k8s_api_verify_ssl",
    "lifecycle_hooks", "modify_pod_hook", "namespace", "node_affinity_preferred", "node_affinity_required",
    "node_selector", "pod_affinity_preferred", "pod_affinity_required", "pod_anti_affinity_preferred",
    "pod_anti_affinity_required", "pod_connect_ip", "pod_name_template", "pod_security_context",
    "priority_class_name", "privileged", "profile_form_template", "profile_list", "pvc_name_template",
    "remember_pvc_name", "scheduler_name", "secret_mount_path", "secret_name_template", "service_account",
    "services_enabled", "slow_spawn_message", "slow_spawn_message_frequency", "slow_spawn_message_threshold",
    "slug_scheme", "storage_access_modes", "storage_capacity", "storage_class", "storage_extra_annotations",
    "storage_extra_labels", "storage_pvc_ensure", "storage_selector", "supplemental_gids", "tolerations", "uid",
    "user_namespace_annotations", "user_namespace_labels", "user_namespace_template", "volume_mounts",
    "volumes", "working_dir",
})
# The keys of one profileList entry (KubeSpawner 7.1, KubeSpawner.profile_list).
PROFILE_KEYS = frozenset({"display_name", "slug", "description", "default", "kubespawner_override", "profile_options"})


# ---- loading and merging -------------------------------------------------------------------------

@dataclass(frozen=True)
class Chart:
    defaults: Values
    schema: Values


def load_yaml(path: Path) -> Values:
    return cast(Values, yaml.safe_load(path.read_text()))


def load_manifests(path: Path) -> dict[tuple[str, str], Values]:
    """The documents of a multi-document manifest, by (kind, name)."""
    docs = cast(list[Values], list(yaml.safe_load_all(path.read_text())))
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs if doc}


def helm_merge(defaults: Mapping[str, Any], override: Mapping[str, Any]) -> Values:
    """``override`` over ``defaults`` as Helm coalesces a values file with a chart's defaults: maps
    merge key by key, a null deletes the key, anything else (lists, scalars) replaces."""
    merged = copy.deepcopy(dict(defaults))
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def schema_errors(values: Values, schema: Values) -> list[str]:
    """Every schema violation as "dotted.path: message" (the top level is "$")."""
    jsonschema.Draft7Validator.check_schema(schema)
    errors = jsonschema.Draft7Validator(schema).iter_errors(values)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in errors)


def chart_get_config(values: Values) -> Callable[..., Any]:
    """The chart's ``get_config("a.b.c", default)``, as hub.extraConfig snippets see it."""
    def get_config(key: str, default: Any = None) -> Any:
        node: Any = values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node
    return get_config


def run_extra_config(values: Values, key: str) -> Config:
    """Run one hub.extraConfig snippet on a config that holds what the chart set before it."""
    c = Config()
    c.JupyterHub.services = []
    c.JupyterHub.load_roles = []
    exec(compile(values["hub"]["extraConfig"][key], key, "exec"), {"c": c, "get_config": chart_get_config(values)})
    return c


def run_config_file(text: str, filename: str) -> Config:
    """A Jupyter/nbgrader ``*_config.py`` run as traitlets would, returning its ``c``."""
    c = Config()
    exec(compile(text, filename, "exec"), {"get_config": lambda: c, "__file__": filename})
    return c


def config_value(value: Any, default: Any) -> Any:
    return value.get_value(default) if isinstance(value, LazyConfigValue) else value


def by_name(items: Mapping[str, Values] | list[Values]) -> dict[str, Values]:
    """Volumes or mounts given as a list or as the chart's maps, by their ``name``."""
    return {item["name"]: item for item in (items.values() if isinstance(items, Mapping) else items)}


def kubespawner_traits() -> frozenset[str]:
    return KUBESPAWNER_OWN_TRAITS | frozenset(Spawner.class_trait_names(config=True))


@pytest.fixture(scope="module")
def chart() -> Chart:
    folder = Path(os.environ.get(Z2JH_ENV) or Z2JH_DEFAULT)
    missing = [name for name in ("values.yaml", "values.schema.yaml") if not (folder / name).is_file()]
    if missing:
        pytest.fail(f"zero-to-jupyterhub chart files missing from {folder}: {', '.join(missing)}. They are "
                    f"the shared/z2jh folder beside the repository (see its README); set {Z2JH_ENV} to a "
                    "folder that holds them.", pytrace=False)
    return Chart(load_yaml(folder / "values.yaml"), load_yaml(folder / "values.schema.yaml"))


@pytest.fixture(scope="module")
def ours() -> Values:
    return load_yaml(K8S / "values.yaml")


@pytest.fixture(scope="module")
def merged(chart: Chart, ours: Values) -> Values:
    return helm_merge(chart.defaults, ours)


@pytest.fixture(scope="module")
def formgrader() -> dict[tuple[str, str], Values]:
    return load_manifests(K8S / "formgrader.yaml")


@pytest.fixture(scope="module")
def claims() -> dict[str, Values]:
    return {name: doc for (kind, name), doc in load_manifests(K8S / "volumes.yaml").items()
            if kind == "PersistentVolumeClaim"}


def profile(values: Values, slug: str) -> Values:
    return cast(Values, next(p for p in values["singleuser"]["profileList"] if p["slug"] == slug))


def formgrader_pod(formgrader: dict[tuple[str, str], Values]) -> Values:
    return cast(Values, formgrader["Deployment", "lesson03-formgrader"]["spec"]["template"])


# ---- tests ---------------------------------------------------------------------------------------

class TestHelmMerge:
    def test_maps_merge_and_the_rest_replaces(self) -> None:
        """Nested maps keep the defaults' other keys; lists and scalars are replaced whole."""
        defaults = {"a": {"x": 1, "y": [1, 2]}, "b": "old"}
        assert helm_merge(defaults, {"a": {"y": [3]}, "b": "new", "c": {"d": 1}}) == {
            "a": {"x": 1, "y": [3]}, "b": "new", "c": {"d": 1}}
        assert defaults == {"a": {"x": 1, "y": [1, 2]}, "b": "old"}

    def test_null_deletes_a_key(self) -> None:
        """A null in the values file removes the default, at any depth."""
        assert helm_merge({"a": {"x": 1, "y": 2}, "b": 3}, {"a": {"x": None}, "b": None}) == {"a": {"y": 2}}


class TestSchema:
    def test_chart_defaults_validate(self, chart: Chart) -> None:
        """The schema and the validator accept the chart's own defaults: any error below is ours."""
        assert schema_errors(chart.defaults, chart.schema) == []

    def test_our_values_validate(self, chart: Chart, merged: Values) -> None:
        """hub_config/k8s/values.yaml over the defaults passes the chart's schema, as helm install checks."""
        assert schema_errors(merged, chart.schema) == []

    @pytest.mark.parametrize(("section", "key", "typo"), [
        ("singleuser", "profileList", "profilList"),
        ("hub", "extraConfig", "extraConfg"),
    ])
    def test_misspelt_key_is_rejected_by_name(self, chart: Chart, ours: Values, section: str, key: str,
                                              typo: str) -> None:
        """A misspelt key fails (additionalProperties: false) with an error naming it and its section."""
        variant = copy.deepcopy(ours)
        variant[section][typo] = variant[section].pop(key)
        errors = schema_errors(helm_merge(chart.defaults, variant), chart.schema)
        assert len(errors) == 1 and errors[0].startswith(f"{section}: ") and f"'{typo}'" in errors[0], errors

    @pytest.mark.parametrize(("path", "wrong"), [
        (("singleuser", "image", "tag"), 2026.11),  # an unquoted tag: YAML reads a number
        (("singleuser", "cpu", "limit"), "2"),  # cores are a number in the schema
    ])
    def test_wrong_type_is_rejected_by_path(self, chart: Chart, ours: Values, path: tuple[str, ...],
                                            wrong: object) -> None:
        """A value of the wrong type fails with an error naming its dotted path."""
        variant = copy.deepcopy(ours)
        node = variant
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = wrong
        errors = schema_errors(helm_merge(chart.defaults, variant), chart.schema)
        assert len(errors) == 1 and errors[0].startswith(".".join(path) + ": ") and "is not of type" in errors[0]

    def test_memory_sizes_carry_a_unit(self, chart: Chart, merged: Values) -> None:
        """The schema lets singleuser.memory.limit be any number (5 means 5 bytes), so units are checked here."""
        memory = chart.schema["properties"]["singleuser"]["properties"]["memory"]["properties"]["limit"]
        assert "number" in memory["type"]
        sizes = {f"singleuser.memory.{k}": v for k, v in merged["singleuser"]["memory"].items()}
        for entry in merged["singleuser"]["profileList"]:
            override = entry.get("kubespawner_override", {})
            sizes |= {f"{entry['slug']}.{k}": override[k] for k in ("mem_limit", "mem_guarantee") if k in override}
        assert {"singleuser.memory.limit", "cpu.mem_limit", "gpu.mem_limit"} <= set(sizes)
        bad = {k: v for k, v in sizes.items() if not re.fullmatch(r"\d+(\.\d+)?[KMGT]", str(v))}
        assert not bad, f"memory sizes need a K, M, G or T suffix: {bad}"


class TestProfiles:
    def test_one_cpu_profile_by_default_and_one_gpu_profile(self, merged: Values) -> None:
        """Students pick CPU (the default) or GPU, and every profile uses only KubeSpawner's profile keys."""
        profiles = merged["singleuser"]["profileList"]
        assert [p["slug"] for p in profiles] == ["cpu", "gpu"]
        assert [p["slug"] for p in profiles if p.get("default")] == ["cpu"]
        for entry in profiles:
            assert set(entry) <= PROFILE_KEYS, f"profile {entry['slug']}: unknown keys {set(entry) - PROFILE_KEYS}"

    def test_override_keys_are_kubespawner_traits(self, merged: Values) -> None:
        """KubeSpawner sets any override key silently, so a misspelt trait would change nothing."""
        traits = kubespawner_traits()
        assert {"mem_limit", "cpu_limit", "image", "volumes"} <= traits and "image_spec" not in traits
        for entry in merged["singleuser"]["profileList"]:
            unknown = set(entry.get("kubespawner_override", {})) - traits
            assert not unknown, f"profile {entry['slug']}: not KubeSpawner traits: {sorted(unknown)}"

    def test_gpu_profile_claims_one_gpu_on_the_gpu_pool(self, merged: Values) -> None:
        """One nvidia.com/gpu (a string, as Kubernetes quantities are), GPU nodes, the GPU image."""
        gpu = profile(merged, "gpu")["kubespawner_override"]
        assert gpu["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
        assert gpu["extra_resource_guarantees"] == {"nvidia.com/gpu": "1"}
        assert gpu["node_selector"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["tolerations"]
        # A list override replaces the chart's tolerations: the user-node ones must be repeated.
        for toleration in merged["scheduling"]["userPods"]["tolerations"]:
            assert toleration in gpu["tolerations"]
        image = merged["singleuser"]["image"]
        assert gpu["image"] == f"{image['name']}:{image['tag']}-gpu"
        assert "image" not in profile(merged, "cpu")["kubespawner_override"]  # the pre-pulled singleuser.image

    def test_gpu_profile_mounts_memory_backed_dev_shm(self, merged: Values) -> None:
        """/dev/shm is an emptyDir in memory; volumes given as maps extend the home and exchange volumes."""
        gpu = profile(merged, "gpu")["kubespawner_override"]
        assert isinstance(gpu["volumes"], dict) and isinstance(gpu["volume_mounts"], dict)
        shm = [m for m in gpu["volume_mounts"].values() if m["mountPath"] == "/dev/shm"]
        assert len(shm) == 1
        assert by_name(gpu["volumes"])[shm[0]["name"]]["emptyDir"]["medium"] == "Memory"

    def test_chart_hands_kubespawner_volume_dictionaries(self, chart: Chart) -> None:
        """The maps above merge (not replace) only because this chart version gives KubeSpawner dictionaries."""
        storage = chart.schema["properties"]["singleuser"]["properties"]["storage"]["properties"]
        assert "`KubeSpawner.volumes` dictionary" in storage["extraVolumes"]["description"]
        assert "`KubeSpawner.volume_mounts` dictionary" in storage["extraVolumeMounts"]["description"]


class TestExchange:
    def test_every_user_pod_mounts_the_shared_exchange(self, merged: Values, claims: dict[str, Values]) -> None:
        """The exchange is a ReadWriteMany claim at nbgrader's root in all user pods; no profile drops it."""
        storage = merged["singleuser"]["storage"]
        mount = next(m for m in by_name(storage["extraVolumeMounts"]).values() if m["mountPath"] == EXCHANGE)
        claim = by_name(storage["extraVolumes"])[mount["name"]]["persistentVolumeClaim"]["claimName"]
        assert "ReadWriteMany" in claims[claim]["spec"]["accessModes"]
        for entry in merged["singleuser"]["profileList"]:
            override = entry.get("kubespawner_override", {})
            assert all(isinstance(override[k], dict) for k in ("volumes", "volume_mounts") if k in override)

    def test_students_nbgrader_config_names_the_course_and_the_exchange(self, merged: Values) -> None:
        """The config file in user pods agrees with the mount, custom.nbgrader and the course's nbgrader_config.py."""
        files = merged["singleuser"]["extraFiles"]
        student = run_config_file(files["nbgrader-config"]["stringData"], "nbgrader_config.py")
        course = run_config_file((REPO / "nbgrader_config.py").read_text(), str(REPO / "nbgrader_config.py"))
        assert files["nbgrader-config"]["mountPath"] == "/etc/jupyter/nbgrader_config.py"
        assert student.Exchange.root == EXCHANGE
        assert student.CourseDirectory.course_id == course.CourseDirectory.course_id
        assert student.CourseDirectory.course_id == merged["custom"]["nbgrader"]["courseId"]


class TestFormgraderService:
    def test_extra_config_snippets_compile(self, merged: Values) -> None:
        """The chart runs them only when the hub starts: a syntax error would crash-loop the hub."""
        for key, code in merged["hub"]["extraConfig"].items():
            compile(code, key, "exec")

    def test_instructors_group_may_use_the_formgrader(self, merged: Values) -> None:
        """formgrade-<course> holds the instructors and has access:services!service=<course>; scopes exist."""
        course = merged["custom"]["nbgrader"]
        group = f"formgrade-{course['courseId']}"
        c = run_extra_config(merged, "10-nbgrader-formgrader")
        assert config_value(c.JupyterHub.load_groups, {}) == {group: {"users": course["instructors"]}}
        assert course["graderAccount"] not in course["instructors"]
        role = next(r for r in c.JupyterHub.load_roles if r["name"] == group)
        assert role["groups"] == [group]
        assert f"access:services!service={course['courseId']}" in role["scopes"]
        _check_scopes_exist(role["scopes"])
        _check_scopes_exist(c.Spawner.server_token_scopes)
        assert {"users:activity!user", "access:servers!server"} <= set(c.Spawner.server_token_scopes)

    def test_service_points_at_the_formgrader_deployment(self, merged: Values,
                                                         formgrader: dict[tuple[str, str], Values]) -> None:
        """hub.services.<course> reaches formgrader.yaml's Service, whose pod knows the service's name and token."""
        course = merged["custom"]["nbgrader"]["courseId"]
        url = urlparse(merged["hub"]["services"][course]["url"])
        service = formgrader["Service", str(url.hostname)]["spec"]
        assert url.port in [port["port"] for port in service["ports"]]
        pod = formgrader_pod(formgrader)
        assert service["selector"].items() <= pod["metadata"]["labels"].items()
        (container,) = pod["spec"]["containers"]
        env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
        assert env["JUPYTERHUB_SERVICE_NAME"] == course
        assert env["JUPYTERHUB_USER"] == merged["custom"]["nbgrader"]["graderAccount"]
        assert env["JUPYTERHUB_CLIENT_ID"] == f"service-{course}"
        assert env["JUPYTERHUB_SERVICE_PREFIX"] == f"/services/{course}/"
        assert env["JUPYTERHUB_OAUTH_CALLBACK_URL"] == f"/services/{course}/oauth_callback"
        token = {"secretKeyRef": {"name": "hub", "key": f"hub.services.{course}.apiToken"}}  # the chart's Secret
        assert env["JUPYTERHUB_API_TOKEN"] == token
        assert urlparse(env["JUPYTERHUB_SERVICE_URL"]).port == container["ports"][0]["containerPort"]

    def test_network_policies_let_the_pieces_talk(self, merged: Values,
                                                  formgrader: dict[tuple[str, str], Values]) -> None:
        """The formgrader pod may call the hub API, and the proxy may forward to the formgrader."""
        labels = formgrader_pod(formgrader)["metadata"]["labels"]
        assert labels["hub.jupyter.org/network-access-hub"] == "true"
        (rule,) = merged["proxy"]["chp"]["networkPolicy"]["egress"]
        assert rule["to"][0]["podSelector"]["matchLabels"].items() <= labels.items()

    def test_formgrader_mounts_the_course_and_the_exchange(self, merged: Values, claims: dict[str, Values],
                                                           formgrader: dict[tuple[str, str], Values]) -> None:
        """CourseDirectory.root is the course claim, Exchange.root the users' exchange claim."""
        pod = formgrader_pod(formgrader)
        nbgrader = run_config_file(formgrader["ConfigMap", "lesson03-formgrader-config"]["data"]["nbgrader_config.py"],
                                   "nbgrader_config.py")
        volumes = by_name(pod["spec"]["volumes"])
        mounted = {m["mountPath"]: volumes[m["name"]] for m in pod["spec"]["containers"][0]["volumeMounts"]}
        course_claim = mounted[nbgrader.CourseDirectory.root]["persistentVolumeClaim"]["claimName"]
        exchange_claim = mounted[nbgrader.Exchange.root]["persistentVolumeClaim"]["claimName"]
        assert course_claim in claims and nbgrader.Exchange.root == EXCHANGE
        users = by_name(merged["singleuser"]["storage"]["extraVolumes"])
        assert exchange_claim in {v["persistentVolumeClaim"]["claimName"] for v in users.values()}
        assert nbgrader.CourseDirectory.course_id == merged["custom"]["nbgrader"]["courseId"]


class TestIsolation:
    def test_each_user_pod_has_its_own_uid(self, merged: Values, formgrader: dict[tuple[str, str], Values]) -> None:
        """Distinct uids keep submissions in the exchange apart; none is the formgrader's, which owns inbound/."""
        c = run_extra_config(merged, "20-per-user-uid")
        uids = [c.KubeSpawner.uid(SimpleNamespace(user=SimpleNamespace(id=i))) for i in range(1, 500)]
        assert len(set(uids)) == len(uids) and min(uids) >= 10000
        assert formgrader_pod(formgrader)["spec"]["securityContext"]["runAsUser"] not in uids

    def test_user_pods_cannot_reach_private_addresses(self, merged: Values) -> None:
        """Students' pods cannot reach the unauthenticated Dask scheduler (hub_config/dask) nor the formgrader."""
        policy = merged["singleuser"]["networkPolicy"]
        assert policy["enabled"] is True
        assert policy["egressAllowRules"]["privateIPs"] is False
        assert policy["egressAllowRules"]["cloudMetadataServer"] is False


class TestImage:
    def test_student_image_gets_the_lock_and_nothing_else(self) -> None:
        """The default target copies only requirements.lock: hidden checks and solutions never reach students."""
        stages = dockerfile_stages((K8S / "Dockerfile").read_text())
        names = list(stages)
        assert names[-1] == "notebook"
        chain: list[str] = []
        stage = "notebook"
        while stage in stages:
            chain.append(stage)
            stage = stages[stage].base
        assert stage.startswith("quay.io/jupyter/"), f"base image {stage} is not a Jupyter docker-stacks image"
        assert {source for name in chain for source in stages[name].copies} == {"requirements.lock"}
        assert any(source.startswith("autograder") for source in stages["formgrader"].copies)

    def test_gpu_variant_finds_tensorflow_in_the_lock(self) -> None:
        """The GPU build swaps the pinned tensorflow_cpu for tensorflow[and-cuda] of the same version."""
        pins = re.findall(r"^tensorflow[-_]cpu==(\S+)$", (REPO / "requirements.lock").read_text(), re.M)
        assert len(pins) == 1
        assert "s/^tensorflow[-_]cpu==/tensorflow[and-cuda]==/" in (K8S / "Dockerfile").read_text()


@dataclass
class Stage:
    base: str
    copies: list[str]


def dockerfile_stages(text: str) -> dict[str, Stage]:
    """Each build stage's base (an image, or an earlier stage's name) and the sources it COPY/ADDs."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    instructions = re.sub(r"\\\n", " ", "\n".join(lines)).splitlines()
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in instructions:
        words = instruction.split()
        if not words:
            continue
        keyword = words[0].upper()
        if keyword == "ARG" and current is None and "=" in words[1]:
            name, _, default = words[1].partition("=")
            args[name] = default
        elif keyword == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[1])
            current = Stage(base=base, copies=[])
            stages[words[3] if len(words) > 3 and words[2].upper() == "AS" else f"stage{len(stages)}"] = current
        elif keyword in {"COPY", "ADD"} and current is not None:
            operands = [w for w in words[1:] if not w.startswith("--")]
            source_stage = [w.partition("=")[2] for w in words[1:] if w.startswith("--from=")]
            current.copies.extend(source_stage or operands[:-1])
    return stages
