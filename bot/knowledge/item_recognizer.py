"""Service-item names in a question, found by a spaCy EntityRuler built from the catalogue.

Patterns come from each item's name and aliases, so staff add an abbreviation in
knowledge/service_items.yml and it is recognised at the next index reload; no retraining. The
pipeline is spaCy's blank Chinese model with the jieba segmenter; every name and alias is added to
jieba's dictionary, so a name is one token wherever it appears in a sentence and the phrase
patterns match it in context (「对外贸易经营者备案要什么材料」), not only on its own.
"""

from __future__ import annotations

import threading

import jieba
import spacy

from bot.knowledge.catalogue import Catalogue, ServiceItem
from bot.text import _load_domain_dictionary, normalize

LABEL = "SERVICE_ITEM"
_build_lock = threading.Lock()  # jieba's dictionary is global; add words from one thread at a time


class ItemRecognizer:
    def __init__(self, catalogue: Catalogue) -> None:
        self._by_code = {item.code: item for item in catalogue.items}
        patterns, names = [], set()
        for item in catalogue.items:
            for name in {item.name, *item.aliases}:
                name = normalize(name).lower()
                if name:
                    names.add(name)
                    patterns.append({"label": LABEL, "pattern": name, "id": item.code})
        with _build_lock:
            _load_domain_dictionary()
            for name in names:
                jieba.add_word(name, freq=jieba.get_FREQ(name) or 2000)
            self.nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
            ruler = self.nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
            ruler.add_patterns(patterns)

    def items_in(self, text: str) -> list[ServiceItem]:
        """Items named in the text, in order of appearance, each once (longest match wins overlaps)."""
        doc = self.nlp(normalize(text).lower())
        found: list[ServiceItem] = []
        for entity in doc.ents:
            item = self._by_code.get(entity.ent_id_)
            if entity.label_ == LABEL and item and item not in found:
                found.append(item)
        return found
