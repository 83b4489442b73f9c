"""Phrasings generated at indexing time: how a citizen would ask for each passage of a new document.

Staff-written phrasings (knowledge/questions.yml) lift retrieval most, but nobody writes them for
every notice published each week. Without any language model, a document's own structure says what
people will ask of it:

- a heading: 「三、申报材料」 → 「外贸发展专项资金要准备哪些材料」; a heading that is a question
  (「问八：奖补资金多久能到账？」) is asked as written;
- a sentence holding a deadline, an amount, a ratio, a count, a phone number or an address: the
  clause with that value asked for (「全年新收政府信息公开申请87件」 → 「全年新收政府信息公开申请多少件」);
- a table row: its label and each figure's column (「收取信息处理费：0元」 → 「收取了多少信息处理费」);
- the document's metadata passage: 文号, 发布机构, dates, 索引号 (「……的文号是多少」).

Each phrasing names the document's subject (its title without the issuer and the kind of
document), so a question about this notice finds it rather than a catalogue entry sharing its words.
Phrasings are used only to find a passage, never quoted. A section with staff-written phrasings
keeps only those. Staff delete or correct generated ones in knowledge/generated_questions.yml
(`govbot kb phrasings`); generated phrasings are cached in the index directory by document content,
so an unchanged document is not generated again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.knowledge.chunking import CHUNKER_VERSION, METADATA_SECTION, Passage, is_table_row
from bot.knowledge.documents import Document, DocumentError
from bot.knowledge.tables import is_number
from bot.text import split_sentences

log = logging.getLogger(__name__)

# Bump when the rules change: every document's phrasings are generated again.
GENERATOR_VERSION = "3"
CACHE_FILE = "generated_phrasings.json"
EDITS_FILE = "generated_questions.yml"
DELETE_KEY = "删除"
REPLACE_KEY = "改为"
MAX_PER_PASSAGE = 40
MAX_CHARS = 60

_NUM = "一二三四五六七八九十百零"
# Numbering in front of a heading or a row label: 「三、」「（二）」「2.」「问七：」「附表：」.
_NUMBERING = re.compile(
    rf"(?:^|\s)(?:第[{_NUM}]+[章条部分]|[{_NUM}]+[、.．]|[（(][{_NUM}\d]+[)）]|\d{{1,2}}[.．、](?!\d)|问[{_NUM}\d]+[：:]|附表\d*[：:]?)\s*"
)
_QUESTION_WORDS = re.compile(r"[？?]$|什么|哪些|哪个|哪里|怎么|怎样|如何|多少|多久|几|吗$")
_PLACE = re.compile(r"^(.{2,8}?(?:省|自治区|市|州|盟|县|区))")
_DOC_KIND = re.compile(r"的?(?:通知|公告|公示|通报|批复|意见|函|决定|报告书)$")
_LEADING_VERBS = re.compile(r"^(?:印发|公布|发布|组织申报|组织开展|开展|做好|进一步|申报|实施|转发)")

# Heading topics and how people ask for them ({s}: the document's short subject), most specific
# first; only a short heading names a topic (「三、申报材料」, not 「（二）推进专项资金信息全流程公开」).
TOPIC_HEADING_MAX = 8
_TOPICS = (
    (r"联系|咨询|电话|热线", ("{s}有问题打什么电话", "{s}找谁咨询")),
    (r"异议|投诉|举报|监督", ("对{s}有异议怎么办", "{s}怎么提意见")),
    (r"材料|附件|证明", ("{s}要准备哪些材料", "{s}需要提交什么材料")),
    (r"条件|对象|范围|资格|适用", ("{s}要符合什么条件", "哪些人可以享受{s}")),
    (r"时间|期限|时限|截止|日期|安排", ("{s}是什么时间", "{s}什么时候截止")),
    (r"标准|金额|补贴|补助|奖励|支持内容|奖补", ("{s}补贴标准是多少", "{s}能给多少钱")),
    (r"地址|地点|位置|窗口", ("{s}在什么地方", "{s}地址在哪里")),
    (r"路线|交通|乘车", ("{s}怎么去", "{s}坐什么车去")),
    (r"审核|拨付|到账", ("{s}资金什么时候到账",)),
    (r"问题|不足", ("{s}存在哪些问题",)),
    (r"改进|整改|措施", ("{s}有哪些措施",)),
    (r"背景|目的|依据", ("为什么出台{s}",)),
    (r"公示", ("{s}公示多久",)),
    (r"结果", ("{s}的结果怎么公布",)),
    (r"要求|注意", ("{s}有什么要求",)),
    (r"程序|流程|步骤|方式|办理|申领|如何|怎么|参与", ("{s}怎么办理", "{s}的流程是什么")),
)

# Values in a sentence and the question word that asks for them, most specific first.
_DATE = r"(?:\d{4}\s*年\s*)?\d{1,2}\s*月(?:\s*\d{1,2}\s*日|底|初|中旬|上旬|下旬)?"
# How a value is asked for: in its place (「奖励多少钱」), at the end of its clause (「……最晚什么时候」),
# or with its unit (「87件」 → 「多少件」, 「一式两份」 → 「一式几份」).
_IN_PLACE, _AT_END, _WITH_UNIT = "in place", "at end", "with unit"
_VALUES = (
    (re.compile(rf"{_DATE}\s*(?:至|到|—|-|～)\s*{_DATE}"), "什么时候", _IN_PLACE),
    (re.compile(rf"(?:于\s*)?{_DATE}\s*(?:前|之前|以前|止|截止)"), "最晚什么时候", _AT_END),
    (re.compile(rf"\d{{4}}\s*年\s*\d{{1,2}}\s*月\s*\d{{1,2}}\s*日|\d{{1,2}}\s*月\s*\d{{1,2}}\s*日|\d{{1,2}}\s*月底"), "什么时候", _IN_PLACE),
    (re.compile(r"\d{3,4}-\d{5,8}"), "多少", _IN_PLACE),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "是什么", _AT_END),
    (re.compile(r"https?://[\w./-]+"), "是什么", _AT_END),
    (re.compile(r"[\u4e00-\u9fff]{2,8}(?:路|街|大道|巷)\d+号[\u4e00-\u9fffA-Za-z0-9—-]{0,20}"), "在哪里", _AT_END),
    (re.compile(r"\d+(?:\.\d+)?\s*[%％]"), "百分之多少", _IN_PLACE),
    (re.compile(r"\d+(?:\.\d+)?\s*(?:万元|亿元|元)"), "多少钱", _IN_PLACE),
    (re.compile(r"\d+(?:\.\d+)?\s*(?:个工作日|个月|个小时|小时|天|日)(?:内|以内)?"), "多长时间", _IN_PLACE),
    (re.compile(r"\d+(?:\.\d+)?\s*(?:万人次|人次|件|条|个|次|场|家|篇|项|名|份|辆|台|类|批|人)"), "多少", _WITH_UNIT),
    (re.compile(r"(?:(?<=一式)|(?<![\u4e00-\u9fff]))[一二两三四五六七八九十]+\s*(?:份|次|批|类|项|场)"), "几", _WITH_UNIT),
)
_CLAUSE = re.compile(r"[，；;。：:,！？!?]")
_FILLER = re.compile(r"^(?:于|在|并|将|由|对|按|经|自|从|为|其中|同时|原则上|应当|应|须|需|可|已)+")
_PARENTHESIS = re.compile(r"[（(][^（()）]{0,30}[）)]")
_UNIT_IN_NAME = re.compile(r"[（(](?:单位[：:])?[^（()）]{0,8}[）)]")
# A document cited with its 文号: 「《示例市促进餐饮业高质量发展若干措施》（示商务规〔2026〕3号）」.
_CITED = re.compile(r"《([^《》]{4,60})》\s*[（(]\s*([^（）()]{0,12}?[〔\[［]\d{4}[〕\]］]\s*\d{1,5}\s*号)")
# Office words and how citizens say them, added as a second phrasing: 「补贴资金在30个工作日内拨付」 is
# also asked as 「……多久到账」.
_COLLOQUIAL = (
    ("拨付至", "打到"), ("拨付到", "打到"), ("拨付", "到账"), ("办结", "办完"), ("报送", "交"), ("提交", "交"),
    ("受理", "接收"), ("予以公开", "公开了"), ("搬迁", "搬家"), ("施行", "开始实行"), ("印发", "发布"),
)
_ROW_VERBS = re.compile(r"^(收取|发出|收到|受理|办理|拨付|支持|公开|举办|发布|完成)(.+)$")


def subjects(title: str, issuer: str) -> tuple[str, str]:
    """(the document's subject, a shorter form): 「示例市商务局 示例市财政局关于组织申报2026年度示例市
    外贸发展专项资金项目的通知」 → (「2026年度外贸发展专项资金项目」, 「外贸发展专项资金」)."""
    text = re.sub(r"[《》〈〉“”\"「」]", "", title).strip()
    if "关于" in text:
        text = text.split("关于", 1)[1]
    text = _DOC_KIND.sub("", _LEADING_VERBS.sub("", text))
    place = _PLACE.match(issuer)
    for name in sorted({issuer, place.group(1) if place else ""} - {""}, key=len, reverse=True):
        text = text.replace(name, "")
    text = text.strip(" 　的、")
    short = re.sub(r"\d{4}\s*年度?", "", text)
    short = re.sub(r"(?:工作)?(?:政策解读|政策问答|解读|问答)$", "", short)
    short = re.sub(r"(?:项目)$", "", short).strip(" 　的、")
    return text or title, short or text or title


def _heading(passage: Passage) -> str:
    last = passage.section.split(" / ")[-1] if passage.section else ""
    return _NUMBERING.sub(" ", last).strip(" ：:")


def _clean(text: str) -> str:
    text = _PARENTHESIS.sub("", text)
    text = re.sub(r"\s+", "", text)
    return _FILLER.sub("", text).strip("，、；：,;:“”\"")


def _cloze(sentence: str) -> list[str]:
    """The clauses of a sentence with their values asked for: 「公示5个工作日」 → 「公示多长时间」."""
    out = []
    clauses = [c for c in _CLAUSE.split(sentence) if c.strip()]
    for i, clause in enumerate(clauses):
        for pattern, ask, how in _VALUES:
            match = pattern.search(clause)
            if not match:
                continue
            before, after = clause[: match.start()], clause[match.end():]
            if how == _WITH_UNIT:
                unit = re.sub(r"[\d.\s一二两三四五六七八九十]", "", match.group())
                asked = f"{before}{ask}{unit}{after}"
            elif how == _IN_PLACE:
                asked = f"{before}{ask}{after}"
            else:
                asked = f"{before}{after}{ask}"
            context = _clean(clauses[i - 1]) if i and len(_clean(before + after)) < 8 else ""
            question = _clean(context + asked)
            if 5 <= len(question) <= MAX_CHARS - 10:
                out.append(question)
            break  # one value per clause
    return out


def _pairs(text: str) -> list[tuple[str, str]]:
    """「名称：值」 pairs; a colon inside brackets (「本年收费金额（单位：万元）」) is part of the name."""
    out = []
    for part in text.split("；"):
        depth = 0
        for i, ch in enumerate(part):
            depth += ch in "（(" and 1 or (-1 if ch in "）)" else 0)
            if ch == "：" and depth == 0:
                out.append((part[:i], part[i + 1:]))
                break
    return out


_TOTAL = re.compile(r"总计|合计|小计|总数")


def _row_phrasings(row: str, short: str) -> list[str]:
    lead, _, rest = row.rpartition("——")
    names = [
        (re.sub(r"\s+", "", _UNIT_IN_NAME.sub("", name)).replace("·", ""), value.strip())
        for name, value in _pairs(rest)
    ]
    label = _NUMBERING.sub(" ", lead).strip() if lead else ""
    if not label:
        label = next((value for _, value in names if not re.search(r"\d", value)), "")
        names = [(name, value) for name, value in names if value != label]
    label = re.sub(r"\s+", "", _PARENTHESIS.sub("", label))
    if not label:
        return []
    place = _PLACE.match(label)
    if place and len(label) > len(place.group(1)) + 4:
        label = label[len(place.group(1)):]  # 「示例市云帆电子商务有限公司」 → 「云帆电子商务有限公司」
    out = []
    verb = _ROW_VERBS.match(label)
    if verb:
        out.append(f"{verb.group(1)}了多少{verb.group(2)}")  # 「收取信息处理费」 → 「收取了多少信息处理费」
    numbers = [name for name, value in names if is_number(value)]
    if len(numbers) > 2:  # a statistics row: its total, and the row itself
        numbers = [name for name in numbers if _TOTAL.search(name)][:1] or numbers[:1]
        out.append(f"{label}有多少")
    dates = [name for name, value in names if re.fullmatch(rf"(?:{_DATE})(?:\s*(?:至|到|—|-)\s*(?:{_DATE}))?", value)]
    figures = [
        name for name, value in names
        if name not in dates and not is_number(value) and len(value) <= 16 and re.search(r"\d", value)
    ]
    texts = [name for name, value in names if not re.search(r"\d", value) or (len(value) > 16 and name not in dates)]
    out += [f"{label}{name}是多少" for name in numbers + figures]
    out += [f"{label}{name}是什么时候" for name in dates]
    out += [f"{label}的{name}是什么" for name in texts[:2]]
    if out:
        out.append(f"{short}{out[0]}")
    return out


def _metadata_phrasings(passage: Passage, full: str, short: str) -> list[str]:
    text = passage.text
    out = []
    for s in dict.fromkeys((full, short)):
        if "文号：" in text:
            out += [f"{s}的文号是多少", f"{s}是第几号文件"]
        if "索引号：" in text:
            out.append(f"{s}的索引号是多少")
        out += [f"{s}是哪个部门发布的", f"{s}是哪天发布的", f"{s}什么时候印发的"]
        if "、" in text.splitlines()[0]:
            out.append(f"{s}是哪几个部门联合发的")
    return out


def _cited(sentence: str, doc: Document, own: str) -> list[str]:
    """「《X》（示商务规〔2026〕1号）」 → 「X的文号是多少」, in the short form people use; not when this
    document has a 文号 of its own and X is named like it (the city's 工作要点 cited by the agency's)."""
    out = []
    for title, _ in _CITED.findall(sentence):
        _, short = subjects(title, doc.issuer)
        if doc.doc_number and (short in own or own in short):
            continue
        out += [f"{short}的文号是多少", f"《{title}》是几号文"]
    return out


_PHONE = re.compile(r"\d{3,4}-\d{5,8}")


def _contact(line: str, short: str) -> list[str]:
    """A line with a phone number answers 「……有问题打什么电话」; its label (「异议受理：」「联系人：」)
    says for what."""
    if not _PHONE.search(line):
        return []
    label = _NUMBERING.sub("", line.split("：", 1)[0]).strip() if "：" in line else ""
    out = [f"{short}有问题找谁，电话多少"]
    if 2 <= len(label) <= 10 and not _PHONE.search(label):
        out.append(f"{short}{label}电话是多少")
    return out


def _colloquial(question: str) -> str | None:
    said = question
    for office, everyday in _COLLOQUIAL:
        said = said.replace(office, everyday)
    return said if said != question else None


def _extremes(passages: list[Passage], short: str) -> dict[str, list[str]]:
    """For each list table with a figure column: 「……拟支持金额最多的是哪个」 for its largest row and
    「最少」 for its smallest (a 合计 row left out), by row text. A statistics table (rows led by their
    labels) is not a list of things to compare."""
    tables: dict[str, list[str]] = {}
    for passage in passages:
        rows = tables.setdefault(passage.section, [])
        rows += [line for line in passage.text.splitlines() if is_table_row(line) and "——" not in line and line not in rows]
    out: dict[str, list[str]] = {}
    for rows in tables.values():
        parsed = [(row, _pairs(row)) for row in rows]
        parsed = [(row, pairs) for row, pairs in parsed if not any(_TOTAL.search(value) for _, value in pairs)]
        if len(parsed) < 3:
            continue
        for name in dict.fromkeys(name for _, pairs in parsed for name, _ in pairs):
            values = [
                (float(re.sub(r"[^\d.]", "", value) or 0), row)
                for row, pairs in parsed
                for key, value in pairs
                if key == name and is_number(value) and re.sub(r"[^\d.]", "", value).count(".") <= 1
            ]
            if len(values) < 3 or len({v for v, _ in values}) < 2:
                continue
            asked = re.sub(r"\s+", "", _UNIT_IN_NAME.sub("", name)).replace("·", "")
            out.setdefault(max(values)[1], []).append(f"{short}{asked}最多的是哪个")
            out.setdefault(min(values)[1], []).append(f"{short}{asked}最少的是哪个")
    return out


def generate(doc: Document, passages: list[Passage]) -> list[list[str]]:
    """Phrasings for each passage of the document (same order), before staff edits."""
    full, short = subjects(doc.title, doc.issuer)
    out: list[list[str]] = []
    seen_sections: set[str] = set()
    extremes = _extremes(passages, short)
    for passage in passages:
        found: list[str] = []
        if passage.section == METADATA_SECTION:
            found += _metadata_phrasings(passage, full, short)
            out.append(_tidy(found))
            continue
        heading = _heading(passage)
        if heading and passage.section not in seen_sections:
            seen_sections.add(passage.section)
            if _QUESTION_WORDS.search(heading):
                asked = re.sub(r"[《》？?]", "", heading)
                found += [asked, f"{short}{asked}"]
            else:
                found.append(f"{short}{heading}")
                for pattern, templates in _TOPICS if len(heading) <= TOPIC_HEADING_MAX else ():
                    if re.search(pattern, heading):
                        found += [template.format(s=short) for template in templates]
                        break
        for line in passage.text.splitlines():
            if is_table_row(line):
                found += _row_phrasings(line, short) + extremes.pop(line, [])
                continue
            found += _contact(line, short)
            for sentence in split_sentences(line):
                found += _cited(sentence, doc, short)
                for question in _cloze(sentence):
                    question = f"{short}{question}" if len(question) < 14 else question
                    found += [question] + [said for said in [_colloquial(question)] if said]
        out.append(_tidy(found))
    return out


def _tidy(phrasings: list[str]) -> list[str]:
    kept = []
    for phrasing in phrasings:
        phrasing = re.sub(r"\s+", "", phrasing).strip("，、；：,;:")
        if 4 <= len(phrasing) <= MAX_CHARS and phrasing not in kept:
            kept.append(phrasing)
    return kept[:MAX_PER_PASSAGE]


# --- staff edits (knowledge/generated_questions.yml) ---


def load_edits(path: Path) -> dict[str, tuple[tuple[str, str], ...]]:
    """{document id: ((generated phrasing, its correction or "" to delete it), …)}; {} when absent."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) or {}
    except (YAMLError, UnicodeDecodeError) as exc:
        raise DocumentError(f"自动问法修改文件 {path} 格式有误：{exc}") from exc
    if not isinstance(data, dict):
        raise DocumentError(f"自动问法修改文件 {path} 应为“文档编号 → 删除/改为”的映射")
    edits: dict[str, tuple[tuple[str, str], ...]] = {}
    for doc_id, entry in data.items():
        entry = entry or {}
        if not isinstance(entry, dict) or set(entry) - {DELETE_KEY, REPLACE_KEY}:
            raise DocumentError(f"自动问法修改文件 {path} 中 {doc_id} 下只能有“{DELETE_KEY}”（列表）和“{REPLACE_KEY}”（原问法: 新问法）")
        deleted = entry.get(DELETE_KEY) or []
        replaced = entry.get(REPLACE_KEY) or {}
        if not isinstance(deleted, list) or not isinstance(replaced, dict):
            raise DocumentError(f"自动问法修改文件 {path} 中 {doc_id} 的“{DELETE_KEY}”应为列表，“{REPLACE_KEY}”应为映射")
        pairs = [(str(q).strip(), "") for q in deleted if str(q or "").strip()]
        pairs += [(str(old).strip(), " ".join(str(new or "").split())) for old, new in replaced.items()]
        if pairs:
            edits[str(doc_id)] = tuple(pairs)
    return edits


def save_edit(path: Path, doc_id: str, phrasing: str, correction: str | None) -> None:
    """Record one deletion (correction None) or correction, keeping the file's other entries."""
    path = Path(path)
    yaml = YAML()
    yaml.allow_unicode = True
    data = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if data is None:
        data = {}
    entry = data.setdefault(doc_id, {}) or {}
    data[doc_id] = entry
    if correction is None:
        entry.setdefault(DELETE_KEY, [])
        if phrasing not in entry[DELETE_KEY]:
            entry[DELETE_KEY].append(phrasing)
    else:
        entry.setdefault(REPLACE_KEY, {})[phrasing] = correction
    header = "" if path.exists() else (
        "# 自动生成的问法的修改（工作人员维护）：文档编号 → 删除: [问法] / 改为: {原问法: 新问法}。\n"
        "# 自动问法用 govbot kb sections 文档编号 查看；改完后运行 govbot kb build。\n"
    )
    tmp = path.with_suffix(".yml.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(header)
        yaml.dump(data, fh)
    load_edits(tmp)  # never leave a file the build cannot read
    os.replace(tmp, path)


def with_edits(documents: list[Document], edits: dict[str, tuple[tuple[str, str], ...]]) -> list[Document]:
    unknown = sorted(set(edits) - {d.id for d in documents})
    if unknown:
        log.warning("%s: edits for documents not in the knowledge base, not used: %s", EDITS_FILE, ", ".join(unknown))
    return [replace(doc, generated_edits=edits[doc.id]) if doc.id in edits else doc for doc in documents]


def apply(doc: Document, passages: list[Passage], generated: list[list[str]]) -> list[Passage]:
    """The passages with their generated phrasings: staff edits applied; a passage that has
    staff-written phrasings keeps only those, and no generated phrasing repeats a staff one."""
    edits = dict(doc.generated_edits)
    staff = {q for p in passages for q in p.questions}
    out = []
    for passage, phrasings in zip(passages, generated):
        if passage.questions:
            out.append(passage)
            continue
        kept: list[str] = []
        for phrasing in phrasings:
            phrasing = edits.get(phrasing, phrasing)
            if phrasing and phrasing not in staff and phrasing not in kept:
                kept.append(phrasing)
        out.append(replace(passage, generated=tuple(kept)) if kept else passage)
    return out


# --- the cache in the index directory ---


def source_hash(doc: Document) -> str:
    """What generation reads: the document's text and metadata, and the rules that split and ask."""
    h = hashlib.sha256(f"{GENERATOR_VERSION}\0{CHUNKER_VERSION}\0".encode())
    for part in (doc.id, doc.title, doc.issuer, doc.date, doc.doc_number, doc.index_no, doc.body, json.dumps(doc.extra, sort_keys=True, ensure_ascii=False, default=str)):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


class GeneratedCache:
    """Generated phrasings by document id and source hash, kept beside the indexes."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / CACHE_FILE
        try:
            self.entries: dict = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.used: dict = {}
        self.generated = 0

    def phrasings(self, doc: Document, passages: list[Passage]) -> list[list[str]]:
        digest = source_hash(doc)
        entry = self.entries.get(doc.id)
        if entry and entry.get("hash") == digest and len(entry.get("passages", [])) == len(passages):
            found = entry["passages"]
        else:
            found = generate(doc, passages)
            self.generated += 1
        self.used[doc.id] = {"hash": digest, "passages": found}
        return found

    def save(self) -> None:
        """Only the documents of this build are kept: a removed document's entry goes with it."""
        if self.used == self.entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".generated-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.used, fh, ensure_ascii=False, indent=0)
        os.replace(tmp, self.path)
