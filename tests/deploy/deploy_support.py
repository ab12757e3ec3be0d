"""What the deployment tests share: paths, the process table, the metric contract, PromQL
metric-name extraction, the settings' variable names, and a small kustomize renderer in
pure Python (the subset deploy/k8s uses). The fixtures are in conftest.py."""

from __future__ import annotations

import base64
import copy
import importlib
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the cluster version the manifests are written for
KUBERNETES_VALIDATE = "kubernetes-validate==1.37.0"  # carries schemas for 1.30 and later


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a tool on the repository's own files; the caller asserts on the result."""
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # noqa: S603


@dataclass(frozen=True)
class Process:
    name: str  # process and Kubernetes/compose name
    package: str  # python package: python -m <package>.main
    port: int
    prefix: str  # settings env prefix


PROCESSES = (
    Process("gateway", "gateway", 8000, "GATEWAY_"),
    Process("applications", "applications", 8001, "APPLICATIONS_"),
    Process("credit-rating", "credit_rating", 8002, "CREDIT_RATING_"),
    Process("risk-pool", "risk_pool", 8003, "RISK_POOL_"),
    Process("subsidy", "subsidy", 8004, "SUBSIDY_"),
)

# The metric names the processes emit (now or soon), which rules and dashboards may use.
# Histograms are listed by family; their _bucket/_sum/_count series are allowed.
COUNTERS = {"http_requests_total", "event_consumer_events_applied_total", "event_consumer_failures_total"}
GAUGES = {
    "http_requests_in_flight",
    "circuit_breaker_open",
    "db_pool_connections_in_use",
    "event_consumer_lag_events",
    "event_consumer_last_applied_timestamp_seconds",
    "ratings_current_households",
    "rating_roster_last_pass_timestamp_seconds",
    "applications_by_state",
    "loans_outstanding_yuan",
    "loans_non_performing_ratio",
    "risk_fund_balance_yuan",
    "risk_fund_leverage_used_ratio",
    "breakers_tripped",
    "subsidy_paid_yuan",
    "subsidy_fund_remaining_yuan",
    "up",
}
HISTOGRAMS = {"http_request_duration_seconds", "outbound_request_duration_seconds", "db_pool_wait_seconds"}
CONTRACT_SERIES = COUNTERS | GAUGES | {f"{h}{s}" for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}

# Which process is expected to emit which contracted metric (for the /metrics tests).
ALL = {p.name for p in PROCESSES}
SERVICES = ALL - {"gateway"}
EMITTERS: dict[str, set[str]] = {
    "http_requests_total": ALL,
    "http_request_duration_seconds": ALL,
    "http_requests_in_flight": ALL,
    "outbound_request_duration_seconds": ALL,
    "circuit_breaker_open": ALL,
    "db_pool_connections_in_use": ALL,
    "db_pool_wait_seconds": ALL,
    "event_consumer_lag_events": {"credit-rating", "risk-pool", "subsidy"},
    "event_consumer_last_applied_timestamp_seconds": {"credit-rating", "risk-pool", "subsidy"},
    "event_consumer_events_applied_total": {"credit-rating", "risk-pool", "subsidy"},
    "event_consumer_failures_total": {"credit-rating", "risk-pool", "subsidy"},
    "ratings_current_households": {"credit-rating"},
    "rating_roster_last_pass_timestamp_seconds": {"credit-rating"},
    "applications_by_state": {"applications"},
    "loans_outstanding_yuan": {"applications"},
    "loans_non_performing_ratio": {"applications"},  # owns loans and their delinquency; move here if risk-pool emits it
    "risk_fund_balance_yuan": {"risk-pool"},
    "risk_fund_leverage_used_ratio": {"risk-pool"},
    "breakers_tripped": {"risk-pool"},
    "subsidy_paid_yuan": {"subsidy"},
    "subsidy_fund_remaining_yuan": {"subsidy"},
}

# ---------------------------------------------------------------------------------------
# PromQL: the metric names an expression selects.

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless",
    "atan2", "inf", "nan", "start", "end",
}
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GRAFANA_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}?")
_IDENT = re.compile(r"(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")
_NUMBER_SUFFIX = re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|s|m|h|d|w|y)?\b", re.IGNORECASE)


def metric_names(expr: str) -> set[str]:
    """Metric names selected in a PromQL expression: identifiers that are not functions,
    keywords, label names in groupings, or Grafana variables. Label matchers, strings and
    ranges are removed first."""
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VAR.sub("5m", text)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    text = _NUMBER_SUFFIX.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def grafana_to_promql(expr: str) -> str:
    """A Grafana query made parseable by promtool: variables become concrete values."""
    expr = re.sub(r"\$__(rate_)?interval|\$__range", "5m", expr)
    return _GRAFANA_VAR.sub(".*", expr)


# ---------------------------------------------------------------------------------------
# Tools.





# ---------------------------------------------------------------------------------------
# A kustomize renderer for the subset deploy/k8s uses: resources (files and directories),
# namespace, images, generatorOptions, secretGenerator/configMapGenerator (envs, literals),
# patches (strategic merge and JSON 6902, with targets by kind/name/labelSelector).

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume", "StorageClass",
                  "PriorityClass", "IngressClass"}
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io"}
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name", "volumeMounts": "mountPath",
              "envFrom": None, "imagePullSecrets": "name"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _strategic_merge(base: Any, patch: Any, *, builtin: bool, key: str | None = None) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = _strategic_merge(out[k], v, builtin=builtin, key=k)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and builtin and MERGE_KEYS.get(key or ""):
        merge_key = MERGE_KEYS[key or ""]
        out_list = [copy.deepcopy(item) for item in base]
        for item in patch:
            for i, existing in enumerate(out_list):
                if isinstance(existing, dict) and existing.get(merge_key) == item.get(merge_key):
                    out_list[i] = _strategic_merge(existing, item, builtin=builtin)
                    break
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.lstrip("/").split("/")]


def _json6902(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = _pointer(op["path"])
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if op["op"] in ("replace", "add"):
            if isinstance(node, list):
                if last == "-":
                    node.append(copy.deepcopy(op["value"]))
                elif op["op"] == "add":
                    node.insert(int(last), copy.deepcopy(op["value"]))
                else:
                    node[int(last)] = copy.deepcopy(op["value"])
            else:
                if op["op"] == "replace" and last not in node:
                    raise KeyError(f"replace of missing path {op['path']}")
                node[last] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        else:
            raise NotImplementedError(f"JSON patch op {op['op']}")
    return doc


def _matches(doc: dict[str, Any], target: dict[str, Any]) -> bool:
    if "kind" in target and doc["kind"] != target["kind"]:
        return False
    if "name" in target and doc["metadata"]["name"] != target["name"]:
        return False
    if "labelSelector" in target:
        labels = doc["metadata"].get("labels", {})
        for clause in target["labelSelector"].split(","):
            k, _, v = clause.partition("=")
            if labels.get(k.strip()) != v.strip():
                return False
    return True


def _generate(spec: dict[str, Any], kind: str, directory: Path, options: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, str] = {}
    for env_file in spec.get("envs", []):
        for line in (directory / env_file).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                data[k.strip()] = v
    for literal in spec.get("literals", []):
        k, _, v = literal.partition("=")
        data[k] = v
    assert options.get("disableNameSuffixHash"), "this renderer does not reproduce kustomize's name hashes"
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}}
    if options.get("labels"):
        doc["metadata"]["labels"] = dict(options["labels"])
    if kind == "Secret":
        doc["type"] = spec.get("type", "Opaque")
        doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        doc["data"] = data
    return doc


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    docs: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        docs.extend(render_kustomization(path) if path.is_dir() else _load_docs(path))
    options = kustomization.get("generatorOptions", {})
    for spec in kustomization.get("configMapGenerator", []):
        docs.append(_generate(spec, "ConfigMap", directory, options))
    for spec in kustomization.get("secretGenerator", []):
        docs.append(_generate(spec, "Secret", directory, options))
    for entry in kustomization.get("patches", []):
        patch = yaml.safe_load((directory / entry["path"]).read_text(encoding="utf-8")) if "path" in entry else yaml.safe_load(entry["patch"])
        if isinstance(patch, list):
            target = entry["target"]
            hits = [i for i, d in enumerate(docs) if _matches(d, target)]
            assert hits, f"patch {entry} matches no resource"
            for i in hits:
                docs[i] = _json6902(docs[i], patch)
        else:
            target = entry.get("target") or {"kind": patch["kind"], "name": patch["metadata"]["name"]}
            hits = [i for i, d in enumerate(docs) if _matches(d, target)]
            assert hits, f"patch {entry} matches no resource"
            for i in hits:
                body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
                body["metadata"] = {k: v for k, v in patch.get("metadata", {}).items() if k != "name"}
                docs[i] = _strategic_merge(docs[i], body, builtin=_group(docs[i]["apiVersion"]) in BUILTIN_GROUPS)
    namespace = kustomization.get("namespace")
    if namespace:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = namespace
    for image in kustomization.get("images", []):
        for doc in docs:
            for container in pod_containers(doc):
                name = re.split(r"[:@]", container["image"], maxsplit=1)[0]
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image['newTag']}" if "newTag" in image else image.get("newName", name)
    return docs


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc.get("kind") in POD_TEMPLATE_KINDS:
        return doc["spec"]["template"]["spec"]
    return None


def pod_containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(doc)
    if spec is None:
        return []
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))



RenderFn = Callable[[str], list[dict[str, Any]]]



KUSTOMIZATIONS = ("base", "overlays/production")


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    hits = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected exactly one {kind}/{name}, found {len(hits)}"
    return hits[0]


# ---------------------------------------------------------------------------------------
# Settings: the environment variable names each process reads.


def env_names_of(package: str) -> set[str]:
    settings_cls = importlib.import_module(f"{package}.settings").Settings
    prefix = settings_cls.model_config.get("env_prefix", "")
    names = set()
    for field_name, field in settings_cls.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"{prefix}{field_name}".upper())
    return names


def service_url_settings() -> dict[str, dict[str, str]]:
    """For each process, its settings that locate another process: env name → expected URL
    inside a deployment (`http://<process>:<port>`). DATABASE_URL and JWKS_URL excluded."""
    by_package = {p.package: p for p in PROCESSES}
    out: dict[str, dict[str, str]] = {}
    for process in PROCESSES:
        settings_cls = importlib.import_module(f"{process.package}.settings").Settings
        prefix = settings_cls.model_config.get("env_prefix", "")
        wanted = {}
        for field_name, field in settings_cls.model_fields.items():
            if isinstance(field.validation_alias, str) or not field_name.endswith("_url"):
                continue
            target = by_package.get(field_name.removesuffix("_url"))
            assert target is not None, f"{process.name}.{field_name}: which process does it point at?"
            if target == process:
                continue  # the gateway's own gateway_url (from the shared settings base) is unused
            wanted[f"{prefix}{field_name}".upper()] = f"http://{target.name}:{target.port}"
        out[process.name] = wanted
    return out


def secret_settings(package: str) -> set[str]:
    """The env names of a process's settings that hold secrets (passwords, secrets)."""
    settings_cls = importlib.import_module(f"{package}.settings").Settings
    prefix = settings_cls.model_config.get("env_prefix", "")
    return {
        (f.validation_alias if isinstance(f.validation_alias, str) else f"{prefix}{n}".upper())
        for n, f in settings_cls.model_fields.items()
        if ("secret" in n or "password" in n) and not (package == "gateway" and n.startswith("service_client_"))
    }  # the gateway inherits service_client_* from the shared base but is the one issuing tokens


# OpenTelemetry SDK variables are read by the tracing setup, not by the settings classes.
OTEL_NAMES = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"}




def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")



