"""The container image: one Dockerfile for every process, a non-root user, nothing fetched at
run time, and an entry point that maps each process name to its module. The entry point is
run for real with a stand-in `python` that records what it was asked to start."""

from __future__ import annotations

import importlib.util
import os
import re
import stat
from pathlib import Path

import pytest
from deploy_support import DEPLOY, PROCESSES, ROOT, run

DOCKER = DEPLOY / "docker"
DOCKERFILE = (DOCKER / "Dockerfile").read_text(encoding="utf-8")


def _stages() -> dict[str, str]:
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\w+)\s*$", DOCKERFILE, flags=re.MULTILINE | re.IGNORECASE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_runtime_stage_runs_as_a_numeric_non_root_user() -> None:
    runtime = _stages()["runtime"]
    users = re.findall(r"^USER\s+(\S+)", runtime, flags=re.MULTILINE)
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric uid lets Kubernetes verify runAsNonRoot"


def test_the_runtime_stage_installs_nothing_and_fetches_nothing() -> None:
    runtime = _stages()["runtime"]
    assert not re.search(r"pip install|apt-get install|curl |wget ", runtime)
    assert not re.search(r"^ADD\s+https?://", DOCKERFILE, flags=re.MULTILINE)
    assert "PIP_NO_INDEX=1" in runtime


def test_every_file_the_dockerfile_copies_exists_in_the_repository() -> None:
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", DOCKERFILE, flags=re.MULTILINE):
        *sources, _dest = [w for w in line.split() if not w.startswith("--")]
        for source in sources:
            if "[" in source:
                continue  # optional file matched by a glob (constraints.txt)
            assert (ROOT / source).exists(), source


def test_the_build_context_ignore_file_keeps_the_image_free_of_local_state() -> None:
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert {"**/.venv", "**/.data", ".git", "**/tests"} <= set(ignored)


def test_the_entry_point_is_valid_shell_and_executable() -> None:
    entrypoint = DOCKER / "entrypoint.sh"
    assert entrypoint.stat().st_mode & stat.S_IXUSR
    assert run(["sh", "-n", str(entrypoint)]).returncode == 0
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/fupin"\]', DOCKERFILE, flags=re.MULTILINE)
    assert "COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/fupin" in DOCKERFILE


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    """A `python` that prints its arguments and the *_HOST variables instead of running."""
    script = tmp_path / "python"
    script.write_text('#!/bin/sh\necho "args: $*"\nenv | grep "_HOST=" | sort\n', encoding="utf-8")
    script.chmod(0o755)
    return tmp_path


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_the_entry_point_starts_each_process_module_listening_on_all_interfaces(fake_python: Path, process: object) -> None:
    env = {"PATH": f"{fake_python}:{os.environ['PATH']}"}
    result = run(["sh", str(DOCKER / "entrypoint.sh"), process.name], env=env)  # type: ignore[attr-defined]
    assert result.returncode == 0, result.stderr
    assert f"args: -m {process.package}.main" in result.stdout  # type: ignore[attr-defined]
    assert f"{process.prefix}HOST=0.0.0.0" in result.stdout  # type: ignore[attr-defined]
    assert importlib.util.find_spec(f"{process.package}.main") is not None  # type: ignore[attr-defined]


def test_the_entry_point_runs_migrations_and_the_wait_with_their_arguments(fake_python: Path) -> None:
    env = {"PATH": f"{fake_python}:{os.environ['PATH']}"}
    migrate = run(["sh", str(DOCKER / "entrypoint.sh"), "migrate", "risk_pool"], env=env)
    assert "args: -m kit.migrations risk_pool" in migrate.stdout
    assert importlib.util.find_spec("kit.migrations") is not None
    wait = run(["sh", str(DOCKER / "entrypoint.sh"), "wait-for-migrations", "600", "subsidy"], env=env)
    assert "args: /opt/fupin/wait_for_migrations.py 600 subsidy" in wait.stdout
    assert "deploy/docker/wait_for_migrations.py deploy/docker/ensure_service_accounts.py /opt/fupin/" in DOCKERFILE
    accounts = run(["sh", str(DOCKER / "entrypoint.sh"), "ensure-service-accounts", "http://gateway:8000"], env=env)
    assert "args: /opt/fupin/ensure_service_accounts.py http://gateway:8000" in accounts.stdout


def test_an_explicit_host_setting_is_kept(fake_python: Path) -> None:
    env = {"PATH": f"{fake_python}:{os.environ['PATH']}", "SUBSIDY_HOST": "127.0.0.1"}
    result = run(["sh", str(DOCKER / "entrypoint.sh"), "subsidy"], env=env)
    assert "SUBSIDY_HOST=127.0.0.1" in result.stdout


def test_wait_for_migrations_refuses_unknown_packages_and_bad_arguments() -> None:
    import sys

    script = str(DOCKER / "wait_for_migrations.py")
    assert run([sys.executable, script, "5", "loans"]).returncode == 2
    assert run([sys.executable, script, "soon", "subsidy"]).returncode == 2
    assert run([sys.executable, script]).returncode == 2


def test_wait_for_migrations_holds_until_the_migration_has_run(pg_server: str) -> None:
    """The init container's contract, on a real PostgreSQL: not at head → exit 1 when time is up;
    after `migrate` (python -m kit.migrations) → exit 0."""
    import asyncio
    import sys
    import uuid

    from kit.db import drop_database

    name = f"zz_deploy_wait_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": pg_server, "GATEWAY_DATABASE_NAME": name, "ENVIRONMENT": "development"}
    script = str(DOCKER / "wait_for_migrations.py")
    try:
        before = run([sys.executable, script, "0", "gateway"], env=env, timeout=120)
        assert before.returncode == 1, before.stderr
        assert "has the migration Job run?" in before.stderr
        migrate = run([sys.executable, "-m", "kit.migrations", "gateway"], env=env, timeout=300)
        assert migrate.returncode == 0, migrate.stderr
        after = run([sys.executable, script, "0", "gateway"], env=env, timeout=120)
        assert after.returncode == 0, after.stderr
    finally:
        asyncio.run(drop_database(pg_server, name))


PACKAGE_DIRS = {"kit": "libs/kit", "gateway": "gateway", "applications": "services/applications",
                "credit_rating": "services/credit-rating", "risk_pool": "services/risk-pool", "subsidy": "services/subsidy"}


@pytest.mark.parametrize(("package", "directory"), sorted(PACKAGE_DIRS.items()))
def test_the_non_editable_install_in_the_image_carries_every_data_file(package: str, directory: str) -> None:
    """The image installs the packages as wheels, not editable: a file that is not Python is
    only there when the package's pyproject lists it (migrations' script.py.mako, policy JSON)."""
    import fnmatch
    import tomllib

    project = tomllib.loads((ROOT / directory / "pyproject.toml").read_text(encoding="utf-8"))
    globs = project.get("tool", {}).get("setuptools", {}).get("package-data", {}).get(package, [])
    root = ROOT / directory / "src" / package
    missing = []
    for path in root.rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".py", ".pyc"):
            continue
        relative = path.relative_to(root).as_posix()
        if not any(fnmatch.fnmatch(relative, g) for g in globs):
            missing.append(relative)
    assert missing == [], f"add to [tool.setuptools.package-data] {package} in {directory}/pyproject.toml"
