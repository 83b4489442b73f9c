"""Wires settings, embedding model, index and retriever into one answering service.

The action server and the `govbot` CLI both go through here, so they load the model once and
always agree on which index and threshold are in force. The process's configured instance
(published snapshot, Qdrant) is bot.knowledge.published_index.get_service, which builds on this module.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from functools import cached_property

from dataclasses import dataclass, field, replace

from bot.knowledge.answering import RETRIEVAL_ERROR_TEXT, TENTATIVE_LEAD, Answer, citation, compose_answer
from bot.knowledge.agency_contacts import ContactAnswer, contact_answer
from bot.knowledge.definitions import asked_term, defines, defining_hit
from bot.knowledge.sources import load_agency, load_knowledge, load_service_catalogue
from bot.knowledge.index import KnowledgeIndex, build_index, current_key, load_index
from bot.knowledge.retriever import QUERY_TERMS_FILE, Hit, Retriever, load_issuer_aliases, load_query_terms
from bot.knowledge.sentence_relevance import VECTORS_FILE, SentenceRelevance
from bot.knowledge.catalogue import FIELD_TITLES, ServiceItem
from bot.knowledge.chunking import Passage
from bot.knowledge.service_items import ItemQuery, ServiceItemDesk, mentions_a_service, unstated_attribute
from bot.understanding.follow_up import next_subject, own_words, with_subject, with_subject_if_it_helps
from bot.understanding.referral import ReferralDesk
from bot.settings import Settings
from bot.text import char_bigrams, normalize, simplify
from bot.understanding.routing import content_length

log = logging.getLogger(__name__)
RELOAD_CHECK_SECONDS = 1.0
# How much of a document's title a question must name for that document to beat a service item
# that shares only generic words (bot.knowledge.retriever.Retriever.title_matches, 0–1).
SPECIFIC_TITLE = 0.6
# An item recognised from a loose likeness of its name (商务…专项资金), not named exactly, yields to
# a passage of another document that retrieval ranks this far above the item's own best passage.
LOOSE_ITEM_GAP = 0.05
# How far down the follow-up's own ranking to look for a passage of its subject's document.
FOLLOW_UP_CANDIDATES = 30
# …and a passage of the last answer's document must share this many of the follow-up's own word pairs.
PREVIOUS_DOCUMENT_SHARED = 2
# A question this short after an item's answer, with no field's name, is still about that item.
SHORT_FOLLOW_UP_CHARS = 8
# A question this short that asks an item field and names nothing else, after an item's answer that
# retrieval cannot better, asks it of that item.
FIELD_FOLLOW_UP_CHARS = 12
# An item's field passage this short is a bare value (「不收费」), quoted only when its field is asked.
SHORT_FIELD_CHARS = 30
ITEM_DOC_PREFIX = "service-item-"
FIELD_OF_TITLE = {title: key for key, title in FIELD_TITLES.items()}
# Fields people ask for in each other's words: where (a window or a website), who may apply (the
# applicants or the conditions), what is required (conditions or materials), how (steps or materials).
NEIGHBOUR_FIELDS = {
    "location": ("online",), "online": ("location",), "basic": ("conditions",), "conditions": ("basic", "materials"),
    "materials": ("conditions", "procedure"), "procedure": ("materials",),
}
# The document terms (knowledge/query_terms.yml, left side) that stand for each field.
FIELD_TERMS = {
    "fee": ("收费", "费用"), "result": ("办理结果",), "materials": ("材料",), "conditions": ("条件",), "legal_basis": ("依据",),
    "location": ("地点", "窗口"), "online": ("网上办理",), "contact": ("电话",), "time_limit": ("期限", "时限"),
}
# How much of an item's name (bot.knowledge.service_items.ServiceItemDesk.similarities) a question with another
# agency's words must still say to stay with this agency's item.
PARTLY_NAMED = 0.5
SPECIFIC_NAME_BIGRAMS = 2  # …and say this much of what singles the item out (二手车, not just 备案)
# What an applicant brings or must meet: where another agency's document (营业执照) appears in an item.
BROUGHT_FIELDS = ("materials", "conditions")
# How an FAQ answer cites the catalogue items it rests on.
CATALOGUE_BASIS = re.compile(r"政务服务事项目录：([^；;\n]+)")
# The closest passage does not state the asked fact: say so, then show it for reference.
UNSTATED_TEXT = "没有找到写明{label}的公开信息。最接近的内容供参考："
# How many of the closest passages a 「X是啥意思」 question looks through for one that uses X.
DEFINITION_CANDIDATES = 50
# A question inside a form may say this much besides a field of the request's item (「给回话」).
FORM_QUESTION_OTHER_CHARS = 4
FORM_QUESTION_CANDIDATES = 3


@dataclass(frozen=True)
class Reply:
    """One bot turn: text for every channel, optional buttons, and the service item in focus."""

    text: str
    buttons: list[dict] = field(default_factory=list)
    service_item: str | None = None
    found: bool = True
    doc_id: str | None = None  # the cited document or catalogue entry, recorded for staff analytics
    # Another agency's business: referred there, nothing cited.
    referral: bool = False
    # What an elliptical next question (「那要钱吗」) is about (bot.understanding.follow_up).
    subject: str | None = None
    # The closest passage, quoted as possibly not what was asked (answering.TENTATIVE_LEAD).
    tentative: bool = False


# Fields the record lists item by item, which an FAQ answer about the item only summarises.
LISTED_FIELDS = ("materials", "conditions")


class KnowledgeService:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._lock = threading.Lock()
        self._retriever: Retriever | None = None
        self._desk: ServiceItemDesk | None = None
        self._checked_at = 0.0
        self._terms_stamp: float | None = None  # query_terms.yml as the retriever in force read it
        self._warmed_key: str | None = None  # the index whose sentence vectors are loaded (warm_sentences)

    @cached_property
    def embedder(self):
        from bot.embeddings.encoder import Embedder, ensure_default_model

        model = self.settings.embedding_model or str(ensure_default_model(self.settings.models_dir))
        return Embedder(model, self.settings.query_prompt, self.settings.passage_prompt)

    @cached_property
    def sentence_relevance(self) -> SentenceRelevance:
        """Chooses, with the words shared, which sentences of a long passage to quote."""
        return SentenceRelevance(self.embedder)

    def build(self, progress: bool = False) -> dict:
        """Bring the index up to date with knowledge/ and switch the retriever to it."""
        documents = load_knowledge(self.settings.knowledge_dir)
        previous = current_key(self.settings.index_dir)
        index, stats = build_index(documents, self.embedder, self.settings.index_dir, progress=progress)
        self._use(index)
        self.warm_sentences(previous)
        return stats

    def warm_sentences(self, previous_key: str | None = None) -> int:
        """The vectors of the sentences answers choose among, kept beside the index in force
        (bot.knowledge.sentence_relevance.VECTORS_FILE); the previous index's are reused."""
        index = self.retriever.index
        if self._warmed_key == index.key:
            return 0  # build() has done it for this index: the action server's start-up call reads nothing again
        keys = [index.key] + ([previous_key] if previous_key and previous_key != index.key else [])
        count = self.sentence_relevance.warm(index.passages, [self.settings.index_dir / key / VECTORS_FILE for key in keys])
        self._warmed_key = index.key
        return count

    def _query_terms_stamp(self) -> float | None:
        """When knowledge/query_terms.yml last changed (None: no such file)."""
        try:
            return (self.settings.knowledge_dir / QUERY_TERMS_FILE).stat().st_mtime
        except OSError:
            return None

    def _retriever_options(self) -> dict:
        """Weights and query terms every retriever gets, in-process or Qdrant-backed."""
        self._terms_stamp = self._query_terms_stamp()
        return {
            "bm25_weight": self.settings.bm25_weight,
            "issuer_boost": self.settings.issuer_boost,
            "heading_weight": self.settings.heading_weight,
            "question_margin": self.settings.question_margin,
            "query_terms": load_query_terms(self.settings.knowledge_dir / QUERY_TERMS_FILE),
            "home_issuer": self.agency.get("name"),
        }

    def _new_retriever(self, index: KnowledgeIndex, aliases: dict) -> Retriever:
        """The in-process retriever; a subclass may serve the dense side elsewhere (Qdrant)."""
        return Retriever(index, self.embedder, aliases, **self._retriever_options())

    def _use(self, index: KnowledgeIndex) -> None:
        retriever = self._new_retriever(index, load_issuer_aliases(self.settings.knowledge_dir / "issuers.yml"))
        catalogue = load_service_catalogue(self.settings.knowledge_dir)
        desk = ServiceItemDesk(catalogue) if catalogue and catalogue.items else None
        with self._lock:
            self._retriever, self._desk = retriever, desk

    @property
    def retriever(self) -> Retriever:
        """The retriever in force; a newer published index (govbot kb build) replaces it."""
        with self._lock:
            retriever = self._retriever
        if retriever is None:
            self.build()
            with self._lock:
                return self._retriever
        self._pick_up_new_index(retriever)
        with self._lock:
            return self._retriever

    def _pick_up_new_index(self, current: Retriever) -> None:
        """Checked at most once a second; in-flight questions keep the retriever they started with."""
        now = time.monotonic()
        if now - self._checked_at < RELOAD_CHECK_SECONDS:
            return
        self._checked_at = now
        key = current_key(self.settings.index_dir)
        if not key or key == current.index.key:
            if self._query_terms_stamp() != self._terms_stamp:
                log.info("knowledge/%s changed; reloading the retriever", QUERY_TERMS_FILE)
                self._use(current.index)  # staff edited the colloquial terms: no rebuild needed
            return
        index = load_index(self.settings.index_dir / key)
        if index is None or index.manifest.get("embedder") != self.embedder.identity:
            return
        log.info("switching to knowledge index %s", key)
        self._use(index)

    @property
    def desk(self) -> ServiceItemDesk | None:
        self.retriever  # built together
        return self._desk

    def search(self, query: str, top_k: int | None = None, issuers: set[str] | None = None) -> list[Hit]:
        return self.retriever.search(query, top_k or self.settings.top_k, issuers=issuers)

    def answer(self, question: str, issuers: set[str] | None = None) -> Answer:
        """Never raises: a failure becomes an apology the user can read, and a log entry."""
        try:
            question = self.retriever.homophones.repair(simplify(question))
            term = asked_term(question)
            # A term question looks further down the ranking (one search serves both).
            wide = self.search(question, top_k=max(DEFINITION_CANDIDATES, self.settings.top_k) if term else None, issuers=issuers)
            hits = wide[: self.settings.top_k]
            answer = self._compose(question, hits)
            if term and not (hits and hits[0].other_place) and not (answer.found and defines(term, answer.hits[0].passage.text)):
                # 「补正是啥意思」: a term the documents use is in scope, however low the cosine, and the
                # passage that defines it answers better than one that only shares the question's words.
                chosen = defining_hit(term, wide, defined_only=answer.found and not answer.tentative)
                if chosen is not None:
                    return compose_answer(question, [chosen], threshold=-1.0, relevance=self.sentence_relevance)
            return answer
        except Exception:
            log.exception("knowledge answer failed for a question of %d characters", len(question or ""))
            return Answer(found=False, text=RETRIEVAL_ERROR_TEXT)

    def _answer_in_context(self, question: str, subject: str | None, issuers: set[str] | None) -> Answer:
        """The answer to a question, an elliptical one read with its subject: the subject picks the
        document, and the follow-up's own words the part of it (「钱啥时候能拨下来」 after a fund notice
        is its 资金拨付 section, not the 申报时间 that the joined words also fit)."""
        joined = with_subject(question, subject)
        answer = self.answer(joined, issuers)
        if joined == question or not answer.found or not answer.hits:
            return answer
        document = answer.hits[0].passage.doc_id
        alone = self.search(question, top_k=FOLLOW_UP_CANDIDATES, issuers=issuers)
        part = next((h.passage for h in alone if h.passage.doc_id == document), None)
        chosen = next((h for h in answer.hits if h.passage is part), None)
        if chosen is None or chosen is answer.hits[0]:
            return answer
        return self._compose(joined, [chosen] + [h for h in answer.hits if h is not chosen])

    def _compose(self, question: str, hits: list[Hit]) -> Answer:
        """The answer from ranked hits under this service's answer and tentative thresholds."""
        return compose_answer(
            question, hits, self.settings.answer_threshold, self.settings.tentative_threshold, self.sentence_relevance
        )

    def reply(
        self,
        question: str,
        issuers: set[str] | None = None,
        previous_item: str | None = None,
        chosen_item: str | None = None,
        subject: str | None = None,
        form_kind: str | None = None,
    ) -> Reply:
        """A service-item field answer when the question is about one, a referral when it is another
        agency's business, else a knowledge answer; an elliptical question is read with `subject`, and
        one typed while a request form of `form_kind` waits for an answer with that request's item."""
        query, answer, form_item, previous = None, None, None, None
        try:
            question = self.retriever.homophones.repair(simplify(question))
            desk = self.desk
            previous = desk.item(previous_item) if desk is not None else None
            if previous is not None and desk.asked_fields(question) and desk.points_elsewhere(question, previous):
                # 「展会的呢 要多久」 after 拍卖行 says what and which field: nothing of the turn before
                # (「那预付卡呢」 still takes the field from it).
                subject = None
            named = bool(chosen_item) or bool(desk and (desk.named_items(question) or desk.recognised_item(question)))
            form_item = self._form_item(form_kind) if not named else None
            if form_item is not None and (reply := self._form_item_field(question, form_item, issuers)) is not None:
                return reply
            if not named and (referral := self.referrals.find(question)) is not None:
                field_in_focus = self._field_naming(referral, question, desk, previous_item)
                if field_in_focus is not None:  # 「营业执照每次都要交吗」 after an item's materials
                    card = desk.answer(ItemQuery(item=desk.item(previous_item), fields=(field_in_focus,), follow_up=True))
                    return Reply(card.message, service_item=previous_item, found=card.complete, doc_id=card.item.doc_id, subject=subject)
                if not self._half_names_item(question, desk):
                    return Reply(self.referrals.reply(referral), found=False, referral=True)
            about_here = self._about_this_agency(question, issuers)
            if desk is not None and (chosen_item or about_here):
                query = desk.understand(question, previous_item, chosen_item, desk.asked_fields(subject) if subject else ())
                if query.item is not None and not chosen_item and not query.follow_up:
                    # 「电子商务专项资金拟支持项目公示是哪天发布的」 names a notice, not the item that shares 专项资金.
                    answer = self._answer_in_context(question, subject, issuers)
                    exact = bool(desk.named_items(question))
                    if self._names_another_document(question, answer, query.item.doc_id, exact) or (
                        not exact and self._faq_answers_instead(answer, query.item)
                    ):
                        query = replace(query, item=None, fields=())
                if query.item is not None and not query.follow_up:
                    query = self._with_closest_field(question, query, issuers)
                item_answer = desk.answer(query) if query.item is not None else None
                if item_answer is not None:
                    code = item_answer.item.code if item_answer.item else previous_item
                    doc_id = item_answer.item.doc_id if item_answer.item else None
                    return Reply(
                        item_answer.message, item_answer.buttons, code, found=item_answer.complete, doc_id=doc_id,
                        subject=next_subject(question, subject, answered=item_answer.item is not None),
                    )
            if not named and about_here:
                contact = contact_answer(question, self.agency, self.retriever.index.passages)
                if contact is not None and char_bigrams(contact.qualifier):
                    answer = answer or self._answer_in_context(question, subject, issuers)
                    if self._states_contact_elsewhere(answer, contact):
                        contact = None  # 「搬迁后传真多少」: the relocation notice states the new number
                if contact is not None:
                    text = f"{contact.text}\n{citation(contact.passage)}"
                    # 「窗口在哪 好停车不」: the address is shown, and that it says nothing of parking.
                    attribute = unstated_attribute(question, contact.text)
                    return Reply(
                        UNSTATED_TEXT.format(label=attribute.label) + "\n" + text if attribute else text,
                        found=attribute is None, doc_id=contact.passage.doc_id,
                        subject=next_subject(question, subject, answered=attribute is None),
                    )
        except Exception:
            log.exception("service-item answer failed; falling back to retrieval")
        if answer is None:
            answer = self._answer_in_context(question, subject, issuers)
            if form_item is not None:
                answer = self._within_form(question, form_item, answer, issuers)
            if (not answer.found or answer.tentative) and (joined := with_subject_if_it_helps(question, subject)):
                helped = self.answer(joined, issuers)
                if helped.found and not (answer.found and helped.tentative) and own_words(question) & char_bigrams(helped.hits[0].passage.text):
                    answer = helped
            if (
                (not answer.found or answer.tentative) and previous is not None
                and not self.desk.points_elsewhere(question, previous)
                and (fields := self._fields_of_item_in_focus(question, previous, query))
            ):
                card = self.desk.answer(ItemQuery(item=previous, fields=fields, follow_up=True))
                return Reply(card.message, service_item=previous.code, found=card.complete, doc_id=previous.doc_id, subject=subject)
            if (not answer.found or answer.tentative) and subject:
                answer = self._in_previous_document(question, subject, issuers) or answer
        if query is not None and (query.fields or query.candidates):
            # An item question that names no item exactly: the item retrieval finds gets the field
            # card (the right field, e.g. the applicant's own deadline); failing that, the choices.
            # An FAQ overview resting on one item does not list what the item's materials or conditions are.
            listed = any(f in LISTED_FIELDS for f in query.fields)
            item = self.desk.item(self._item_of(answer, via_basis=listed)) if answer.found else None
            if item is not None and query.fields and self.desk.may_be_about(question, item):
                item = self.desk.item_meant(item, question)
                card = self.desk.answer(self._with_closest_field(question, replace(query, item=item, candidates=()), issuers))
                return Reply(
                    card.message, service_item=item.code, found=card.complete, doc_id=item.doc_id,
                    subject=next_subject(question, subject, answered=True),
                )
            if not answer.found and query.candidates:
                choices = self.desk.answer(query)
                return Reply(choices.message, choices.buttons, previous_item, found=True)
        if not answer.found and query is not None and (item := self._half_named_and_found(question, answer)) is not None:
            # 「俺家是收废品的 要不要去你们那备案」: too colloquial for the model's cosine, yet half the
            # item's name is said and retrieval ranks that item first: its card answers.
            card = self.desk.answer(replace(query, item=item, candidates=()))
            return Reply(
                card.message, service_item=item.code, found=card.complete, doc_id=item.doc_id,
                subject=next_subject(question, subject, answered=True),
            )
        asked = self._fields_asked(question) if answer.found and answer.hits else frozenset()
        if answer.found and answer.hits and self._passes_over(question, answer.hits[0].passage, asked):
            # 「火锅店搞充值卡 要不要到你们这备个案」 is not answered by 「不收费」: a field value that short
            # matches many questions; the item's overview answers one about the item, else the next passage.
            item = self.desk.item(self._item_of(answer))
            if item is not None and mentions_a_service(normalize(question)):
                item = self.desk.item_meant(item, question)
                card = self.desk.answer(ItemQuery(item=item))
                return Reply(
                    card.message, card.buttons, item.code, found=card.complete, doc_id=item.doc_id,
                    subject=next_subject(question, subject, answered=True),
                )
            rest = [h for h in answer.hits if not self._passes_over(question, h.passage, asked)]
            if rest:
                answer = self._compose(question, rest)
        doc_id = answer.hits[0].passage.doc_id if answer.found and answer.hits else None
        if answer.found and answer.hits and (attribute := unstated_attribute(question, answer.hits[0].passage.text)):
            # 「信息处理费能微信付不」: the closest passage is about the fee, not about how to pay it.
            return Reply(
                UNSTATED_TEXT.format(label=attribute.label) + "\n" + answer.message.removeprefix(TENTATIVE_LEAD + "\n"), found=False, doc_id=doc_id,
                subject=next_subject(question, subject, answered=True),
            )
        return Reply(
            answer.message, service_item=self._item_of(answer, via_basis=True) or previous_item, found=answer.found, doc_id=doc_id,
            subject=next_subject(question, subject, answered=answer.found), tentative=answer.tentative,
        )

    def _with_closest_field(self, question: str, query: ItemQuery, issuers: set[str] | None) -> ItemQuery:
        """The asked field, and its neighbour (NEIGHBOUR_FIELDS) when retrieval finds the item's passage
        for that one closest: 「在哪个系统弄」 is worded as 办理地点 but answered by 网上办理, 「谁能报」
        by the conditions as much as by the applicants. Only for one plain field asked."""
        if len(query.fields) != 1 or query.fields[0] not in NEIGHBOUR_FIELDS:
            return query  # most questions: no second search
        item = query.item
        hit = next((h for h in self.search(question, top_k=FOLLOW_UP_CANDIDATES, issuers=issuers) if h.passage.doc_id == item.doc_id), None)
        field = FIELD_OF_TITLE.get(hit.passage.section.split("、", 1)[-1]) if hit is not None else None
        if field not in NEIGHBOUR_FIELDS.get(query.fields[0], ()) or hit.closeness < self.settings.answer_threshold:
            return query
        return replace(query, fields=query.fields + (field,))

    def _fields_asked(self, question: str) -> frozenset[str]:
        """The item fields a question asks for, in its own words or, through query_terms.yml, in
        other words (「发个啥证」 is searched as 办理结果)."""
        if self.desk is None:
            return frozenset()
        expanded = self.retriever.expand(normalize(question))
        termed = {key for key, words in FIELD_TERMS.items() if any(word in expanded for word in words)}
        return frozenset(self.desk.asked_fields(question)) | termed

    def _fields_of_item_in_focus(self, question: str, previous: ServiceItem, query: ItemQuery | None) -> tuple[str, ...]:
        """What a short question retrieval cannot answer asks of the item in focus: 「场地有啥标准」 after
        报废车拆解 names no field, but the conditions speak of 场地 and 标准; 「证能寄过来不 不想跑」 after
        拍卖分公司's materials asks a field of nothing else."""
        length = content_length(question)
        if length <= SHORT_FOLLOW_UP_CHARS and (field := self.desk.field_sharing_words(question, previous)):
            return (field,)
        if query is not None and query.fields and query.item is None and not query.candidates and length <= FIELD_FOLLOW_UP_CHARS:
            return query.fields
        return ()

    def _passes_over(self, question: str, passage: Passage, asked: frozenset[str]) -> bool:
        """A catalogue item's field passage short enough to be a bare value (「不收费」「…备案回执」) that
        the reply does not quote: its field is not among those `asked`, or the question gives no sign of
        its item (「我要的材料有一百来页 这种收不收费」 asks about information-processing fees)."""
        if len(passage.text) > SHORT_FIELD_CHARS or not passage.doc_id.startswith(ITEM_DOC_PREFIX) or self.desk is None:
            return False
        field = FIELD_OF_TITLE.get(passage.section.split("、", 1)[-1])
        if field is not None and field not in asked:
            return True
        item = self.desk.item_of_document(passage.doc_id)
        return item is not None and not self.desk.may_be_about(question, item)

    def _half_named_and_found(self, question: str, answer: Answer) -> ServiceItem | None:
        """The item a not-found question half names (clearly ahead of the rest) when retrieval's
        first two passages are that item's own and the question speaks of a service."""
        desk = self.desk
        if desk is None or not answer.hits or answer.hits[0].other_place:
            return None
        ranked = desk.similarities(question)
        if not ranked or ranked[0][1] < PARTLY_NAMED or len(ranked) > 1 and ranked[1][1] >= ranked[0][1]:
            return None
        item = ranked[0][0]
        if any(hit.passage.doc_id != item.doc_id for hit in answer.hits[:2]) or not desk.may_be_about(question, item):
            return None
        return item

    def _in_previous_document(self, question: str, subject: str, issuers: set[str] | None) -> Answer | None:
        """A follow-up that finds nothing sure on its own, answered from the document the last answer
        came from when a passage there has the follow-up's own words: 「回应社会关切这块是哪个科负责」
        after 楚雄's plan is 楚雄's 回应社会关切 section, not another ministry's plan that shares the words."""
        before = self.answer(subject, issuers)
        if not before.found or not before.hits or before.tentative:
            return None
        document, issuer = before.hits[0].passage.doc_id, before.hits[0].passage.issuer
        if document.startswith("faq-"):
            return None  # a FAQ entry is one passage: it has nothing more to say
        words = own_words(question)
        # Searched as if the question named the document's issuer, as the one before it did.
        within = set(issuers or ()) | {issuer}
        for hit in self.search(question, top_k=FOLLOW_UP_CANDIDATES, issuers=within):
            if hit.passage.doc_id == document and len(words & char_bigrams(hit.passage.text)) >= PREVIOUS_DOCUMENT_SHARED:
                return compose_answer(question, [hit], threshold=-1.0, relevance=self.sentence_relevance)
        return None

    def _form_item(self, form_kind: str | None) -> ServiceItem | None:
        """The catalogue item of the request being filled in (knowledge/agency.yml `form_service_items`)."""
        code = (self.agency.get("form_service_items") or {}).get(form_kind) if form_kind else None
        return self.desk.item(code) if self.desk is not None and code else None

    def _form_item_field(self, question: str, item: ServiceItem, issuers: set[str] | None) -> Reply | None:
        """「投诉了一般多久给回话」 typed while the complaint form waits asks the complaint item's time
        limit, unless the question's other words point to a passage elsewhere that states them
        (「复议要多久」 is the guide's, not the form's)."""
        desk = self.desk
        fields = desk.asked_fields(question)
        rest = desk.words_beside_item(question, item)
        if not fields or len(rest) > FORM_QUESTION_OTHER_CHARS:
            return None
        alone = self.answer(question, issuers)
        if alone.found and not alone.tentative and alone.hits[0].passage.doc_id != item.doc_id and (
            char_bigrams(rest) & char_bigrams(alone.hits[0].passage.text)
        ):
            return None
        card = desk.answer(ItemQuery(item=item, fields=fields, follow_up=True))
        return Reply(card.message, service_item=item.code, found=card.complete, doc_id=item.doc_id)

    def _within_form(self, question: str, item: ServiceItem, answer: Answer, issuers: set[str] | None) -> Answer:
        """A question inside a form that found nothing sure on its own, or only another item's passage
        (「不写用途行不行」 → 单用途预付卡), searched again led by the request's item: of the first
        passages, the one that also has the question's own words (用途) answers."""
        if answer.found and not answer.tentative and self._item_of(answer) in (None, item.code):
            return answer
        hits = self.search(f"{item.name}，{question}", issuers=issuers)
        words = own_words(question) - self.desk.name_bigrams(item)
        chosen = next((h for h in hits[:FORM_QUESTION_CANDIDATES] if words & char_bigrams(h.passage.text)), None)
        if chosen is None:
            return answer
        joined = self._compose(question, [chosen] + [h for h in hits if h is not chosen])
        return joined if joined.found and not joined.tentative else answer

    @cached_property
    def agency(self) -> dict:
        return load_agency(self.settings.knowledge_dir)

    @cached_property
    def referrals(self) -> ReferralDesk:
        return ReferralDesk(self.settings.knowledge_dir, str(self.agency.get("name") or "本机关"))

    @staticmethod
    def _half_names_item(question: str, desk: ServiceItemDesk | None) -> bool:
        """Another agency's words (营业执照) in a question that still half-names one of this agency's
        items, clearly ahead of the rest: 「二手车行营业执照刚下来，最晚啥时候要去备案」."""
        ranked = desk.similarities(question) if desk is not None else []
        if not ranked or ranked[0][1] < PARTLY_NAMED or len(ranked) > 1 and ranked[1][1] >= ranked[0][1]:
            return False
        return desk.specific_overlap(question, ranked[0][0]) >= SPECIFIC_NAME_BIGRAMS

    @staticmethod
    def _field_naming(referral, question: str, desk: ServiceItemDesk | None, previous_item: str | None) -> str | None:
        """The field of the item in focus that itself lists the other agency's words the question
        uses (营业执照 among an import licence's materials): the question is about that field."""
        item = desk.item(previous_item) if desk is not None else None
        words = referral.matches(normalize(question)) if item is not None else None
        if not words or set(desk.asked_fields(question)) - set(BROUGHT_FIELDS):
            return None  # 「那海关的收发货人备案在哪办」 asks where to do the other agency's business
        return next(
            (key for key in BROUGHT_FIELDS if all(word in item.field_text(key) for word in words.split("+"))), None
        )

    def _about_this_agency(self, question: str, issuers: set[str] | None) -> bool:
        """The catalogue is this agency's: 「楚雄州商务局的依申请公开流程」 is answered from 楚雄's documents."""
        retriever = self.retriever
        named = retriever.named_issuers(question) | set(issuers or ())
        if named:
            return self._desk is not None and self._desk.catalogue.agency in named
        return not retriever.names_unknown_place(question, named)

    def _names_another_document(self, question: str, answer: Answer, item_doc: str | None, exact: bool = True) -> bool:
        """Whether the answer cites a published document, not the item's own guide, that the question
        names (the title's rare words: programme, year, kind) or that retrieval puts above every
        passage of the item's guide (well above it, for an item not named `exact`ly): the item then
        shared only generic words with the question."""
        if not answer.found or not answer.hits:
            return False
        cited = answer.hits[0].passage
        if cited.doc_id == item_doc:
            return False
        if cited.doc_id.startswith("faq-") or self._desk is not None and self._desk.item_of_document(cited.doc_id) is not None:
            return False  # an FAQ answer or another item: the desk's own recognition decides
        if all(hit.passage.doc_id != item_doc for hit in answer.hits):
            return True  # retrieval finds nothing of the item's guide near the top: only words were shared
        if not exact and answer.hits[0].score - max(h.score for h in answer.hits if h.passage.doc_id == item_doc) >= LOOSE_ITEM_GAP:
            return True
        passages = self.retriever.index.passages
        position = next((i for i, p in enumerate(passages) if p is cited), None)
        return position is not None and float(self.retriever.title_matches(question)[position]) >= SPECIFIC_TITLE

    def _faq_answers_instead(self, answer: Answer, item: ServiceItem) -> bool:
        """「申请公开的时候能要求你们把数据汇总好吗」 says 申请公开, yet asks what an FAQ entry answers
        (faq: 不需要加工分析): retrieval is sure of an FAQ entry that does not rest on the item, and finds
        nothing of the item's own entry near the top."""
        if not answer.found or answer.tentative or not answer.hits or not answer.hits[0].passage.doc_id.startswith("faq-"):
            return False
        if any(hit.passage.doc_id == item.doc_id for hit in answer.hits):
            return False
        return self._item_of(answer, via_basis=True) != item.code

    @staticmethod
    def _states_contact_elsewhere(answer: Answer, contact: ContactAnswer) -> bool:
        """Whether retrieval's answer is a passage of another document that states the contact asked
        for under the question's own qualifier (a notice of new numbers after a move)."""
        if not answer.found or not answer.hits:
            return False
        top = answer.hits[0].passage
        label = contact.label.removeprefix("办公")  # 办公地址 is stated as 地址
        return top.doc_id != contact.passage.doc_id and label in top.text and bool(
            char_bigrams(contact.qualifier) & char_bigrams(f"{top.title} {top.section} {top.text}")
        )

    def _item_of(self, answer: Answer, via_basis: bool = False) -> str | None:
        """The catalogue item the answer cites; with `via_basis`, also the one an FAQ answer rests on
        (what a follow-up is about, though the FAQ answer itself stands: 「还得去哪备案」 is answered
        by the FAQ's 「还应向公安机关备案」, not by the item's window)."""
        if not answer.found or not answer.hits or self._desk is None:
            return None
        passage = answer.hits[0].passage
        own = item.code if (item := self._desk.item_of_document(passage.doc_id)) is not None else None
        if own is not None or not via_basis:
            return own
        # An FAQ answer that rests on one catalogue item (「依据：政务服务事项目录：酒类流通备案」): the
        # next 「那要带啥」 asks about that item.
        names = {name for basis in CATALOGUE_BASIS.findall(passage.text) for name in basis.split("、")}
        based_on = {i.code for i in self._desk.catalogue.items if i.name in names}
        return based_on.pop() if len(based_on) == 1 else None

