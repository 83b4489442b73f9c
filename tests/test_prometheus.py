"""Prometheus metrics (issue 20 item 4): every service's /metrics, parsed by prometheus_client and
checked by promtool; the alert rules checked and unit-tested by promtool (`make prometheus`)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.test_case_service import BOT, SHANGHAI, Clock, asynctest, disclosure, service

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus"
PROMETHEUS_ACCEPT = (  # what Prometheus 2.x sends when it scrapes
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def promtool() -> str:
    path = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if path is None:
        pytest.fail("promtool is missing: `make prometheus` installs Debian's prometheus package", pytrace=False)
    return path


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float | None:
    """The sample with exactly these labels among its labels (others ignored); None when absent."""
    matches = [v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls]
    return sum(matches) if matches else None


def check_with_promtool(text: str) -> None:
    result = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    # promtool exits 3 for lint warnings (e.g. a counter without _total); 1 is a parse error.
    assert result.returncode in (0, 3), result.stdout + result.stderr


# ---------------------------------------------------------------- alert rules


def test_alert_rules_pass_promtool_check():
    result = subprocess.run([promtool(), "check", "rules", str(RULES / "alerts.yml")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def test_alert_rules_fire_as_their_unit_tests_expect():
    result = subprocess.run([promtool(), "test", "rules", "alerts.test.yml"], cwd=RULES, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    names = set(re.findall(r"alertname: (\w+)", (RULES / "alerts.test.yml").read_text(encoding="utf-8")))
    rules = set(re.findall(r"- alert: (\w+)", (RULES / "alerts.yml").read_text(encoding="utf-8")))
    assert rules == names  # every alert has a unit test


def test_promtool_rejects_a_broken_rule(tmp_path):
    broken = (RULES / "alerts.yml").read_text(encoding="utf-8").replace("max(govbot_outbox_up) == 0", "max(govbot_outbox_up == 0")
    (tmp_path / "alerts.yml").write_text(broken, encoding="utf-8")
    result = subprocess.run([promtool(), "check", "rules", str(tmp_path / "alerts.yml")], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


def test_compose_scrape_config_passes_promtool_and_names_every_replica(tmp_path):
    import yaml

    text = (RULES / "prometheus.yml").read_text(encoding="utf-8")
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace("/etc/prometheus/alerts.yml", str(RULES / "alerts.yml")), encoding="utf-8")
    result = subprocess.run([promtool(), "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"]: job for job in yaml.safe_load(text)["scrape_configs"]}
    assert set(jobs) == {"govbot-rasa", "govbot-actions", "govbot-cases", "govbot-web"}
    assert jobs["govbot-actions"]["params"] == {"format": ["prometheus"]}
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.production.yml").read_text(encoding="utf-8"))["services"]
    targets = {t for job in jobs.values() for c in job["static_configs"] for t in c["targets"]}
    ports = {"rasa": 5005, "action": 5055, "case-service": 8100, "web": 8080}
    expected = {f"{name}:{ports[name.rsplit('-', 1)[0] if name[-1].isdigit() else name]}"
                for name in compose if re.fullmatch(r"(rasa|action)-\d+|case-service|web", name)}
    assert targets == expected


def test_kubernetes_scrape_config_finds_every_deployment():
    """Debian's promtool has no Kubernetes discovery: check that the relabelling keeps every govbot pod."""
    import yaml

    from tests.test_deploy_files import all_k8s_objects

    [job] = yaml.safe_load((RULES / "kubernetes-scrape.yml").read_text(encoding="utf-8"))["scrape_configs"]
    rules = job["relabel_configs"]
    keep = {r["source_labels"][0]: r["regex"] for r in rules if r.get("action") == "keep"}
    components = {}
    for rule in rules:
        if rule.get("target_label") == "__tmp_component":
            for name in re.fullmatch(r"\(?([\w|-]+)\)?", rule["regex"]).group(1).split("|"):
                components[name] = rule.get("replacement", name)
    assert job["params"] == {"format": ["prometheus"]}
    for obj in all_k8s_objects():
        if obj["kind"] != "Deployment":
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        assert re.fullmatch(keep["__meta_kubernetes_pod_label_app_kubernetes_io_part_of"], labels["app.kubernetes.io/part-of"])
        component = labels["app.kubernetes.io/component"]
        assert component in components, component
        ports = {p.get("name") for c in obj["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        assert keep["__meta_kubernetes_pod_container_port_name"] in ports, component
    assert {f"govbot-{c}" for c in components.values()} == {"govbot-rasa", "govbot-actions", "govbot-cases", "govbot-web"}


# ---------------------------------------------------------------- case service: deadlines


@asynctest
async def test_case_service_reports_open_cases_by_distance_to_their_deadline(tmp_path):
    clock = Clock(dt.datetime(2025, 9, 30, 10, tzinfo=SHANGHAI))
    async with service(f"sqlite:///{tmp_path / 'cases.db'}", clock=clock) as client:
        status, created, _ = await client.create(disclosure())
        assert status == 201
        deadline = dt.date.fromisoformat(created["deadline"])
        # A closed case is not counted: its answer period no longer runs.
        status, other, _ = await client.create(disclosure(conversation_id="conv-closed"), key=uuid.uuid4().hex)
        await client.transition(other["tracking_number"], "answer", reply_type="disclosed")

        async def scrape() -> dict:
            async with client.http.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT}) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("application/openmetrics-text")
                text = await response.text()
            async with client.http.get("/metrics") as response:  # curl, a browser: classic text format
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                check_with_promtool(await response.text())
            return samples(text)

        expected = {
            deadline - dt.timedelta(days=10): "later",
            deadline - dt.timedelta(days=2): "within_3_days",
            deadline: "today",
            deadline + dt.timedelta(days=1): "overdue",
        }
        for day, window in expected.items():
            clock.now = dt.datetime.combine(day, dt.time(9), tzinfo=SHANGHAI)
            found = await scrape()
            assert value(found, "govbot_case_database_up") == 1
            for due in ("overdue", "today", "within_3_days", "later"):
                assert value(found, "govbot_cases_open", kind="disclosure", due=due) == (1 if due == window else 0), (day, due)
        # Requests are counted by route template, never by the tracking number in the path.
        await client.call("GET", f"/cases/{created['tracking_number']}?phone_last4=8000", token=BOT)
        found = await scrape()
        routes = {dict(labels).get("route") for (name, labels) in found if name == "govbot_http_requests_total"}
        assert "/cases/{tracking_number}" in routes and "/cases" in routes
        assert not any(created["tracking_number"] in (route or "") for route in routes)
        assert value(found, "govbot_http_requests_total", service="cases", route="/cases", method="POST", status="201") >= 2


@asynctest
async def test_case_database_down_is_reported_not_raised(tmp_path):
    import sqlalchemy

    from bot.case_service.app import STORE_KEY

    async with service(f"sqlite:///{tmp_path / 'cases.db'}") as client:
        store = client.app[STORE_KEY]  # as test_case_service does: a database that cannot be opened
        store.engine.dispose()
        store.engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}", future=True)
        store._sessions.configure(bind=store.engine)
        async with client.http.get("/metrics") as response:
            assert response.status == 200
            found = samples(await response.text())
    assert value(found, "govbot_case_database_up") == 0


# ---------------------------------------------------------------- the stack `make run` starts


def test_every_service_of_make_run_serves_prometheus_metrics(default_stack):
    stack = default_stack
    sender = f"metrics-{uuid.uuid4().hex[:8]}"
    assert stack.texts(sender, "政府信息公开申请需要多长时间答复")
    assert "没有找到" in stack.say(sender, "你们局里有没有招聘公务员的计划")  # as test_conversations: nothing found
    web_url = f"http://127.0.0.1:{stack.env['GOVBOT_WEB_PORT']}"
    requests.get(f"{web_url}/kiosk", timeout=30)

    # Rasa: requests by channel and route (the REST webhook above, the API's root).
    response = requests.get(f"{stack.rasa_url}/metrics", headers={"Accept": PROMETHEUS_ACCEPT}, timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/openmetrics-text")
    rasa = samples(response.text)
    assert value(rasa, "govbot_http_requests_total", service="rasa", channel="rest",
                 route="/webhooks/rest/webhook", method="POST", status="200") >= 2
    assert value(rasa, "govbot_http_request_duration_seconds_count", service="rasa", channel="rest",
                 route="/webhooks/rest/webhook") >= 2
    check_with_promtool(requests.get(f"{stack.rasa_url}/metrics", timeout=30).text)

    # Action server: /metrics stays JSON for people and scripts …
    response = requests.get(f"{stack.action_url}/metrics", timeout=30)
    assert response.headers["Content-Type"].startswith("application/json") and "outbox" in response.json()
    # … and answers Prometheus in its format: replies by outcome, the outbox, requests by route.
    response = requests.get(f"{stack.action_url}/metrics", headers={"Accept": PROMETHEUS_ACCEPT}, timeout=30)
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    actions = samples(response.text)
    assert value(actions, "govbot_knowledge_replies_total", outcome="answered") >= 1
    assert value(actions, "govbot_knowledge_replies_total", outcome="not_found") >= 1
    assert value(actions, "govbot_outbox_up") == 1
    assert value(actions, "govbot_outbox_entries", status="pending") is not None
    assert value(actions, "govbot_outbox_entries", status="rejected") is not None
    assert value(actions, "govbot_outbox_oldest_pending_seconds") is not None
    assert value(actions, "govbot_http_requests_total", service="actions", route="/webhook", method="POST", status="200") >= 2
    text = requests.get(f"{stack.action_url}/metrics", params={"format": "prometheus"}, timeout=30).text
    check_with_promtool(text)

    # Case service and web server.
    cases = samples(requests.get(f"{stack.case_url}/metrics", timeout=30).text)
    assert value(cases, "govbot_case_database_up") == 1
    web = requests.get(f"{web_url}/metrics", timeout=30)
    check_with_promtool(web.text)
    assert value(samples(web.text), "govbot_http_requests_total", service="web", route="/kiosk", status="200") >= 1
