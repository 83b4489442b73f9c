"""Staff add files as they have them; headers become metadata; bad files are refused by name."""

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import docx
import pytest

from bot.knowledge.documents import DocumentError
from bot.knowledge.ingest import parse_header, to_document, write_document
from bot.service import KnowledgeService
from tests.conftest import ROOT

GOVBOT = str(Path(sys.executable).parent / "govbot")

HEADER_TXT = """首页 >> 公开信息内容
索 引 号: 002985915/202001-00042 生成日期: 2020-01-15
信息名称: 示例市商务局关于优化外贸备案服务的通知 文 号:
发布单位 | 示例市商务局 | 发布文号 | 示商函〔2020〕8号 |
---|---|---|---|
示例市商务局关于优化外贸备案服务的通知
各有关企业：
一、全面推行网上备案
自2020年2月1日起，对外贸易经营者备案登记可全程网上办理，不再要求提交纸质材料。
二、压缩办理时限
备案登记承诺在1个工作日内办结。
"""


def _minimal_pdf(text: str) -> bytes:
    """A one-page PDF with a standard font (enough to prove the PDF path extracts text)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_header_block_becomes_metadata_and_leaves_the_body(tmp_path):
    meta, body = parse_header(HEADER_TXT)
    assert meta["index_no"] == "002985915/202001-00042"
    assert meta["doc_number"] == "示商函〔2020〕8号"
    assert meta["issuer"] == "示例市商务局"
    assert meta["date"] == "2020-01-15"
    assert meta["title"] == "示例市商务局关于优化外贸备案服务的通知"
    assert "索引号" not in body and "首页" not in body and "---" not in body
    assert body.splitlines()[0] == "示例市商务局关于优化外贸备案服务的通知"


def test_text_file_round_trips_into_a_loadable_document(tmp_path):
    source = tmp_path / "notice.txt"
    source.write_text(HEADER_TXT, encoding="gb18030")  # sites often save GBK
    document = to_document(source)
    assert document.title == "示例市商务局关于优化外贸备案服务的通知"
    assert document.body.startswith("各有关企业")
    target = write_document(document, tmp_path / "documents")
    assert target.name == "notice.md" and "示商函〔2020〕8号" in target.read_text(encoding="utf-8")


def test_html_page_drops_navigation_but_keeps_contact_details(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        """<html><head><title>示例市商务局-通知公告</title></head><body>
        <div class="top-nav"><a href="/">首页</a><a href="/xxgk">信息公开</a></div>
        <nav>网站地图 | 无障碍</nav>
        <div class="article"><h1>关于开展老字号认定的通知</h1>
        <p>发布日期：2021-06-01</p><p>各区商务局：</p><p>现组织开展老字号认定工作，申报截止时间为7月31日。</p></div>
        <footer><p>版权所有：示例市商务局</p><p>地址：示例市人民路100号　电话：0000-12345678</p></footer>
        <script>var tracker = 1;</script></body></html>""",
        encoding="utf-8",
    )
    document = to_document(page, issuer="示例市商务局")
    assert document.title == "关于开展老字号认定的通知"
    assert document.date == "2021-06-01"
    assert "申报截止时间为7月31日" in document.body
    assert "首页" not in document.body and "网站地图" not in document.body and "tracker" not in document.body
    assert "电话：0000-12345678" in document.body
    assert "版权所有" not in document.body


def test_docx_and_pdf_are_read(tmp_path):
    word = docx.Document()
    word.add_paragraph("示例市商务局酒类流通备案办事指南")
    word.add_paragraph("一、办理时限")
    word.add_paragraph("承诺3个工作日内办结。")
    word.save(tmp_path / "guide.docx")
    document = to_document(tmp_path / "guide.docx", issuer="示例市商务局")
    assert document.title == "示例市商务局酒类流通备案办事指南" and "承诺3个工作日内办结" in document.body

    (tmp_path / "notice.pdf").write_bytes(_minimal_pdf("Notice on filing of foreign trade operators"))
    pdf = to_document(tmp_path / "notice.pdf", issuer="示例市商务局", title="外贸备案通知")
    assert "foreign trade operators" in pdf.body


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "无法读取"),
        ("empty.txt", b"", "没有"),
        ("notes.xlsx", b"PK", "不支持的文件类型"),
        ("no-issuer.txt", "通知正文一二三\n第二段内容".encode(), "发布机关"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DocumentError, match=message):
        to_document(tmp_path / name)


def _run(env_dir: Path, *args):
    env = {"GOVBOT_KNOWLEDGE_DIR": str(env_dir / "knowledge"), "GOVBOT_CACHE_DIR": str(ROOT / ".cache" / "govbot")}
    import os

    return subprocess.run(
        [GOVBOT, *args], cwd=ROOT, env={**os.environ, **env, "GOVBOT_CACHE_DIR": str(env_dir / "cache")},
        capture_output=True, text=True, timeout=600,
    )


def test_cli_add_list_remove_stats_keep_the_rest_of_the_index(tmp_path, knowledge_service):
    import shutil

    shutil.copytree(ROOT / "knowledge" / "documents", tmp_path / "knowledge" / "documents")
    shutil.copytree(ROOT / ".cache" / "govbot" / "models", tmp_path / "cache" / "models")
    (tmp_path / "notice.txt").write_text(HEADER_TXT, encoding="utf-8")
    (tmp_path / "bad.pdf").write_bytes(b"not a pdf")

    added = _run(tmp_path, "kb", "add", str(tmp_path / "notice.txt"), str(tmp_path / "bad.pdf"))
    assert added.returncode == 1  # one file failed …
    assert "跳过" in added.stderr and "bad.pdf" in added.stderr
    assert "已添加 notice" in added.stdout  # … the other went in

    listed = json.loads(_run(tmp_path, "kb", "list", "--json").stdout)
    ids = {row["id"] for row in listed}
    assert "notice" in ids and "shanghai-commerce-2020-disclosure-points" in ids
    assert all(row["passages"] > 0 for row in listed)

    found = json.loads(_run(tmp_path, "kb", "search", "外贸备案现在能网上办吗", "--json", "-k", "1").stdout)
    assert found[0]["doc_id"] == "notice"

    stats = _run(tmp_path, "kb", "stats")
    assert stats.returncode == 0 and f"文档 {len(ids)} 个" in stats.stdout

    removed = _run(tmp_path, "kb", "remove", "notice")
    assert removed.returncode == 0
    after = {row["id"] for row in json.loads(_run(tmp_path, "kb", "list", "--json").stdout)}
    assert after == ids - {"notice"}
    assert _run(tmp_path, "kb", "remove", "no-such-doc").returncode == 1


def test_running_service_picks_up_a_rebuilt_index_without_restart(tmp_path, settings, knowledge_service):
    import shutil

    shutil.copytree(ROOT / "knowledge" / "documents", tmp_path / "knowledge" / "documents")
    shared = replace(settings, knowledge_dir=tmp_path / "knowledge", cache_dir=tmp_path / "cache")
    shutil.copytree(settings.models_dir, shared.models_dir)
    running = KnowledgeService(shared)
    running.build()
    before = running.search("外贸备案现在能网上办吗", top_k=1)[0]
    assert before.passage.doc_id != "notice"

    write_document(to_document(_write(tmp_path / "notice.txt", HEADER_TXT)), shared.knowledge_dir / "documents")
    KnowledgeService(shared).build()  # what `govbot kb build` does in another process
    time.sleep(1.1)
    after = running.search("外贸备案现在能网上办吗", top_k=1)[0]
    assert after.passage.doc_id == "notice"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
