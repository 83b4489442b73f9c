"""The deployment files cannot run here (no Docker, no cluster): check them against real schemas.

Kubernetes manifests: kubernetes-validate (the API's JSON schemas ship in the package; strict mode
rejects unknown fields). Compose file: the compose-spec JSON schema, vendored in deploy/schemas/
from check-jsonschema's vendored copy (Apache-2.0), checked with jsonschema. Every YAML file also
goes through yamllint, which catches what yaml.safe_load forgives, such as duplicate keys. On top,
the project's own rules: probes on paths our services really serve, limits, no secret literals,
every variable endpoints.production.yml needs is provided.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.28.0"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
COMPOSE = DEPLOY / "docker-compose.production.yml"
YAMLLINT = YamlLintConfig(
    "extends: default\n"
    "rules:\n"
    "  line-length: {max: 140}\n"
    "  document-start: disable\n"
    "  truthy: {check-keys: false}\n"
    "  braces: {max-spaces-inside: 1}\n"
    "  comments: {min-spaces-from-content: 1}\n"
)
SECRET_NAMES = re.compile(r"(PASSWORD|TOKEN|SECRET|DATABASE_URL|AES_KEY)$")


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def all_k8s_objects() -> list[dict]:
    return [doc for path in MANIFESTS for doc in documents(path)]


def containers(kind: str | None = None) -> list[tuple[dict, dict]]:
    found = []
    for obj in all_k8s_objects():
        if kind and obj["kind"] != kind:
            continue
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        found += [(obj, c) for c in spec.get("containers", [])]
    return found


@pytest.mark.parametrize(
    "path", [*MANIFESTS, COMPOSE, ROOT / "endpoints.production.yml"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_yamllint_finds_no_problem(path):
    problems = list(linter.run(path.read_text(encoding="utf-8"), YAMLLINT, str(path)))
    assert not problems, "\n".join(f"{path.name}:{p.line}:{p.column} {p.message}" for p in problems)


def test_kubernetes_manifests_match_the_api_schemas():
    objects = all_k8s_objects()
    assert {o["kind"] for o in objects} >= {
        "Deployment", "Service", "ConfigMap", "Job", "PersistentVolumeClaim", "Ingress", "PodDisruptionBudget"
    }
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_kubernetes_validator_rejects_a_broken_manifest():
    broken = documents(DEPLOY / "kubernetes" / "rasa.yaml")[0]
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    broken["spec"]["replicas"] = 2
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def _compose_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def test_compose_file_matches_the_compose_specification():
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    errors = sorted(_compose_validator().iter_errors(compose), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    broken = dict(compose, services={**compose["services"], "rasa-1": {**compose["services"]["rasa-1"], "restart": 5}})
    assert list(_compose_validator().iter_errors(broken))


def test_deployments_have_replicas_probes_and_limits():
    deployments = {o["metadata"]["name"]: o for o in all_k8s_objects() if o["kind"] == "Deployment"}
    assert deployments["govbot-rasa"]["spec"]["replicas"] >= 2
    assert deployments["govbot-actions"]["spec"]["replicas"] >= 2
    for obj, container in containers("Deployment"):
        name = obj["metadata"]["name"]
        assert container.get("readinessProbe") and container.get("livenessProbe"), name
        assert set(container["resources"]["limits"]) >= {"cpu", "memory"}, name
        assert set(container["resources"]["requests"]) >= {"cpu", "memory"}, name
        selector = obj["spec"]["selector"]["matchLabels"]
        assert selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items(), name
    services = [o for o in all_k8s_objects() if o["kind"] == "Service"]
    pod_labels = [o["spec"]["template"]["metadata"]["labels"] for o in deployments.values()]
    for service in services:
        if service["metadata"]["name"] == INTERNAL_ONLY:  # selects no pod on purpose (test_metrics_…)
            continue
        assert any(service["spec"]["selector"].items() <= labels.items() for labels in pod_labels), service["metadata"]["name"]


def test_probes_use_paths_the_services_really_serve():
    from bot.case_service.app import ROUTES

    case_paths = {route.path for route in ROUTES}
    served = {
        "case-service": case_paths,
        "actions": {"/health", "/ready", "/metrics", "/webhook"},  # bot.ops.action_server + rasa_sdk
        "rasa": {"/"},
        "web": set(re.findall(r'add_get\("([^"{]+)"', (ROOT / "bot" / "web" / "app.py").read_text(encoding="utf-8"))),
    }
    for _obj, container in containers("Deployment"):
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["path"] in served[container["name"]], (container["name"], probe)
    # Liveness never depends on the database: a PostgreSQL restart must not restart every pod.
    [(_, case)] = [(o, c) for o, c in containers("Deployment") if c["name"] == "case-service"]
    assert case["livenessProbe"]["httpGet"]["path"] == "/live"


def test_no_secret_is_written_into_the_repository():
    for _obj, container in containers():
        for variable in container.get("env", []):
            if SECRET_NAMES.search(variable["name"]):
                assert "valueFrom" in variable and "secretKeyRef" in variable["valueFrom"], variable["name"]
    assert not [o for o in all_k8s_objects() if o["kind"] == "Secret"]
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAMES.search(key):
                assert str(value).startswith("${"), (name, key)
    assert not (DEPLOY / "govbot.env").exists()


def test_every_variable_endpoints_production_needs_is_provided():
    needed = set(re.findall(r"\$\{(\w+)\}", (ROOT / "endpoints.production.yml").read_text(encoding="utf-8")))
    assert needed >= {"GOVBOT_TRACKER_DATABASE_URL", "GOVBOT_REDIS_HOST", "ACTION_ENDPOINT_URL"}
    config = documents(DEPLOY / "kubernetes" / "configmap.yaml")[0]["data"]
    [(_, rasa)] = [(o, c) for o, c in containers("Deployment") if c["name"] == "rasa"]
    provided = set(config) | {v["name"] for v in rasa.get("env", [])}
    assert needed <= provided, needed - provided
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    env_file = set(re.findall(r"^(\w+)=", (DEPLOY / "govbot.env.example").read_text(encoding="utf-8"), re.M))
    for name in ("rasa-1", "rasa-2"):
        assert needed <= set(compose["services"][name]["environment"]) | env_file, name
    # scripts/run.sh exports a loopback default for every one of them in the production profile.
    run_sh = (ROOT / "scripts" / "run.sh").read_text(encoding="utf-8")
    for variable in needed:
        assert re.search(rf"\b{variable}=", run_sh), variable


def test_compose_runs_nginx_on_the_rendered_template_in_front_of_every_replica():
    """deploy/nginx/compose.conf is exactly what its first line's command renders from the template
    scripts/run.sh and the scale-out tests use, and names the replicas compose runs."""
    import contextlib
    import io
    import shlex

    from bot.ops import proxy_config

    text = (DEPLOY / "nginx" / "compose.conf").read_text(encoding="utf-8")
    command = shlex.split(text.splitlines()[0].split("`")[1])
    assert command[:3] == ["python", "-m", "bot.ops.proxy_config"]
    rendered = io.StringIO()
    with contextlib.redirect_stdout(rendered):
        assert proxy_config.main(command[3:]) == 0
    assert text == rendered.getvalue(), "deploy/nginx/compose.conf is stale: run the command on its first line"
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert "./nginx/compose.conf:/etc/nginx/conf.d/default.conf:ro" in services["proxy"]["volumes"]
    upstreams = set(re.findall(r"^\s+server (\S+) max_fails", text, re.M))
    replicas = {n for n in services if re.fullmatch(r"(rasa|action)-\d+", n)}
    assert {u.split(":")[0] for u in upstreams} == replicas
    for upstream in upstreams:
        name, port = upstream.split(":")
        assert f"--port {port}" in " ".join(map(str, [services[name]["command"]] if isinstance(services[name]["command"], str)
                                                  else services[name]["command"])).replace(", ", " ")
    env = compose["x-govbot"]["environment"]
    assert env["ACTION_ENDPOINT_URL"] == "http://proxy:5055/webhook" and env["GOVBOT_RASA_URL"] == "http://proxy:5005"
    assert "listen 5005;" in text and "listen 5055;" in text and "client_max_body_size 1m;" in text
    assert not any("balancer" in str(s.get("command", "")) for s in services.values())


# ---- issue 20 item 2: every part deployed, every channel configured, no replica lost to an update ----

PARTS = {"rasa": "bot.ops.rasa_cli", "actions": "bot.ops.action_server", "case-service": "bot.case_service", "web": "bot.web"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _command(service_or_container: dict) -> str:
    command = service_or_container.get("command", "")
    return " ".join(map(str, command)) if isinstance(command, list) else str(command)


def _k8s_env(container: dict) -> set[str]:
    config = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        config.update(next(o for o in all_k8s_objects() if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name)["data"])
    return set(config) | {v["name"] for v in container.get("env", [])}


def _k8s_container(component: str) -> dict:
    [(_, container)] = [
        (o, c) for o, c in containers("Deployment") if o["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return container


def _compose_env(service: str) -> set[str]:
    spec = _compose()["services"][service]
    names = set(spec.get("environment") or {})
    if spec.get("env_file"):
        names |= set(re.findall(r"^(\w+)=", (DEPLOY / "govbot.env.example").read_text(encoding="utf-8"), re.M))
    return names


def test_every_part_runs_in_compose_and_kubernetes():
    services = _compose()["services"]
    for component, module in PARTS.items():
        assert any(f"-m {module}" in _command(s) for s in services.values()), component
        assert f"-m {module}" in _command(_k8s_container(component)), component
    # The web server is behind the compose nginx (published on loopback only) and the Kubernetes Ingress.
    proxy = services["proxy"]
    assert "./nginx/compose-web.conf:/etc/nginx/conf.d/web.conf:ro" in proxy["volumes"]
    web_conf = (DEPLOY / "nginx" / "compose-web.conf").read_text(encoding="utf-8")
    assert "server web:8080" in web_conf and "listen 8080;" in web_conf and "--port 8080" in _command(services["web"])
    assert all(port.startswith("127.0.0.1:") for port in proxy["ports"]) and "127.0.0.1:8080:8080" in proxy["ports"]
    assert not any(s.get("ports") for name, s in services.items() if name != "proxy")
    [ingress] = [o for o in all_k8s_objects() if o["kind"] == "Ingress"]
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths["/"] == "govbot-web" and paths["/socket.io"] == paths["/webhooks/wechat/webhook"] == "govbot-rasa"
    assert "/webhook" not in paths and not any(p.startswith(("/model", "/conversations")) for p in paths)
    services_k8s = {o["metadata"]["name"] for o in all_k8s_objects() if o["kind"] == "Service"}
    assert set(paths.values()) <= services_k8s


def _wechat_variables() -> set[str]:
    from bot.settings import WeChatSettings

    names = {v.name for v in WeChatSettings.variables() if v.name.startswith("WECHAT_")}
    return names - {"WECHAT_API_BASE"}  # the API's address has a default


def test_every_channel_gets_its_configuration():
    wechat = _wechat_variables()
    assert {"WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_AES_KEY"} <= wechat
    rasa_needs = wechat | {
        "GOVBOT_WEB_ORIGINS", "GOVBOT_SESSION_SECRET", "GOVBOT_RASA_TOKEN", "GOVBOT_ACTION_TOKEN", "GOVBOT_REST_TOKEN"
    }
    web_needs = {"GOVBOT_WEB_RASA_URL", "GOVBOT_WEB_PUBLIC_URL"}
    case_needs = {"GOVBOT_CASE_CALENDAR", "GOVBOT_CASE_DATABASE_URL", "GOVBOT_CASE_STAFF_TOKEN"}
    for needs, compose_service, component in (
        (rasa_needs, "rasa-1", "rasa"), (web_needs, "web", "web"), (case_needs, "case-service", "case-service")
    ):
        assert needs <= _compose_env(compose_service), (compose_service, needs - _compose_env(compose_service))
        assert needs <= _k8s_env(_k8s_container(component)), (component, needs - _k8s_env(_k8s_container(component)))
    # WeChat secrets come from an optional Secret: without it the endpoint answers 503, nothing else breaks.
    for variable in _k8s_container("rasa")["env"]:
        if variable["name"].startswith("WECHAT_"):
            ref = variable["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "govbot-wechat" and ref["optional"] is True, variable["name"]
    # The web server gets only the staff console's secrets (test_the_staff_console_gets_its_settings), not govbot.env.
    assert not _compose()["services"]["web"].get("env_file")
    # The calendar the case service is told to read is mounted there, and it is a calendar the service accepts.
    from bot.case_service.deadlines import WorkingDayCalendar

    path = _compose()["x-govbot"]["environment"]["GOVBOT_CASE_CALENDAR"]
    mount = next(v for v in _compose()["services"]["case-service"]["volumes"] if v.endswith(":ro"))
    source, target, _ = mount.split(":")
    assert path.startswith(target + "/")
    WorkingDayCalendar.from_file(DEPLOY / source.removeprefix("./") / path.removeprefix(target + "/"))
    case = _k8s_container("case-service")
    config = documents(DEPLOY / "kubernetes" / "configmap.yaml")
    k8s_path = config[0]["data"]["GOVBOT_CASE_CALENDAR"]
    [mounted] = [m for m in case["volumeMounts"] if k8s_path.startswith(m["mountPath"] + "/")]
    calendar_map = next(d for d in config if d["metadata"]["name"] == "govbot-case-calendar")
    assert k8s_path.removeprefix(mounted["mountPath"] + "/") in calendar_map["data"]
    assert yaml.safe_load(calendar_map["data"]["calendar.yml"]) == yaml.safe_load(
        (DEPLOY / "calendar" / "calendar.yml").read_text(encoding="utf-8")
    )


def test_rolling_updates_and_disruptions_never_take_the_last_replica():
    deployments = [o for o in all_k8s_objects() if o["kind"] == "Deployment"]
    budgets = [o for o in all_k8s_objects() if o["kind"] == "PodDisruptionBudget"]
    assert {o["metadata"]["labels"]["app.kubernetes.io/component"] for o in deployments} == set(PARTS)
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        assert deployment["spec"]["replicas"] >= 2, name
        strategy = deployment["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0, name
        assert strategy["rollingUpdate"]["maxSurge"] >= 1, name
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1, name
        assert covering[0]["spec"].get("minAvailable", 0) >= 1 and "maxUnavailable" not in covering[0]["spec"], name
        assert covering[0]["spec"]["minAvailable"] < deployment["spec"]["replicas"], name  # a drain can still proceed


def _memory_mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([A-Za-z]*)", str(quantity)).groups()
    factor = {"Mi": 1, "Gi": 1024, "m": 1, "g": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}[unit]
    return float(number) * factor


def test_memory_requests_are_sized_from_the_bench_peaks():
    """Requests (compose: reservations) at least the peak `make bench` measured per process, as the
    README's benchmark reports it; limits leave room above it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = re.search(r"^峰值内存：.*$", readme, re.M).group(0)
    peaks = {
        "rasa": float(re.search(r"本助手 rasa (\d+) MiB", line).group(1)),
        "actions": float(re.search(r"动作服务 (\d+) MiB", line).group(1)),
        "case-service": float(re.search(r"办件系统 (\d+) MiB", line).group(1)),
    }
    compose_services = {"rasa": "rasa-1", "actions": "action-1", "case-service": "case-service"}
    for component, peak in peaks.items():
        resources = _k8s_container(component)["resources"]
        assert peak <= _memory_mib(resources["requests"]["memory"]) < _memory_mib(resources["limits"]["memory"]), component
        compose_resources = _compose()["services"][compose_services[component]]["deploy"]["resources"]
        reserved = _memory_mib(compose_resources["reservations"]["memory"])
        assert peak <= reserved < _memory_mib(compose_resources["limits"]["memory"]), component


def _compose_nginx(tmp_path: Path, backend: str | None = None) -> tuple[list[str], dict[str, int]]:
    """deploy/nginx/compose.conf and compose-web.conf in one http block, as the `proxy` container has
    them, runnable here: the compose host names (rasa-1, web, …) resolve only inside compose, so
    `backend` (default: loopback on the same port) stands in for every one of them, and the listen
    ports become free ones. The nginx argv and {compose port: local port}."""
    from bot.ops import proxy_config
    from tests.conftest import free_port

    binary = proxy_config.nginx_binary()
    if binary is None:
        from tests.conftest import service_missing

        service_missing("nginx (make nginx: Debian's nginx package)")
    http = "\n".join((DEPLOY / "nginx" / name).read_text(encoding="utf-8") for name in ("compose.conf", "compose-web.conf"))
    http = re.sub(r"server [a-z][\w-]*:(\d+)", (lambda m: f"server {backend}") if backend else r"server 127.0.0.1:\1", http)
    listens = sorted(set(re.findall(r"listen (\d+);", http)))
    assert listens == ["5005", "5055", "8080"]
    ports = {}
    for port in listens:
        ports[port] = free_port()
        http = http.replace(f"listen {port};", f"listen 127.0.0.1:{ports[port]};")
    http = http.replace("access_log /dev/stdout", f"access_log {tmp_path}/access.log")
    (tmp_path / "nginx.conf").write_text(proxy_config.render_main(tmp_path, http, "1"), encoding="utf-8")
    return proxy_config.command(tmp_path, binary), ports


def test_compose_nginx_files_together_pass_nginx_t(tmp_path):
    """Together the two files must pass `nginx -t` (no clashing upstream or map names, ports or directives)."""
    import subprocess

    argv, _ = _compose_nginx(tmp_path)
    done = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---- /metrics stays internal: Prometheus scrapes each replica directly, no proxy hands it out ----

INTERNAL_ONLY = "govbot-internal-only"
METRICS_PATHS = ["/metrics", "/metrics/", "/metrics?format=prometheus", "//metrics", "/%6Detrics", "/metrics/../metrics"]


def _ingress_backend(ingress: dict, path: str) -> str:
    """The Service an Ingress sends `path` to, by the API's rules: an Exact path first, then the
    longest Prefix path matching whole path elements."""
    path = path.split("?", 1)[0]
    best, best_length = None, -1
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            candidate, kind = entry["path"], entry["pathType"]
            service = entry["backend"]["service"]["name"]
            if kind == "Exact" and path == candidate:
                return service
            prefix = candidate.rstrip("/")
            if kind == "Prefix" and (path == prefix or path.startswith(prefix + "/")) and len(prefix) > best_length:
                best, best_length = service, len(prefix)
    assert best is not None, path
    return best


def test_the_ingress_never_sends_metrics_to_a_pod():
    """The Ingress sends `/` to the web server, whose /metrics would then be public: /metrics (and
    below) goes to a Service that no pod backs: no selector, no Endpoints, no EndpointSlice."""
    objects = all_k8s_objects()
    [ingress] = [o for o in objects if o["kind"] == "Ingress"]
    for path in ("/metrics", "/metrics/", "/metrics?format=prometheus", "/metrics/x"):
        assert _ingress_backend(ingress, path) == INTERNAL_ONLY, path
    for path in ("/", "/kiosk", "/static/widget.js", "/metricsx", "/console/metrics"):
        assert _ingress_backend(ingress, path) == "govbot-web", path
    assert _ingress_backend(ingress, "/socket.io/") == _ingress_backend(ingress, "/webhooks/rest/webhook") == "govbot-rasa"
    [internal] = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == INTERNAL_ONLY]
    assert "selector" not in internal["spec"]
    assert not [o for o in objects if o["kind"] in {"Endpoints", "EndpointSlice"}]
    # Prometheus reaches the pods itself, not through the Ingress.
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "kubernetes-scrape.yml").read_text(encoding="utf-8"))
    assert all(job.get("kubernetes_sd_configs", [{}])[0].get("role") == "pod" for job in scrape["scrape_configs"]), scrape


def test_compose_nginx_answers_404_for_metrics_on_every_port(tmp_path):
    """The compose nginx (and so scripts/run.sh's, rendered from the same template) in front of a
    backend that would answer every path: /metrics in any spelling gets nginx's 404 on the Rasa,
    action-server and web ports, while other paths still reach the backend."""
    import http.server
    import subprocess
    import threading
    import time
    import urllib.error
    import urllib.request

    class Backend(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = f"backend {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    argv, ports = _compose_nginx(tmp_path, f"127.0.0.1:{backend.server_address[1]}")
    nginx = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def get(port: int, path: str) -> tuple[int, str]:
        # http.client sends the path as given (no normalising), as a hostile client would.
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                get(ports["8080"], "/")
                break
            except OSError:
                assert nginx.poll() is None and time.monotonic() < deadline, nginx.stderr.read().decode() if nginx.poll() else "nginx slow"
                time.sleep(0.1)
        for compose_port, port in ports.items():
            assert get(port, "/kiosk") == (200, "backend /kiosk"), compose_port
            for path in METRICS_PATHS:
                status, body = get(port, path)
                assert status == 404 and "backend" not in body, (compose_port, path, status, body)
            assert get(port, "/metricsx")[0] == 200, compose_port  # only the metrics path itself
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        backend.shutdown()
        backend.server_close()


# ---- CORS: compose, Kubernetes and make run allow exactly GOVBOT_WEB_ORIGINS (bot.ops.rasa_cli.cors_arguments) ----


def _rasa_argv(command: list[str] | str) -> list[str]:
    import shlex

    words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
    assert words[:3] == ["python", "-m", "bot.ops.rasa_cli"], words
    return words[3:]


def test_rasa_allows_the_widget_origins_the_same_way_everywhere(monkeypatch):
    """No deployment names --cors itself: bot.ops.rasa_cli derives it from GOVBOT_WEB_ORIGINS, which the
    socket.io channel reads too, so the REST preflight and the socket allow the same sites.
    (tests/test_security.py checks the result on the stack scripts/run.sh starts.)"""
    from bot.ops.rasa_cli import rasa_arguments

    origins = "https://www.example.gov.cn, https://zwgk.example.gov.cn/"
    monkeypatch.setenv("GOVBOT_WEB_ORIGINS", origins)
    expected = ["https://www.example.gov.cn", "https://zwgk.example.gov.cn"]
    services = _compose()["services"]
    k8s = _k8s_container("rasa")
    commands = {name: _rasa_argv(services[name]["command"]) for name in services if re.fullmatch(r"rasa-\d+", name)}
    commands["kubernetes"] = _rasa_argv([*k8s["command"], *k8s.get("args", [])])
    run_sh = (ROOT / "scripts" / "run.sh").read_text(encoding="utf-8")
    assert not re.search(r"^[^#]*--cors", run_sh, re.M) and "bot.ops.rasa_cli run" in run_sh
    for where, argv in commands.items():
        assert not any(a.startswith("--cors") for a in argv), where
        final = rasa_arguments(argv, "token")
        at = final.index("--cors")
        assert final[at + 1:at + 3] == expected and final[-1] == "--auth-token=token", (where, final)
    # Every place that runs Rasa gives it GOVBOT_WEB_ORIGINS (a real site, never *).
    assert "GOVBOT_WEB_ORIGINS" in _compose_env("rasa-1") and "GOVBOT_WEB_ORIGINS" in _k8s_env(k8s)
    config = documents(DEPLOY / "kubernetes" / "configmap.yaml")[0]["data"]
    assert config["GOVBOT_WEB_ORIGINS"].startswith("https://") and "*" not in config["GOVBOT_WEB_ORIGINS"]
    assert re.search(r"^GOVBOT_WEB_ORIGINS=https://", (DEPLOY / "govbot.env.example").read_text(encoding="utf-8"), re.M)
    monkeypatch.setenv("GOVBOT_WEB_ORIGINS", "*")
    with pytest.raises(ValueError, match="不能设为"):
        rasa_arguments(commands["kubernetes"], "token")


# ---- the staff console (/console, bot/console/) inside the web server ----

CONSOLE_SECRETS = {
    # variable: the key of govbot-secrets (Kubernetes) and of govbot.env (compose) it comes from
    "GOVBOT_CASE_STAFF_TOKEN": "GOVBOT_CASE_STAFF_TOKEN",
    "GOVBOT_RASA_TOKEN": "GOVBOT_RASA_TOKEN",
    "GOVBOT_CONSOLE_DATABASE_URL": "GOVBOT_DATABASE_URL",
    "GOVBOT_TRACKER_DATABASE_URL": "GOVBOT_DATABASE_URL",
    "GOVBOT_CONSOLE_ADMIN_PASSWORD": "GOVBOT_CONSOLE_ADMIN_PASSWORD",
}
KNOWLEDGE_DIR = "/var/lib/govbot/cache/knowledge"


def _k8s_values(container: dict) -> dict[str, str]:
    """Plain values a container gets: its ConfigMaps', then its own `value`s."""
    values = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        values.update(next(o for o in all_k8s_objects() if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name)["data"])
    values.update({v["name"]: v["value"] for v in container.get("env", []) if "value" in v})
    return values


def _k8s_pod(component: str) -> dict:
    [obj] = [o for o in all_k8s_objects() if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
             and o["kind"] in {"Deployment", "Job"}]
    return obj["spec"]["template"]["spec"]


def _mounted_at(pod: dict, container: dict, path: str) -> dict:
    """The pod volume mounted over `path` in `container`."""
    [mount] = [m for m in container.get("volumeMounts", []) if path == m["mountPath"] or path.startswith(m["mountPath"] + "/")]
    return next(v for v in pod["volumes"] if v["name"] == mount["name"]) | {"readOnly": mount.get("readOnly", False)}


def test_the_staff_console_gets_its_settings():
    """The web server runs the console: the case service's URL and staff token, Rasa's URL and API token, the
    tracker store for analytics, a PostgreSQL console database, the first admin's password, the calendar,
    the trusted proxies, in compose and Kubernetes; every secret from a secret reference, never a literal."""
    from bot.console.config import ConsoleConfig
    from bot.access.rate_limit import trusted_proxies

    needs = set(CONSOLE_SECRETS) | {"GOVBOT_CASE_URL", "GOVBOT_RASA_URL", "GOVBOT_CASE_CALENDAR", "GOVBOT_TRUSTED_PROXIES"}
    # Every one of them is a variable the console really reads: setting it changes ConsoleConfig.
    from bot.console.config import ConsoleConfig

    default = ConsoleConfig.from_env()
    for variable in needs:
        value = "10.9.8.7" if variable == "GOVBOT_TRUSTED_PROXIES" else "sqlite:///x.db" if "DATABASE" in variable else "http://x.example:1"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(variable, value)
            assert ConsoleConfig.from_env() != default, variable

    # Compose: interpolated from govbot.env (--env-file), which lists each key; plain settings point at compose's services.
    web = _compose()["services"]["web"]
    env = web["environment"]
    assert needs <= set(env), needs - set(env)
    example = (DEPLOY / "govbot.env.example").read_text(encoding="utf-8")
    for variable, key in CONSOLE_SECRETS.items():
        assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", env[variable]), (variable, env[variable])
        assert re.search(rf"^{key}=\S", example, re.M), key
    assert env["GOVBOT_CASE_URL"] == _compose()["x-govbot"]["environment"]["GOVBOT_CASE_URL"] == "http://case-service:8100"
    assert env["GOVBOT_RASA_URL"] == "http://proxy:5005"
    assert "./calendar:/etc/govbot/calendar:ro" in web["volumes"]
    assert env["GOVBOT_CASE_CALENDAR"] == _compose()["x-govbot"]["environment"]["GOVBOT_CASE_CALENDAR"]
    assert trusted_proxies(env["GOVBOT_TRUSTED_PROXIES"]), env["GOVBOT_TRUSTED_PROXIES"]
    assert {"postgres", "case-service"} <= set(web["depends_on"])

    # Kubernetes: secrets by secretKeyRef from govbot-secrets (required: the console cannot work without them).
    container = _k8s_container("web")
    refs = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in container.get("env", []) if "valueFrom" in v}
    for variable, key in CONSOLE_SECRETS.items():
        assert refs.get(variable) == {"name": "govbot-secrets", "key": key}, (variable, refs.get(variable))
    values = _k8s_values(container)
    assert needs - set(CONSOLE_SECRETS) <= set(values), needs - set(CONSOLE_SECRETS) - set(values)
    assert values["GOVBOT_CASE_URL"] == "http://govbot-case-service:8100" and values["GOVBOT_RASA_URL"] == "http://govbot-rasa:5005"
    assert trusted_proxies(values["GOVBOT_TRUSTED_PROXIES"]), values["GOVBOT_TRUSTED_PROXIES"]
    # The calendar is mounted where GOVBOT_CASE_CALENDAR points, from the same ConfigMap as the case service's.
    calendar = _mounted_at(_k8s_pod("web"), container, values["GOVBOT_CASE_CALENDAR"])
    assert calendar["configMap"]["name"] == "govbot-case-calendar"
    # The secret's creation command in configmap.yaml names the new key.
    assert "GOVBOT_CONSOLE_ADMIN_PASSWORD=" in (DEPLOY / "kubernetes" / "configmap.yaml").read_text(encoding="utf-8")

    # With these values, the console's configuration reads as intended (PostgreSQL, not the SQLite default).
    import os

    saved = dict(os.environ)
    try:
        os.environ.update({k: v for k, v in values.items() if k.startswith("GOVBOT_")})
        os.environ.update({
            "GOVBOT_CONSOLE_DATABASE_URL": "postgresql://govbot:x@postgres.internal:5432/govbot",
            "GOVBOT_CASE_STAFF_TOKEN": "staff", "GOVBOT_RASA_TOKEN": "rasa", "GOVBOT_CONSOLE_ADMIN_PASSWORD": "admin-pass",
        })
        config = ConsoleConfig.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert config.database_url.startswith("postgresql://") and config.case_url == "http://govbot-case-service:8100"
    assert config.case_staff_token == "staff" and config.rasa_token == "rasa" and config.admin_password == "admin-pass"
    assert str(config.calendar_path) == values["GOVBOT_CASE_CALENDAR"] and config.trusted_proxies


def _readme_knowledge_memory_mib() -> float:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## 维护知识库"):readme.index("## 配置")]
    return float(re.search(r"常驻内存约 ([\d.]+) GB", section).group(1)) * 1024


def test_the_console_knowledge_pages_share_the_knowledge_and_index_with_the_action_servers():
    """The knowledge pages edit GOVBOT_KNOWLEDGE_DIR and publish into GOVBOT_CACHE_DIR/index; the action servers
    switch to a published index within a second only if they read the same directories (the index job builds
    from them too). The web server then holds the embedding model: memory for the README's figure."""
    peak = _readme_knowledge_memory_mib()
    assert peak >= 1000

    # Compose: one named volume, the same paths for the web server, both action servers and the index job.
    services = _compose()["services"]
    for name in ("web", "action-1", "action-2", "index-build"):
        env = services[name]["environment"]
        assert env["GOVBOT_KNOWLEDGE_DIR"] == KNOWLEDGE_DIR and env["GOVBOT_CACHE_DIR"] == "/var/lib/govbot/cache", name
        assert "knowledge-cache:/var/lib/govbot/cache" in services[name]["volumes"], name
    resources = services["web"]["deploy"]["resources"]
    assert peak <= _memory_mib(resources["reservations"]["memory"]) < _memory_mib(resources["limits"]["memory"])

    # Kubernetes: the same PVC, writable for the web server and the job, read-only for the action servers.
    claims = {}
    for component, container in (("web", _k8s_container("web")), ("actions", _k8s_container("actions")),
                                 ("index-build", _k8s_pod("index-build")["containers"][0])):
        values = _k8s_values(container)
        assert values["GOVBOT_KNOWLEDGE_DIR"] == KNOWLEDGE_DIR, component
        assert KNOWLEDGE_DIR.startswith(values["GOVBOT_CACHE_DIR"] + "/"), component
        volume = _mounted_at(_k8s_pod(component), container, KNOWLEDGE_DIR)
        claims[component] = (volume["persistentVolumeClaim"]["claimName"], volume["readOnly"])
    assert claims == {
        "web": ("govbot-knowledge-cache", False), "index-build": ("govbot-knowledge-cache", False),
        "actions": ("govbot-knowledge-cache", True),
    }
    [claim] = [o for o in all_k8s_objects() if o["kind"] == "PersistentVolumeClaim"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    assert _k8s_pod("web")["securityContext"]["fsGroup"] == 10001  # the image's user may write the volume
    resources = _k8s_container("web")["resources"]
    assert peak <= _memory_mib(resources["requests"]["memory"]) < _memory_mib(resources["limits"]["memory"])
    # Rasa keeps the image's knowledge/ (it does not mount the volume).
    assert "GOVBOT_KNOWLEDGE_DIR" not in _k8s_env(_k8s_container("rasa"))
    assert "GOVBOT_KNOWLEDGE_DIR" not in services["rasa-1"]["environment"]

    # Uploads of up to 20 MB pass the compose nginx on /console/ (the rest of the site keeps its small limit).
    from bot.knowledge.admin import MAX_UPLOAD_BYTES

    web_conf = (DEPLOY / "nginx" / "compose-web.conf").read_text(encoding="utf-8")
    console = re.search(r"location /console/ \{(.*?)\}", web_conf, re.S).group(1)
    assert _memory_mib(re.search(r"client_max_body_size (\d+m);", console).group(1)) * 2**20 > MAX_UPLOAD_BYTES


def _seed_commands() -> dict[str, str]:
    """The shell commands that seed the shared knowledge directory, as the container's sh receives them."""
    job = _k8s_pod("index-build")["containers"][0]
    init = _k8s_pod("web")["initContainers"][0]
    compose = _compose()["services"]["index-build"]["command"]
    commands = {"job": job["command"], "web-init": init["command"], "compose": [c.replace("$$", "$") for c in compose]}
    for where, command in commands.items():
        assert command[:2] == ["sh", "-c"], where
    return {where: command[2] for where, command in commands.items()}


def test_the_knowledge_directory_is_seeded_once_then_left_to_staff(tmp_path):
    """Run the seeding commands: an empty volume gets the image's knowledge/; a second run (new pod, job re-run)
    keeps what staff changed in the console; the index is then built from the volume."""
    import shutil
    import subprocess

    commands = _seed_commands()
    assert commands["job"].endswith("exec govbot kb build") and commands["compose"].endswith("exec govbot kb build")
    for where, command in commands.items():
        app = tmp_path / where / "app"
        shutil.copytree(ROOT / "knowledge", app / "knowledge", ignore=shutil.ignore_patterns("*.pyc"))
        target = tmp_path / where / "volume" / "knowledge"
        run = command.replace("exec govbot kb build", "exec true")
        env = {"PATH": "/usr/bin:/bin", "GOVBOT_KNOWLEDGE_DIR": str(target)}
        subprocess.run(["sh", "-c", run], cwd=app, env=env, check=True, timeout=60)
        assert (target / "agency.yml").read_bytes() == (ROOT / "knowledge" / "agency.yml").read_bytes(), where
        assert sorted(p.name for p in (target / "documents").iterdir()) == sorted(
            p.name for p in (ROOT / "knowledge" / "documents").iterdir()), where
        (target / "questions.yml").write_text("# staff edit\n", encoding="utf-8")
        (app / "knowledge" / "agency.yml").write_text("name: changed in a new image\n", encoding="utf-8")
        subprocess.run(["sh", "-c", run], cwd=app, env=env, check=True, timeout=60)
        assert (target / "questions.yml").read_text(encoding="utf-8") == "# staff edit\n", where
        assert (target / "agency.yml").read_bytes() == (ROOT / "knowledge" / "agency.yml").read_bytes(), where
