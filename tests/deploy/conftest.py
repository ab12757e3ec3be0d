"""Fixtures for the deployment tests: the tools (promtool, kubernetes-validate, kubectl, each
installed when missing), the rendered kustomizations and the runbook. No database is needed.
Shared helpers live in deploy_support.py, importable here because this folder is put on
sys.path (pytest runs with --import-mode=importlib, which does not do it)."""

from __future__ import annotations

import copy
import importlib
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy_support import (
    DEPLOY,
    K8S,
    KUBERNETES_VALIDATE,
    OTEL_NAMES,
    PROCESSES,
    RenderFn,
    env_names_of,
    github_anchor,
    render_kustomization,
    run,
)


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool from Debian's `prometheus` package, installed here when missing."""
    found = shutil.which("promtool")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip("promtool is missing and apt-get is unavailable to install Debian package `prometheus`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "--no-install-recommends", "prometheus"]
    if run(install, env=env).returncode != 0:
        run([apt, "update", "-q"], env=env)
        result = run(install, env=env)
        assert result.returncode == 0, f"apt-get install prometheus failed:\n{result.stdout}\n{result.stderr}"
    found = shutil.which("promtool")
    assert found, "Debian package prometheus installed but promtool is not on PATH"
    return found



@pytest.fixture(scope="session")
def kubernetes_validate() -> Any:
    """The kubernetes-validate package (offline JSON schemas per Kubernetes version),
    installed into this interpreter when missing."""
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        result = run([sys.executable, "-m", "pip", "install", "-q", KUBERNETES_VALIDATE])
        assert result.returncode == 0, f"pip install {KUBERNETES_VALIDATE} failed:\n{result.stderr}"
        importlib.invalidate_caches()
        return importlib.import_module("kubernetes_validate")



@pytest.fixture(scope="session")
def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed; the pure-Python rendering is checked on its own")
    return found



@pytest.fixture(scope="session")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/k8s with the overlay's secret files made from their examples."""
    tree = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, tree)
    for example in tree.rglob("*.env.example"):
        example.with_name(example.name.removesuffix(".example")).write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    return tree



@pytest.fixture(scope="session")
def render(k8s_tree: Path) -> RenderFn:
    cache: dict[str, list[dict[str, Any]]] = {}

    def _render(kustomization: str) -> list[dict[str, Any]]:
        if kustomization not in cache:
            cache[kustomization] = render_kustomization(k8s_tree / kustomization)
        return copy.deepcopy(cache[kustomization])

    return _render



@pytest.fixture(scope="session")
def known_env_names() -> set[str]:
    names = set(OTEL_NAMES)
    for process in PROCESSES:
        names |= env_names_of(process.package)
    return names



@pytest.fixture(scope="session")
def readme() -> str:
    return (DEPLOY / "README.md").read_text(encoding="utf-8")



@pytest.fixture(scope="session")
def readme_anchors(readme: str) -> set[str]:
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", readme, flags=re.MULTILINE)}
