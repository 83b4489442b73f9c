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
from bot.knowledge.service import KnowledgeService
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


# --- tables, lists and metadata of published files (issue 15; the fresh-documents set's files) ---

FRESH_DOCS = ROOT / "tests" / "data" / "fresh" / "docs"


def _rows(document):
    from bot.knowledge.chunking import is_table_row, split_document

    return [line for p in split_document(document) for line in p.text.splitlines() if is_table_row(line)]


def test_html_statistics_table_keeps_merged_headers_and_row_labels():
    report = to_document(FRESH_DOCS / "disclosure-annual-report-2025.html")
    assert report.title == "示例市商务局2025年政府信息公开工作年度报告"  # ArticleTitle, not the site's <h1>
    assert (report.index_no, report.date, report.extra["published"]) == ("11000000MB0000000X/2026-00015", "2026-01-23", "2026-01-26")
    assert "当前位置" not in report.body and "打印本页" not in report.body and "相关链接" not in report.body
    rows = _rows(report)
    # a header over groups of columns, a row label spanning 22 rows, captions starting sub-tables
    assert "一、本年新收政府信息公开申请数量——自然人：61；法人或其他组织·商业企业：19；法人或其他组织·科研机构：1；" \
           "法人或其他组织·社会公益组织：0；法人或其他组织·法律服务机构：5；法人或其他组织·其他：1；总计：87" in rows
    assert any(r.startswith("三、本年度办理结果 （三）不予公开 4.保护第三方合法权益——自然人：1；") for r in rows)
    assert "信息内容：行政许可；本年处理决定数量：236" in rows  # a value spanning three columns is one cell
    assert "项目：收取信息处理费；本年情况：0元" in rows
    assert any(r.startswith("行政复议·结果维持：2；") and "行政诉讼·复议后起诉·总计：2" in r for r in rows)


def test_docx_table_stays_where_it_is_and_list_items_stay_text():
    from bot.knowledge.chunking import split_document

    notice = to_document(FRESH_DOCS / "subsidy-notice-2026.docx")
    assert notice.doc_number == "示商务发〔2026〕8号" and notice.date == "2026-03-02"  # 文号 line and 落款
    assert notice.title.startswith("示例市商务局 示例市财政局关于组织申报2026年度")
    assert "示例市商务局文件" not in notice.body  # the letterhead
    sections = {p.section: p.text for p in split_document(notice)}
    table = sections["二、支持内容和标准"]
    assert table.index("支持标准如下表") < table.index("支持项目：境外展会；") < table.index("同一企业本年度")
    assert "支持项目：出口信用保险；支持内容：企业投保短期出口信用保险；支持标准：按实缴保费的50%给予补助；补助上限：每家企业最高30万元" in table
    # 「（一）……；」 and 「2.企业营业执照复印件；」 are items of a list, not headings with no text
    assert "（五）同一项目已获得市级其他财政专项资金支持的，不得重复申报。" in sections["一、支持对象和申报条件"]
    assert "2.企业营业执照复印件；" in sections["三、申报材料"]
    assert "发布机构：示例市商务局、示例市财政局\n文号：示商务发〔2026〕8号\n成文日期：2026年3月2日" == sections["文件信息"]


def test_pdf_lines_rejoin_into_paragraphs_and_ruled_tables_become_rows():
    interpretation = to_document(FRESH_DOCS / "trade-in-interpretation-2026.pdf")
    assert interpretation.title == "《示例市2026年消费品以旧换新补贴实施细则》政策解读"
    lines = interpretation.body.splitlines()
    assert "二、补贴对象有哪些？" in lines  # a heading after a full line is not glued to it
    assert any(line.startswith("为落实国家关于加力扩围") and line.endswith("销售额46.8亿元。") for line in lines)
    rows = _rows(interpretation)
    assert "补贴类别：汽车置换更新；补贴范围：转让本人名下旧车并购买新车；补贴标准：新车售价15万元（含）以上补贴8000元，以下补贴5000元；补贴上限：每辆8000元" in rows
    publicity = to_document(FRESH_DOCS / "ecommerce-fund-publicity-2026.pdf")
    assert publicity.title == "关于2026年度示例市电子商务发展专项资金拟支持项目的公示"
    assert "电子邮箱dianshang@example.gov.cn，地址" in publicity.body  # an address too long for the line
    assert "项目单位：示例市南山茶业有限公司；项目名称：茶叶产业带直播基地建设；项目类别：直播电商；拟支持金额（万元）：30.0" in _rows(publicity)


def test_markdown_headings_and_header_table_and_txt_notice_number():
    points = to_document(FRESH_DOCS / "disclosure-work-points-2026.md")
    assert points.title == "示例市商务局2026年政务公开工作要点" and points.doc_number == "示商务办〔2026〕5号"
    assert points.extra["published"] == "2026-03-18" and "| 索引号" not in points.body
    from bot.knowledge.chunking import split_document

    assert "一、围绕稳增长促消费加强政策公开 / （一）做好消费品以旧换新政策发布解读" in {p.section for p in split_document(points)}
    move = to_document(FRESH_DOCS / "office-move-notice-2026.txt")
    assert move.issuer == "示例市商务局" and move.doc_number == "示例市商务局公告2026年第3号" and move.date == "2026-07-10"


def test_a_markdown_table_in_a_document_is_quoted_as_a_row(tmp_path):
    from bot.knowledge.answering import select_sentences
    from bot.knowledge.chunking import split_document
    from bot.knowledge.documents import Document

    rows = "\n".join(f"| {n} | 企业{n} | {n * 10}万元 |" for n in range(1, 13))
    body = f"一、支持名单\n\n拟支持以下企业：\n\n| 序号 | 项目单位 | 金额 |\n| --- | --- | --- |\n{rows}\n| | 合计 | 780万元 |"
    passage = split_document(Document(id="t", title="支持名单公示", issuer="示例局", body=body))[0]
    assert "项目单位：企业7；金额：70万元" in passage.text.splitlines()  # the serial column is left out
    # the row of the company asked about, whole and alone; not its neighbours
    assert select_sentences("企业7拿了多少", passage.text, passage.title) == "项目单位：企业7；金额：70万元"
    assert select_sentences("一共合计多少", passage.text, passage.title) == "项目单位：合计；金额：780万元"
