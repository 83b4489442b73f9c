"""The `govbot` console script, run as staff would run it."""

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

GOVBOT = str(Path(sys.executable).parent / "govbot")
FIELDS = {"doc_id", "title", "issuer", "date", "section", "text", "score"}


def run(*args, stdin=None):
    return subprocess.run([GOVBOT, *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=600)


def test_kb_build_reports_an_up_to_date_index(knowledge_service):
    result = run("kb", "build", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "索引已是最新" in result.stdout


def test_kb_search_json_best_first(knowledge_service):
    result = run("kb", "search", "上海市商务委对政务新媒体有什么要求", "--top-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 3 and all(set(h) == FIELDS for h in hits)
    assert hits[0]["doc_id"] == "shanghai-commerce-2020-disclosure-points"
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_kb_search_reads_queries_from_stdin_one_json_array_per_line(knowledge_service):
    queries = "商务部政务大厅有多大\n楚雄州商务局文件公开流程\n\n"
    result = run("kb", "search", "--top-k", "2", "--json", stdin=queries)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip("\n").split("\n")
    assert len(lines) == 3
    first, second, blank = (json.loads(line) for line in lines)
    assert first[0]["doc_id"] == "mofcom-promoting-disclosure"
    assert second[0]["doc_id"] == "chuxiong-commerce-disclosure-plan"
    assert blank == []


def test_ask_prints_answer_and_citation(knowledge_service):
    result = run("ask", "上海市商务委2020年对政务新媒体提了什么要求")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("来源：《2020年上海市商务委员会政务公开工作要点》")


def test_kb_sections_names_a_documents_sections_as_questions_yml_does(knowledge_service):
    import yaml

    from bot.knowledge.chunking import METADATA_SECTION

    written = yaml.safe_load((ROOT / "knowledge" / "questions.yml").read_text(encoding="utf-8"))["info-processing-fee-2020"]
    result = run("kb", "sections", "info-processing-fee-2020")
    assert result.returncode == 0, result.stderr
    rows = {line.split("\t")[0]: line.split("\t")[1] for line in result.stdout.splitlines() if "\t" in line}
    assert set(rows) == set(written) | {METADATA_SECTION}
    # sections with staff-written phrasings use no generated ones; the metadata passage has only those
    count = len(written["二、收费标准怎么计算 / （二）按件计收"])
    assert rows["二、收费标准怎么计算 / （二）按件计收"] == f"常见问法 {count} 条，自动问法 0 条"
    assert rows[METADATA_SECTION].startswith("常见问法 0 条，自动问法 ") and "    〔自动〕" in result.stdout
    missing = run("kb", "sections", "no-such-document")
    assert missing.returncode != 0 and "没有编号为 no-such-document 的文档" in missing.stdout + missing.stderr


def test_kb_build_names_phrasings_whose_section_does_not_exist(knowledge_service, tmp_path):
    import os
    import shutil

    knowledge, cache = tmp_path / "knowledge", tmp_path / "cache"
    shutil.copytree(ROOT / "knowledge", knowledge)
    shutil.copytree(knowledge_service.settings.index_dir, cache / "index")  # vectors reused: no re-embedding
    (cache / "models").symlink_to(knowledge_service.settings.models_dir)
    with open(knowledge / "questions.yml", "a", encoding="utf-8") as fh:
        fh.write("\nfaq-001:\n  第九十九条: [条例有第九十九条吗]\n")
    env = os.environ | {"GOVBOT_KNOWLEDGE_DIR": str(knowledge), "GOVBOT_CACHE_DIR": str(cache)}
    result = subprocess.run([GOVBOT, "kb", "build", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "索引已更新" in result.stdout and "新嵌入 0 个" in result.stdout
    assert "faq-001 / 第九十九条”没有对应的段落" in result.stderr


def test_kb_build_names_a_form_item_code_the_catalogue_lacks(knowledge_service, tmp_path):
    """README: a form_service_items code that is not in the catalogue is reported by `govbot kb build`."""
    import os
    import shutil

    knowledge, cache = tmp_path / "knowledge", tmp_path / "cache"
    shutil.copytree(ROOT / "knowledge", knowledge)
    shutil.copytree(knowledge_service.settings.index_dir, cache / "index")  # vectors reused: no re-embedding
    (cache / "models").symlink_to(knowledge_service.settings.models_dir)
    agency = knowledge / "agency.yml"
    agency.write_text(agency.read_text(encoding="utf-8").replace("complaint: SW-GG-011", "complaint: SW-GG-999"), encoding="utf-8")
    env = os.environ | {"GOVBOT_KNOWLEDGE_DIR": str(knowledge), "GOVBOT_CACHE_DIR": str(cache)}
    result = subprocess.run([GOVBOT, "kb", "build", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "form_service_items 中“SW-GG-999”不是事项目录中的事项编码" in result.stderr, result.stderr
    assert "SW-GG-010" not in result.stderr
