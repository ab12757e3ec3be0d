"""The runbook (deploy/README.md) is complete enough to deploy and rotate keys without reading
the code: it has the sections the issue asks for, a section for every alert, working internal
links, only paths that exist, and every variable the deployment sets."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from deploy_support import DEPLOY, PROCESSES, ROOT, github_anchor

REQUIRED_SECTIONS = {
    "deploy on one host": "deploy-on-one-host-compose",
    "deploy to Kubernetes": "deploy-to-kubernetes",
    "upgrade": "upgrade-a-new-version",
    "scale": "scale",
    "rotate signing keys": "rotate-the-token-signing-key",
    "rotate secrets": "rotate-secrets",
    "restore from backup": "back-up-and-restore",
    "read the dashboards": "read-the-dashboards",
    "partition by county": "partitioning-by-county",
    "configuration": "configuration",
    "tracing": "tracing-and-logs",
}


@pytest.mark.parametrize(("topic", "anchor"), sorted(REQUIRED_SECTIONS.items()))
def test_the_runbook_has_a_section_for_each_topic_the_issue_names(readme_anchors: set[str], topic: str, anchor: str) -> None:
    assert anchor in readme_anchors, f"no section on {topic}"


def test_every_internal_link_leads_to_a_section(readme: str, readme_anchors: set[str]) -> None:
    links = set(re.findall(r"\]\(#([^)]+)\)", readme))
    assert links and links - readme_anchors == set()


def test_every_repository_path_the_runbook_names_exists(readme: str) -> None:
    paths = set(re.findall(r"`((?:deploy|tests)/[^`\s]*?)/?`", readme))
    paths |= {m for m in re.findall(r"\b(deploy/[\w./-]+\w)", readme)}
    made_by_the_operator = {"deploy/compose/.env"}  # from .env.example, never committed
    assert (DEPLOY / "compose" / ".env.example").is_file()
    missing = sorted(p for p in paths - made_by_the_operator if "*" not in p and "<" not in p and not (ROOT / p).exists())
    assert missing == []


def test_every_variable_the_deployment_sets_is_documented(readme: str, render: Any) -> None:
    config = next(d for d in render("overlays/production") if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "fupin-config")
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text(encoding="utf-8"))
    names = set(config["data"])
    for process in PROCESSES:
        names |= {n for n in compose["services"][process.name]["environment"] if not n.startswith(process.prefix)}
    undocumented = sorted(n for n in names if f"`{n}`" not in readme)
    assert undocumented == []


def test_the_anchor_function_follows_github(readme: str) -> None:
    assert github_anchor("Deploy on one host (compose)") == "deploy-on-one-host-compose"
    assert github_anchor("Rotate the token signing key") == "rotate-the-token-signing-key"
