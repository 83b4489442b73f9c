"""The web server (bot.web) over real HTTP: pages, bundle, kiosk topics from the knowledge base,
security headers and clear errors."""

from __future__ import annotations

import asyncio
import shutil

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from bot.knowledge.sources import load_agency, load_service_catalogue, render_template
from bot.web.app import create_app
from bot.web.config import WebConfig
from tests.conftest import ROOT

DIST = ROOT / "web" / "dist"


def fetch(config: WebConfig, *paths: str) -> list[tuple[int, dict, str]]:
    """GETs each path from a real server on a free loopback port."""

    async def run():
        async with TestClient(TestServer(create_app(config), host="127.0.0.1")) as client:
            results = []
            for path in paths:
                response = await client.get(path)
                results.append((response.status, dict(response.headers), await response.text()))
            return results

    return asyncio.run(run())


@pytest.fixture
def built(tmp_path):
    """A dist folder with the bundle's files (content does not matter to the server)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in ("govbot-widget.js", "govbot-widget.css", "govbot-kiosk.js", "govbot-kiosk.css", "demo-portal.css"):
        (dist / name).write_text(f"/* {name} */", encoding="utf-8")
    return dist


def config(**overrides) -> WebConfig:
    values = dict(rasa_url="http://127.0.0.1:5005", knowledge_dir=ROOT / "knowledge", kiosk_idle_seconds=90)
    values.update(overrides)
    return WebConfig(**values)


def test_portal_page_embeds_the_widget_with_one_script_tag(built):
    [(status, headers, html)] = fetch(config(dist_dir=built), "/")
    assert status == 200
    assert '<script src="/static/govbot-widget.js" data-server="http://127.0.0.1:5005"' in html
    assert "示例页面" in html and "示例市商务局" in html
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self' http://127.0.0.1:5005 ws://127.0.0.1:5005" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    # Nothing referenced from another host: only relative URLs and Rasa.
    assert "https://" not in html and html.count("http://") == 1


def test_kiosk_page_carries_its_settings(built):
    cfg = config(dist_dir=built, public_url="https://www.example.gov.cn/zx/")
    [(status, _, html)] = fetch(cfg, "/kiosk")
    assert status == 200
    assert 'data-idle="90"' in html and 'data-portal-url="https://www.example.gov.cn/zx/"' in html
    assert '<script src="/static/govbot-kiosk.js">' in html


def test_bundle_files_are_served_and_nothing_else(built):
    results = fetch(
        config(dist_dir=built),
        "/static/govbot-widget.js", "/static/govbot-kiosk.css", "/static/..%2F..%2Fpyproject.toml", "/static/other.js",
    )
    (s1, h1, body1), (s2, h2, _), (s3, _, body3), (s4, _, _) = results
    assert s1 == 200 and h1["Content-Type"].startswith("text/javascript") and body1 == "/* govbot-widget.js */"
    assert s2 == 200 and h2["Content-Type"].startswith("text/css")
    assert s3 == 404 and "没有这个文件" in body3
    assert s4 == 404


def test_missing_bundle_is_reported_not_hidden(tmp_path):
    [(health, _, body), (page, _, html)] = fetch(config(dist_dir=tmp_path), "/health", "/")
    assert health == 503 and "make web" in body
    assert page == 200 and "尚未构建" in html


def test_kiosk_topics_come_from_the_knowledge_base(built):
    [(status, _, body)] = fetch(config(dist_dir=built), "/api/kiosk/topics")
    assert status == 200
    data = yaml.safe_load(body)
    agency = load_agency(ROOT / "knowledge")
    faq = yaml.safe_load(render_template(ROOT / "knowledge" / "faq.yml", agency))["faqs"]
    assert [q["label"] for q in data["questions"]] == [f["question"] for f in faq[:8]]
    catalogue = load_service_catalogue(ROOT / "knowledge")
    assert [i["label"] for i in data["items"]] == [item.name for item in catalogue.items]
    groups = {g["title"]: g["phrases"] for g in data["phrases"]}
    assert "需要什么材料" in groups["想了解"] and len(groups["事项"]) == len(catalogue.items)


def test_kiosk_topics_follow_edits_to_the_faq(built, tmp_path):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    faq_path = knowledge / "faq.yml"
    text = faq_path.read_text(encoding="utf-8")
    faq_path.write_text(text.replace("申请政府信息公开需要说明用途吗？", "新加的常见问题？", 1), encoding="utf-8")
    [(status, _, body)] = fetch(config(dist_dir=built, knowledge_dir=knowledge), "/api/kiosk/topics")
    assert status == 200 and yaml.safe_load(body)["questions"][0]["label"] == "新加的常见问题？"

    faq_path.write_text("faqs: [broken", encoding="utf-8")
    [(status, _, body)] = fetch(config(dist_dir=built, knowledge_dir=knowledge), "/api/kiosk/topics")
    assert status == 503 and "暂时无法加载" in body


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("GOVBOT_KIOSK_IDLE_SECONDS", "45")
    monkeypatch.setenv("GOVBOT_WEB_RASA_URL", "https://zx.example.gov.cn/")
    cfg = WebConfig.from_env(port=9090)
    assert cfg.kiosk_idle_seconds == 45 and cfg.rasa_url == "https://zx.example.gov.cn"
    assert cfg.portal_url == "http://127.0.0.1:9090/"
    monkeypatch.setenv("GOVBOT_KIOSK_IDLE_SECONDS", "2")
    with pytest.raises(ValueError, match="GOVBOT_KIOSK_IDLE_SECONDS 不能小于 5"):
        WebConfig.from_env()
    monkeypatch.setenv("GOVBOT_KIOSK_IDLE_SECONDS", "两分钟")
    with pytest.raises(ValueError, match="应为整数"):
        WebConfig.from_env()


def test_favicon_is_served_from_the_bundle(built):
    icon = (ROOT / "web" / "src" / "favicon.ico").read_bytes()
    (built / "favicon.ico").write_bytes(icon)

    async def get_icon():
        async with TestClient(TestServer(create_app(config(dist_dir=built)), host="127.0.0.1")) as client:
            response = await client.get("/favicon.ico")
            return response.status, response.headers["Content-Type"], await response.read()

    assert asyncio.run(get_icon()) == (200, "image/x-icon", icon)
    (built / "favicon.ico").unlink()
    [(status, _, body)] = fetch(config(dist_dir=built), "/favicon.ico")
    assert status == 404 and "没有这个文件" in body


def test_suggested_questions_are_the_first_faq_entries_for_any_site(built):
    """The widget on an agency's own site reads them from this server: 3–5 FAQ questions, any origin."""
    import json

    from bot.web.topics import kiosk_topics

    faq = [q["label"] for q in kiosk_topics(ROOT / "knowledge")["questions"]]
    (s1, h1, b1), (_, _, b2), (_, _, b3) = fetch(
        config(dist_dir=built), "/api/suggestions", "/api/suggestions?limit=9", "/api/suggestions?limit=x"
    )
    assert s1 == 200 and h1["Access-Control-Allow-Origin"] == "*"
    assert [q["label"] for q in json.loads(b1)["questions"]] == faq[:4]
    assert len(json.loads(b2)["questions"]) == 5 and len(json.loads(b3)["questions"]) == 4
