"""The Kubernetes manifests: rendered with kustomize (pure Python, and kubectl where present),
validated offline against the Kubernetes 1.30 schemas, and checked for what an operator relies
on: probes, resources, graceful shutdown, disruption budgets, autoscaling, migrations first."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import (
    K8S,
    KUBERNETES_VERSION,
    KUSTOMIZATIONS,
    PROCESSES,
    RenderFn,
    find,
    pod_containers,
    pod_spec,
    render_kustomization,
    run,
    secret_settings,
    service_url_settings,
)

APP_SHUTDOWN_SECONDS = 10  # uvicorn timeout_graceful_shutdown in every <package>.main
PINNED_API_VERSIONS = {  # GA versions served by Kubernetes 1.30, and the CloudNativePG CRDs
    "v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1", "postgresql.cnpg.io/v1",
}
CNPG_KINDS = {"Cluster", "Database", "ScheduledBackup", "Backup", "Pooler"}
SECRETS_MADE_BY_CNPG = {"fupin-db-app"}  # <cluster>-app, written by the operator


def _key(doc: dict[str, Any]) -> tuple[str, str, str]:
    return (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_built_in_object_validates_against_the_kubernetes_1_30_schema(render: RenderFn, kubernetes_validate: Any, kustomization: str) -> None:
    problems = []
    for doc in render(kustomization):
        if doc["apiVersion"].startswith("postgresql.cnpg.io/"):
            continue  # CRDs: checked structurally below
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{_key(doc)}: {exc.message} at {'/'.join(map(str, exc.path))}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{_key(doc)}: {doc['apiVersion']} {doc['kind']} does not exist in Kubernetes {KUBERNETES_VERSION}")
    assert problems == []


def test_the_schema_validation_rejects_an_unknown_field(kubernetes_validate: Any, render: RenderFn) -> None:
    deployment = find(render("base"), "Deployment", "gateway")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}  # wrong case: a typo Kubernetes would drop
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_api_versions_are_pinned_to_ones_kubernetes_1_30_serves(render: RenderFn, kustomization: str) -> None:
    assert {d["apiVersion"] for d in render(kustomization)} <= PINNED_API_VERSIONS


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_pure_python_rendering_matches_kubectl_kustomize(render: RenderFn, kubectl: str, k8s_tree: Path, kustomization: str) -> None:
    result = run([kubectl, "kustomize", str(k8s_tree / kustomization)])
    assert result.returncode == 0, result.stderr
    theirs = {_key(d): d for d in yaml.safe_load_all(result.stdout) if d}
    ours = {_key(d): d for d in render(kustomization)}
    assert sorted(ours) == sorted(theirs)
    for key, doc in ours.items():
        assert doc == theirs[key], f"{key} renders differently"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_namespaced_object_lands_in_the_fupin_namespace(render: RenderFn, kustomization: str) -> None:
    misplaced = [_key(d) for d in render(kustomization) if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "fupin"]
    assert misplaced == []


def test_the_renderer_fails_loudly_on_a_patch_that_matches_nothing(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1'}\n")
    (tmp_path / "patch.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {x: '2'}\n")
    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\npatches:\n  - path: patch.yaml\n")
    with pytest.raises(AssertionError, match="matches no resource"):
        render_kustomization(tmp_path)


# ---- each process -------------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_each_process_has_probes_resources_and_runs_unprivileged(render: RenderFn, kustomization: str, process: Any) -> None:
    docs = render(kustomization)
    deployment = find(docs, "Deployment", process.name)
    spec = pod_spec(deployment)
    assert spec is not None
    (container,) = spec["containers"]
    assert container["args"] == [process.name]
    assert container["ports"] == [{"name": "http", "containerPort": process.port, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    for c in pod_containers(deployment):
        assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    env = {e["name"]: e for e in container["env"]}
    assert env[f"{process.prefix}HOST"]["value"] == "0.0.0.0"  # noqa: S104 (inside the pod)
    assert env[f"{process.prefix}PORT"]["value"] == str(process.port)
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "fupin-db-app", "key": "uri"}
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count; a replicas field resets it on every apply"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_termination_grace_exceeds_app_shutdown_plus_prestop_sleep(render: RenderFn, kustomization: str, process: Any) -> None:
    deployment = find(render(kustomization), "Deployment", process.name)
    spec = pod_spec(deployment)
    assert spec is not None
    command = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = int(command[1])
    assert pre_stop >= 3, "endpoints need a few seconds to drop the pod before it stops accepting"
    assert spec["terminationGracePeriodSeconds"] > APP_SHUTDOWN_SECONDS + pre_stop


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_each_process_has_a_service_a_disruption_budget_and_an_autoscaler(render: RenderFn, kustomization: str, process: Any) -> None:
    docs = render(kustomization)
    deployment = find(docs, "Deployment", process.name)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    for name in (process.name, f"{process.name}-pods"):
        service = find(docs, "Service", name)
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert service["spec"]["ports"][0]["port"] == process.port
    assert find(docs, "Service", f"{process.name}-pods")["spec"]["clusterIP"] == "None"
    pdb = find(docs, "PodDisruptionBudget", process.name)
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = find(docs, "HorizontalPodAutoscaler", process.name)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": process.name}
    assert hpa["spec"]["minReplicas"] >= 2, "one pod cannot survive a node drain"
    assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_new_pods_wait_for_their_database_to_be_migrated(render: RenderFn, kustomization: str, process: Any) -> None:
    deployment = find(render(kustomization), "Deployment", process.name)
    spec = pod_spec(deployment)
    assert spec is not None
    (init,) = spec["initContainers"]
    assert init["args"][0] == "wait-for-migrations"
    assert init["args"][2:] == [process.package]
    assert init["image"] == spec["containers"][0]["image"], "the wait must compare against this image's migration head"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_migration_job_migrates_every_package_with_the_same_image(render: RenderFn, kustomization: str) -> None:
    docs = render(kustomization)
    job = find(docs, "Job", "fupin-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]  # entrypoint: python -m kit.migrations, all five packages
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    images = {c["image"] for d in docs for c in pod_containers(d)}
    assert images == {container["image"]}
    accounts = find(docs, "Job", "fupin-service-accounts")
    assert accounts["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["ensure-service-accounts", "http://gateway:8000"]
    assert accounts["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PostSync"


def test_production_images_are_pinned_to_a_tag(render: RenderFn) -> None:
    images = {c["image"] for d in render("overlays/production") for c in pod_containers(d)}
    for image in images:
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag and tag != "latest", f"{image} is not pinned"


def test_only_the_gateway_is_exposed_by_an_ingress(render: RenderFn) -> None:
    ingresses = [d for d in render("overlays/production") if d["kind"] == "Ingress"]
    backends = {
        path["backend"]["service"]["name"] for ing in ingresses for rule in ing["spec"]["rules"] for path in rule["http"]["paths"]
    }
    assert backends == {"gateway"}
    assert all(ing["spec"].get("tls") for ing in ingresses)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_referenced_config_and_secret_exists_or_is_made_by_the_operator(render: RenderFn, kustomization: str) -> None:
    docs = render(kustomization)
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"} | SECRETS_MADE_BY_CNPG
    needed_secrets = {"fupin-gateway", "fupin-service-accounts"} if kustomization == "base" else set()  # the overlay makes them
    missing = set()
    for doc in docs:
        for container in pod_containers(doc):
            for source in container.get("envFrom", []):
                if "configMapRef" in source and source["configMapRef"]["name"] not in config_maps:
                    missing.add(("ConfigMap", source["configMapRef"]["name"]))
                if "secretRef" in source and source["secretRef"]["name"] not in secrets | needed_secrets:
                    missing.add(("Secret", source["secretRef"]["name"]))
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] not in secrets | needed_secrets:
                    missing.add(("Secret", ref["name"]))
    assert missing == set()


def test_every_configured_variable_is_read_by_some_process(render: RenderFn, known_env_names: set[str]) -> None:
    docs = render("overlays/production")
    names = set(find(docs, "ConfigMap", "fupin-config")["data"])
    names |= set(find(docs, "Secret", "fupin-gateway")["data"])
    for doc in docs:
        for container in pod_containers(doc):
            names |= {e["name"] for e in container.get("env", [])}
    assert names - known_env_names == set(), "a misspelt variable is silently ignored by the settings classes"


def test_gateway_secrets_are_only_given_to_the_gateway_and_the_migration(render: RenderFn) -> None:
    users = set()
    for doc in render("overlays/production"):
        for container in pod_containers(doc):
            if any(s.get("secretRef", {}).get("name") == "fupin-gateway" for s in container.get("envFrom", [])):
                users.add(doc["metadata"]["name"])
    assert users == {"gateway", "fupin-migrate", "fupin-service-accounts"}


# ---- PostgreSQL (CloudNativePG, checked structurally: its CRDs are not in the Kubernetes schemas) ----


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_cloudnativepg_cluster_is_well_formed(render: RenderFn, kustomization: str) -> None:
    docs = render(kustomization)
    cnpg = [d for d in docs if d["apiVersion"] == "postgresql.cnpg.io/v1"]
    assert {d["kind"] for d in cnpg} <= CNPG_KINDS
    cluster = find(docs, "Cluster", "fupin-db")
    spec = cluster["spec"]
    assert isinstance(spec["instances"], int) and spec["instances"] >= 1
    assert re.fullmatch(r"ghcr\.io/cloudnative-pg/postgresql:15\.\d+", spec["imageName"]), "PostgreSQL 15, pinned minor"
    assert re.fullmatch(r"\d+[GM]i", spec["storage"]["size"])
    assert spec["bootstrap"]["initdb"]["owner"] == "fupin"
    databases = {d["spec"]["name"]: d for d in docs if d["kind"] == "Database"}
    assert set(databases) == {f"fupin_{p.package}" for p in PROCESSES}
    for db in databases.values():
        assert db["spec"]["cluster"]["name"] == "fupin-db"
        assert db["spec"]["owner"] == spec["bootstrap"]["initdb"]["owner"]


def test_production_postgres_is_replicated_and_backed_up(render: RenderFn) -> None:
    docs = render("overlays/production")
    spec = find(docs, "Cluster", "fupin-db")["spec"]
    assert spec["instances"] >= 3
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://")
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    for ref in store["s3Credentials"].values():
        assert ref["key"] in secrets[ref["name"]]["data"]
    backup = find(docs, "ScheduledBackup", "fupin-db-nightly")
    assert backup["spec"]["cluster"]["name"] == "fupin-db"
    assert len(backup["spec"]["schedule"].split()) == 6, "CloudNativePG schedules have a seconds field"


def test_production_connection_budget_fits_postgres_max_connections(render: RenderFn) -> None:
    docs = render("overlays/production")
    pool_size = int(find(docs, "ConfigMap", "fupin-config")["data"]["DB_POOL_SIZE"])
    max_pods = sum(d["spec"]["maxReplicas"] for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    # each pod: SQLAlchemy pool_size + max_overflow (= pool_size) connections at most
    needed = max_pods * 2 * pool_size + 2 * pool_size  # + the migration Job
    max_connections = int(find(docs, "Cluster", "fupin-db")["spec"]["postgresql"]["parameters"]["max_connections"])
    reserved = 20  # superuser_reserved_connections, the operator, replication, an operator's psql
    assert needed <= max_connections - reserved


def test_every_setting_that_locates_another_process_points_at_its_service(render: RenderFn) -> None:
    config = find(render("overlays/production"), "ConfigMap", "fupin-config")["data"]
    wanted = {name: url for urls in service_url_settings().values() for name, url in urls.items()}
    assert {name: config.get(name) for name in wanted} == wanted, "the defaults (127.0.0.1) are wrong inside a pod"
    assert config["JWKS_URL"] == "http://gateway:8000/.well-known/jwks.json"


def test_the_restore_template_recovers_the_production_archive_into_a_new_one(render: RenderFn) -> None:
    docs = render("overlays/production")
    production = find(docs, "Cluster", "fupin-db")["spec"]
    (restore,) = yaml.safe_load_all((K8S / "restore" / "cluster-restore.yaml").read_text(encoding="utf-8"))
    assert (restore["kind"], restore["metadata"]["name"], restore["metadata"]["namespace"]) == ("Cluster", "fupin-db", "fupin")
    spec = restore["spec"]
    recovery = spec["bootstrap"]["recovery"]
    (source,) = [c for c in spec["externalClusters"] if c["name"] == recovery["source"]]
    archive = source["barmanObjectStore"]
    assert archive["destinationPath"] == production["backup"]["barmanObjectStore"]["destinationPath"]
    assert archive["serverName"] == production["backup"]["barmanObjectStore"].get("serverName", "fupin-db")
    assert spec["backup"]["barmanObjectStore"]["serverName"] != archive["serverName"], "never archive into the archive being restored"
    assert spec["imageName"] == production["imageName"], "restore with the PostgreSQL the backups were taken with"
    assert recovery["owner"] == production["bootstrap"]["initdb"]["owner"]
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    for store in (archive, spec["backup"]["barmanObjectStore"]):
        for ref in store["s3Credentials"].values():
            assert ref["key"] in secrets[ref["name"]]["data"]


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_every_secret_a_process_reads_comes_from_a_secret_in_its_own_pod(render: RenderFn, process: Any) -> None:
    docs = render("overlays/production")
    deployment = find(docs, "Deployment", process.name)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    from_secrets = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            from_secrets |= set(secrets[source["secretRef"]["name"]]["data"])
    config = find(docs, "ConfigMap", "fupin-config")["data"]
    needed = secret_settings(process.package)
    assert needed - from_secrets == set()
    assert needed & set(config) == set(), "a secret in the ConfigMap is readable by anyone who can read config"


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", size.lower()).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def test_the_ingress_admits_the_largest_bulk_import_and_outwaits_the_gateway(render: RenderFn) -> None:
    import importlib

    annotations = find(render("overlays/production"), "Ingress", "gateway")["metadata"]["annotations"]
    applications = importlib.import_module("applications.settings").Settings.model_fields
    gateway = importlib.import_module("gateway.settings").Settings.model_fields
    if "import_max_bytes" in applications:
        assert _bytes(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) >= applications["import_max_bytes"].default
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > gateway["proxy_deadline_seconds"].default
