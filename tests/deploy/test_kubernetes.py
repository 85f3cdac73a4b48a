"""deploy/k8s: the base and each overlay render (`kubectl kustomize`, offline), every object is valid against the
Kubernetes schemas (kubernetes-validate, strict: an unknown field fails), and the gateway's pod is locked down,
probed on paths the app answers, sized, and gets its secrets by reference (issue 20 #8)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TREES = ["deploy/k8s", "deploy/k8s/overlays/dev", "deploy/k8s/overlays/prod"]
KUBERNETES = "1.32.0"
"""The oldest Kubernetes the manifests target; kubernetes-validate ships its schemas (offline), and the newest."""
VERSIONS = [KUBERNETES, kubernetes_validate.latest_version()]
KINDS = {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress"}

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def render(tree: str) -> list[dict[str, Any]]:
    made = subprocess.run(["kubectl", "kustomize", str(ROOT / tree)], capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    return [d for d in yaml.safe_load_all(made.stdout) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def gateway(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = of_kind(docs, "Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return pod, container


@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid_against_the_kubernetes_schemas(tree: str, version: str) -> None:
    docs = render(tree)
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError
    expected = KINDS - ({"PodDisruptionBudget"} if tree.endswith("dev") else set())
    assert {d["kind"] for d in docs} == expected | ({"Namespace"} if "overlays" in tree else set())


def test_the_validation_refuses_a_misspelt_field() -> None:
    """The check above has teeth: a field Kubernetes does not know fails it."""
    deployment = of_kind(render("deploy/k8s"), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


@pytest.mark.parametrize("tree", TREES)
def test_the_pod_runs_locked_down_and_sized(tree: str) -> None:
    pod, container = gateway(render(tree))
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = {m["mountPath"] for m in container["volumeMounts"] if "emptyDir" in volumes[m["name"]]}
    assert writable == {"/data", "/tmp"}  # the only writable places: ONEFLOW_DATA_DIR and /tmp
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]


@pytest.mark.parametrize("tree", TREES)
def test_configuration_comes_from_the_configmap_and_secrets_by_reference(tree: str) -> None:
    docs = render(tree)
    pod, container = gateway(docs)
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    assert {s["configMapRef"]["name"] for s in container["envFrom"]} <= config_maps
    assert "Secret" not in {d["kind"] for d in docs}  # created apart, never rendered with values
    for env in container["env"]:
        assert set(env) == {"name", "valueFrom"} and "secretKeyRef" in env["valueFrom"], env["name"]
    assert {"ONEFLOW_MASTER_KEY", "DATABASE_URL", "REDIS_URL"} <= {e["name"] for e in container["env"]}
    secret_volumes = [v for v in pod["volumes"] if "secret" in v]
    assert [v["secret"]["secretName"] for v in secret_volumes] == ["oneflow-secrets"]
    mounted = {m["name"]: m for m in container["volumeMounts"]}
    assert all(mounted[v["name"]]["readOnly"] for v in secret_volumes)


def test_autoscaling_disruption_and_ingress_target_the_gateway() -> None:
    docs = render("deploy/k8s/overlays/prod")
    deployment, service = of_kind(docs, "Deployment"), of_kind(docs, "Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    hpa = of_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"] == 3
    assert of_kind(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ingress = of_kind(docs, "Ingress")["spec"]
    assert ingress["tls"] and ingress["rules"][0]["host"] in ingress["tls"][0]["hosts"]
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    _, container = gateway(docs)
    assert container["image"] == "registry.example.com/oneflow:0.1.0"
    assert {d["metadata"].get("namespace") for d in docs} == {"oneflow", None}
    namespace = of_kind(docs, "Namespace")["metadata"]
    assert namespace["name"] == "oneflow" and namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_probes_ask_paths_the_gateway_answers(start_gateway: Any) -> None:
    _, container = gateway(render("deploy/k8s"))
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    url = start_gateway().url
    probes = [container[p]["httpGet"] for p in ("livenessProbe", "readinessProbe", "startupProbe")]
    assert [p["path"] for p in probes] == ["/health", "/ready", "/health"]
    for probe in probes:
        assert port[probe["port"]] == 8000
        assert httpx.get(url + probe["path"]).status_code == 200, probe["path"]
