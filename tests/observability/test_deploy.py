"""`deploy/`: the alert rules pass their promtool unit tests, the dashboard queries only metrics the gateway
exports (or the rules record), and the Docker, compose and Kubernetes files parse and agree with each other."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from oneflow_ai.config import load_config
from tests.observability.conftest import AUTH, chat, upstream_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
PROMTOOL = shutil.which("promtool") or ""
needs_promtool = pytest.mark.skipif(not PROMTOOL, reason="promtool is not installed (apt-get install prometheus)")
PROMQL_WORDS = {"sum", "rate", "increase", "histogram_quantile", "max", "min", "avg", "count", "and", "or", "unless"}


def documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - PROMQL_WORDS


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana/dashboards/oneflow.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def recorded_names() -> set[str]:
    [rules] = documents(PROMETHEUS / "alerts.yml")
    return {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}


@needs_promtool
def test_alert_rules_pass_their_unit_tests() -> None:
    check = subprocess.run([PROMTOOL, "check", "rules", "alerts.yml"], cwd=PROMETHEUS, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts_test.yml"], cwd=PROMETHEUS, capture_output=True, text=True
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "SUCCESS" in tests.stdout


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query{i}", "expr": e} for i, e in enumerate(dashboard_exprs())],
            }
        ]
    }
    (tmp_path / "dashboard_rules.yml").write_text(yaml.safe_dump(rules))
    check = subprocess.run(
        [PROMTOOL, "check", "rules", "dashboard_rules.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_slo_alerts_cover_three_burn_rates_per_slo() -> None:
    [rules] = documents(PROMETHEUS / "alerts.yml")
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    for slo in ("availability", "latency"):
        severities = sorted(a["labels"]["severity"] for a in alerts if a["labels"].get("slo") == slo)
        assert severities == ["info", "page", "ticket"]


def test_the_dashboard_reads_only_metrics_the_gateway_exports(start_gateway: Any, openai_upstream: Any) -> None:
    url = start_gateway(config_yaml=upstream_config(openai_upstream[1].url)).url
    chat(url, "mini", "hi")
    chat(url, "mini", "hi", stream=True)
    chat(url, "broken", "hi")
    scraped = httpx.get(url + "/metrics").text
    exported = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", scraped, re.MULTILINE))
    referenced = set().union(*(metric_names(e) for e in dashboard_exprs()))
    assert referenced, "no metric found in the dashboard"
    assert referenced - exported - recorded_names() == set()
    rule_inputs = set().union(
        *(metric_names(r["expr"]) for g in documents(PROMETHEUS / "alerts.yml")[0]["groups"] for r in g["rules"])
    )
    assert rule_inputs - exported - recorded_names() - {"up"} == set()  # `up` is Prometheus's own
    assert httpx.get(url + "/v1/models", headers=AUTH).status_code == 200


def test_compose_file_is_complete() -> None:
    [compose] = documents(DEPLOY / "docker-compose.yml")
    assert set(compose["services"]) == {"gateway", "postgres", "redis", "prometheus", "grafana"}
    gateway = compose["services"]["gateway"]
    assert (DEPLOY / gateway["build"]["context"] / gateway["build"]["dockerfile"]).is_file()
    assert gateway["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert gateway["environment"]["REDIS_URL"].startswith("redis://")
    for service in ("prometheus", "grafana"):
        for volume in compose["services"][service]["volumes"]:
            assert (DEPLOY / volume.split(":")[0]).exists(), volume
    [prometheus] = documents(PROMETHEUS / "prometheus.yml")
    assert prometheus["scrape_configs"][0]["job_name"] == "oneflow"  # the job the OneFlowDown alert names
    for path in (DEPLOY / "grafana/provisioning").rglob("*.yml"):
        assert documents(path)


def test_dockerfile_runs_the_cli_as_a_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["oneflow"]' in text and 'CMD ["serve"]' in text and "EXPOSE 8000" in text
    assert re.search(r"^USER \d+", text, re.MULTILINE) and "/health" in text


def test_kubernetes_manifests_agree() -> None:
    docs = {
        (d["kind"], d["metadata"]["name"]): d
        for p in (DEPLOY / "k8s/base").glob("*.yaml")
        for d in documents(p)
        if "kind" in d and d["kind"] != "Kustomization"
    }
    deployment = docs[("Deployment", "oneflow")]
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["ports"][0]["containerPort"] == 8000
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    service = docs[("Service", "oneflow")]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    for source in container["envFrom"]:
        assert ("ConfigMap", source["configMapRef"]["name"]) in docs
    secret = docs[("Secret", "oneflow-secrets")]
    for env in container["env"]:
        ref = env["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "oneflow-secrets" and ref["key"] in secret["stringData"]
    for volume in pod["spec"]["volumes"]:
        if "configMap" in volume:
            assert ("ConfigMap", volume["configMap"]["name"]) in docs
    [kustomization] = documents(DEPLOY / "k8s/base/kustomization.yaml")
    assert "secret.example.yaml" not in kustomization["resources"]
    assert all((DEPLOY / "k8s/base" / r).is_file() for r in kustomization["resources"])


def test_the_models_config_in_the_configmap_is_valid(tmp_path: Path) -> None:
    docs = documents(DEPLOY / "k8s/base/configmap.yaml")
    models = next(d for d in docs if d["metadata"]["name"] == "oneflow-models")
    path = tmp_path / "config.yaml"
    path.write_text(models["data"]["config.yaml"])
    config = load_config(str(path), {"OPENAI_API_KEY": "sk-x"})
    assert "gpt-4o-mini" in config.by_name()


def seconds(duration: str) -> float:
    """A compose duration (`40s`, `1m30s`) in seconds."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, duration
    return int(parts[1] or 0) * 60 + int(parts[2] or 0)


def test_the_platform_waits_longer_than_the_shutdown_grace() -> None:
    """SIGKILL must not come before the gateway cut, answered and recorded the calls still running at the end of
    its grace (`ONEFLOW_SHUTDOWN_GRACE_S`, README "Shutdown"): Docker's default stop grace is 10 s."""
    [compose] = documents(DEPLOY / "docker-compose.yml")
    gateway = compose["services"]["gateway"]
    grace = float(gateway["environment"]["ONEFLOW_SHUTDOWN_GRACE_S"])
    assert seconds(gateway["stop_grace_period"]) >= grace + 5
    env = next(d for d in documents(DEPLOY / "k8s/base/configmap.yaml") if d["metadata"]["name"] == "oneflow-env")
    grace = float(env["data"]["ONEFLOW_SHUTDOWN_GRACE_S"])
    pod = next(d for d in documents(DEPLOY / "k8s/base/deployment.yaml") if d["kind"] == "Deployment")["spec"][
        "template"
    ]
    [container] = pod["spec"]["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    pause = float(command[1]) if command[0] == "sleep" else 0.0
    assert pod["spec"]["terminationGracePeriodSeconds"] >= pause + grace + 5
