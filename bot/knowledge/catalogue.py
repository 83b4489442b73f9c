"""The service-item catalogue (政务服务事项目录) and the FAQ, as structured data.

Staff keep both as YAML. Each service item is also rendered as a document, one numbered part per
field, so retrieval can find it and cite 「……第四部分」 like any other document; the structured
record itself answers field questions exactly (see bot.knowledge.service_items).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.knowledge.documents import WHOLE_DOCUMENT, Document, DocumentError

CATALOGUE_FILE = "service_items.yml"
FAQ_FILE = "faq.yml"

# Field key -> heading in the rendered document and in answers.
FIELD_TITLES = {
    "basic": "基本信息",
    "legal_basis": "设定依据",
    "conditions": "受理条件",
    "materials": "申请材料",
    "procedure": "办理流程",
    "time_limit": "办理时限",
    "fee": "收费标准",
    "location": "办理地点和时间",
    "online": "网上办理",
    "result": "办理结果",
    "contact": "咨询和投诉",
}
_NUMERALS = "一二三四五六七八九十"
# A procedure step that sets a period the agency keeps, and a note about what a period covers.
_AGENCY_PERIOD = re.compile(r"[0-9一二三四五六七八九十]+\s*个?(工作日|日|天)(内|以内)[^；。]{0,12}(答复|办结|告知|作出|决定|审核|审查|出具)")
_ABOUT_TIME = re.compile(r"时限|期限|延长")
_WHAT_THE_PERIOD_COVERS = re.compile(r"本表时限|受理后[^；;。]{0,8}办结")
# How people ask for each field of a service item ({name}: the item's name), the field's common
# phrasings in the index (bot.knowledge.questions), so 「电商示范企业报上去多久能出结果」 finds the
# time limit rather than the result.
FIELD_QUESTIONS = {
    "basic": ["{name}是什么事项，归谁管"],
    "legal_basis": ["{name}是按什么规定办的"],
    "conditions": ["办{name}要满足什么条件"],
    "materials": ["办{name}要准备哪些材料"],
    "procedure": ["{name}怎么办，流程是什么"],
    "time_limit": ["{name}要多久能办好"],
    "fee": ["{name}收不收费"],
    "location": ["{name}去哪里办，几点上班"],
    "online": ["{name}能不能在网上办"],
    "result": ["{name}办完能拿到什么"],
    "contact": ["{name}有问题打什么电话"],
}


@dataclass(frozen=True)
class Material:
    name: str
    form: str = ""
    copies: int | None = None
    note: str = ""

    def describe(self) -> str:
        details = [d for d in (self.form, f"{self.copies}份" if self.copies else "", self.note) if d]
        return f"{self.name}（{'，'.join(details)}）" if details else self.name


@dataclass(frozen=True)
class ServiceItem:
    code: str
    name: str
    type: str
    legal_basis: str
    conditions: list[str]
    materials: list[Material]
    procedure: list[str]
    statutory_days: int | None
    promised_days: int | None
    fee: str
    window: str
    address: str
    hours: str
    online: str
    result: str
    consult_phone: str
    complaint_phone: str
    applicants: str = ""
    aliases: list[str] = field(default_factory=list)
    # What staff flag about the item (abolished, moved to another agency …): shown with its basics.
    note: str = ""

    @property
    def doc_id(self) -> str:
        return f"service-item-{self.code.lower()}"

    def field_text(self, key: str) -> str:
        """The text of one field as a citizen should read it."""
        if key == "basic":
            parts = [f"事项名称：{self.name}", f"事项编码：{self.code}", f"事项类型：{self.type}"]
            if self.applicants:
                parts.append(f"申请对象：{self.applicants}")
            text = "；".join(parts) + "。"
            return f"{text}特别提示：{self.note}" if self.note else text
        if key == "legal_basis":
            return self.legal_basis
        if key == "conditions":
            return _numbered(self.conditions)
        if key == "materials":
            return _numbered([m.describe() for m in self.materials])
        if key == "procedure":
            return _numbered(self.procedure)
        if key == "time_limit":
            limits = []
            if self.statutory_days is not None:
                limits.append(f"法定办结时限{self.statutory_days}个工作日")
            if self.promised_days is not None:
                limits.append(f"承诺办结时限{self.promised_days}个工作日")
            text = "，".join(limits) + "。" if limits else "请咨询办理窗口。"
            # The rule behind the figures, where the record states it: the step that sets the
            # agency's period (「自收到申请之日起20个工作日内答复；需延长的…」) and a note on what the
            # period covers (「不含专家评审、公示」, 「可经批准延长」).
            rules = [step for step in self.procedure if _AGENCY_PERIOD.search(step)]
            if rules:
                text += "办理流程中的时限：" + "；".join(rules) + "。"
            # A condition that says what the period covers (「本表时限为决定是否受理并告知的时限，受理后一般
            # 在60日内办结」): without it, 5 working days reads as the time to a result.
            covers = [c for condition in self.conditions for c in re.split(r"[；;]", condition) if _WHAT_THE_PERIOD_COVERS.search(c)]
            if covers:
                text += "时限说明：" + "；".join(covers) + "。"
            return f"{text}特别提示：{self.note}" if self.note and _ABOUT_TIME.search(self.note) else text
        if key == "fee":
            return self.fee
        if key == "location":
            return f"办理地点：{self.window}（{self.address}）；办理时间：{self.hours}。"
        if key == "online":
            return self.online
        if key == "result":
            return self.result
        if key == "contact":
            return f"咨询电话：{self.consult_phone}；投诉电话：{self.complaint_phone}。"
        raise KeyError(key)


def _numbered(lines: list[str]) -> str:
    return "；".join(f"{i}. {line.rstrip('。；;')}" for i, line in enumerate(lines, 1)) + "。" if lines else "无。"


@dataclass(frozen=True)
class Catalogue:
    agency: str
    items: list[ServiceItem]
    sample: bool = False

    @property
    def title(self) -> str:
        return f"{self.agency}政务服务事项目录"

    def as_documents(self) -> list[Document]:
        return [self._document(item) for item in self.items]

    def _document(self, item: ServiceItem) -> Document:
        lines, questions = [], []
        for i, (key, heading) in enumerate(FIELD_TITLES.items()):
            section = f"{_NUMERALS[i] if i < 10 else '十' + _NUMERALS[i - 10]}、{heading}"
            lines += [section, item.field_text(key), ""]
            questions.append((section, tuple(q.format(name=item.name) for q in FIELD_QUESTIONS[key])))
        return Document(
            id=item.doc_id,
            title=f"{item.name}办事指南",
            issuer=self.agency,
            body="\n".join(lines).strip(),
            doc_number=item.code,
            keywords="、".join(item.aliases),
            questions=tuple(questions),
            source=f"{self.title}{'（示例数据）' if self.sample else ''}",
        )


def _material(raw) -> Material:
    if isinstance(raw, str):
        return Material(name=raw)
    copies = raw.get("copies")
    return Material(
        name=str(raw["name"]),
        form=str(raw.get("form") or ""),
        copies=int(copies) if copies not in (None, "") else None,
        note=str(raw.get("note") or ""),
    )


def _days(value) -> int | None:
    return None if value in (None, "") else int(value)


def load_catalogue(path: Path, text: str | None = None) -> Catalogue | None:
    """`text` is the file after filling in agency details (see bot.knowledge.sources)."""
    if text is None and not Path(path).exists():
        return None
    try:
        data = yaml.safe_load(text if text is not None else Path(path).read_text(encoding="utf-8")) or {}
        items = [
            ServiceItem(
                code=str(raw["code"]),
                name=str(raw["name"]),
                type=str(raw.get("type", "")),
                legal_basis=str(raw.get("legal_basis", "")),
                conditions=[str(c) for c in raw.get("conditions") or []],
                materials=[_material(m) for m in raw.get("materials") or []],
                procedure=[str(s) for s in raw.get("procedure") or []],
                statutory_days=_days(raw.get("statutory_days")),
                promised_days=_days(raw.get("promised_days")),
                fee=str(raw.get("fee", "")),
                window=str(raw.get("window", "")),
                address=str(raw.get("address", "")),
                hours=str(raw.get("hours", "")),
                online=str(raw.get("online", "")),
                result=str(raw.get("result", "")),
                consult_phone=str(raw.get("consult_phone", "")),
                complaint_phone=str(raw.get("complaint_phone", "")),
                applicants=str(raw.get("applicants", "")),
                aliases=[str(a) for a in raw.get("aliases") or []],
                note=str(raw.get("note") or ""),
            )
            for raw in data.get("items") or []
        ]
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise DocumentError(f"政务服务事项目录 {path} 格式有误：{exc}") from exc
    codes = [item.code for item in items]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise DocumentError(f"政务服务事项目录 {path} 中事项编码重复：{', '.join(duplicates)}")
    return Catalogue(agency=str(data.get("agency", "")), items=items, sample=bool(data.get("sample")))


def load_faq_documents(path: Path, agency: str, text: str | None = None) -> list[Document]:
    """Each FAQ entry becomes a small document; its basis is kept in the text it cites."""
    if text is None and not Path(path).exists():
        return []
    try:
        data = yaml.safe_load(text if text is not None else Path(path).read_text(encoding="utf-8")) or {}
        documents = []
        for raw in data.get("faqs") or []:
            phrasings = tuple(str(q) for q in [raw["question"], *(raw.get("variants") or [])] if str(q or "").strip())
            variants = "；".join(str(v) for v in raw.get("variants") or [])
            question = f"{raw['question']}（也可问：{variants}）" if variants else str(raw["question"])
            body = f"问：{question}\n答：{raw['answer']}"
            if raw.get("basis"):
                body += f"\n依据：{raw['basis']}"
            documents.append(
                Document(
                    id=f"faq-{str(raw['id']).removeprefix('faq-')}",
                    title=f"{agency}常见问题解答",
                    issuer=agency,
                    body=body,
                    source=f"{agency}常见问题解答{'（示例数据）' if data.get('sample') else ''}",
                    questions=((WHOLE_DOCUMENT, phrasings),),
                )
            )
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise DocumentError(f"常见问题文件 {path} 格式有误：{exc}") from exc
    return documents
