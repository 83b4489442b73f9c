"""Knowledge questions never asked twice in one bench process, built from knowledge/ alone.

The mixed conversation of `bench.run` asks the retrieval dev questions, which the query-vector cache
answers after the first round. This pool keeps the cache cold: FAQ questions and their variants,
the regulation's article subjects, the other documents' headings and the legal bases the service
catalogue cites, each put with a few colloquial openers and endings. Questions the service-item desk
would answer are left out (it answers without embedding, so they would not test the cache), and two
texts count as one when retrieval would search them as one (`normalize_query`, the cache's key).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Iterable

# How people open and end a question when typing; none greets, thanks or asks to have something done,
# so NLU keeps them on the knowledge path.
OPENERS = (
    "", "请问", "想问下，", "问一下，", "麻烦问一下", "请教个事儿：", "打听一下，", "我想了解下",
    "有个问题，", "劳驾问问", "不好意思问一下，", "同事让我问问", "我们单位想知道", "朋友托我问：",
    "弱弱地问一句，", "老师，",
)
ENDINGS = ("", "？", "？？", "，麻烦告诉我", "，在线等", "，急", "，能说说吗", "。")
# How a heading's subject is asked about: the regulation's articles, then the other documents' parts.
ARTICLE_TEMPLATES = ("条例里{topic}是怎么规定的", "政府信息公开条例对{topic}有啥规定", "{topic}这块条例咋说的")
ARTICLE_NUMBER_TEMPLATE = "条例{locator}讲的是什么"
HEADING_TEMPLATES = ("{issuer}的文件里{topic}那部分说了啥", "《{title}》里{topic}讲了啥")
BASIS_TEMPLATES = ("{law}是管什么的", "{law}现在还有效吗")
_LABEL = re.compile(r"^(第[一二三四五六七八九十百零]+[章条]|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）])\s*")
_LAW = re.compile(r"《[^《》]{4,40}》")
_END = "？?。！!"


def faq_questions(knowledge_dir: Path) -> list[str]:
    """Each FAQ entry's question and variants, agency details filled in as the index has them."""
    import yaml

    from bot.knowledge.catalogue import FAQ_FILE
    from bot.knowledge.sources import load_agency, render_template

    path = knowledge_dir / FAQ_FILE
    if not path.exists():
        return []
    data = yaml.safe_load(render_template(path, load_agency(knowledge_dir))) or {}
    return [str(q) for raw in data.get("faqs") or [] for q in [raw["question"], *(raw.get("variants") or [])]]


def heading_questions(knowledge_dir: Path) -> list[str]:
    """Questions about each part of the published documents and guides, by its heading."""
    from bot.knowledge.chunking import split_document
    from bot.knowledge.documents import load_documents
    from bot.knowledge.sources import load_agency, load_guides

    documents = load_documents(knowledge_dir / "documents") + load_guides(knowledge_dir, load_agency(knowledge_dir))
    questions: list[str] = []
    for doc in documents:
        for passage in split_document(doc):
            topic = _LABEL.sub("", passage.section.split(" / ")[-1]).strip()
            if len(topic) < 2:
                continue
            if passage.locator.endswith("条"):  # an article of the regulation: its subject
                questions += [t.format(topic=topic) for t in ARTICLE_TEMPLATES]
                questions.append(ARTICLE_NUMBER_TEMPLATE.format(locator=passage.locator))
            else:
                questions += [t.format(topic=topic, issuer=doc.issuer, title=doc.title) for t in HEADING_TEMPLATES]
    return questions


def basis_questions(knowledge_dir: Path) -> list[str]:
    """Questions about the laws and rules the service catalogue cites (not naming the item)."""
    from bot.knowledge.sources import load_service_catalogue

    catalogue = load_service_catalogue(knowledge_dir)
    laws = dict.fromkeys(law for item in (catalogue.items if catalogue else []) for law in _LAW.findall(item.legal_basis))
    return [t.format(law=law) for law in laws for t in BASIS_TEMPLATES]


def distinct_questions(knowledge_dir: Path, exclude: Iterable[str] = (), size: int = 6000, seed: int = 14) -> list[str]:
    """Up to `size` questions, no two searched alike and none searched like an `exclude` text.

    Round after round every base question comes once, with an opener and ending it has not had yet,
    in a shuffled order, so the first few hundred (all a 20-sender run asks) span the whole base.
    """
    from bot.knowledge.sources import load_service_catalogue
    from bot.knowledge.service_items import ServiceItemDesk
    from bot.text import normalize_query

    knowledge_dir = Path(knowledge_dir)
    catalogue = load_service_catalogue(knowledge_dir)
    desk = ServiceItemDesk(catalogue) if catalogue else None

    def for_retrieval(question: str) -> bool:
        if desk is None:
            return True
        query = desk.understand(question)
        return query.item is None and not query.candidates

    bases = [q.rstrip(_END) for q in dict.fromkeys(
        faq_questions(knowledge_dir) + heading_questions(knowledge_dir) + basis_questions(knowledge_dir))]
    bases = [q for q in bases if q and for_retrieval(q)]  # an opener does not make one go to retrieval
    rng = random.Random(seed)
    styles = [(opener, ending) for opener in OPENERS for ending in ENDINGS]
    unused = {base: rng.sample(styles, len(styles)) for base in bases}
    seen = {normalize_query(text).strip() for text in exclude}
    pool: list[str] = []
    while len(pool) < size and any(unused.values()):
        order = rng.sample(bases, len(bases))
        for base in order:
            if len(pool) >= size or not unused[base]:
                continue
            opener, ending = unused[base].pop()
            text = opener + base + ending
            key = normalize_query(text).strip()
            if key not in seen and for_retrieval(text):  # 「咨询」 in an opener would ask for a field
                seen.add(key)
                pool.append(text)
    return pool
