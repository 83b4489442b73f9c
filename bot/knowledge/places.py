"""Home and elsewhere: which passages come from another place's agency.

A knowledge base may also hold other places' documents (a province's, a neighbouring city's). This
agency is the issuer of the entries staff keep for it (FAQ, service catalogue: documents with no
文件信息 passage); a place is an issuer's leading 省/市/州/县/区 name. An issuer is elsewhere when it
names a place that none of this agency's issuers does; national bodies (商务部, 国务院) name no place
and are never elsewhere. The retriever ranks home first (bot.knowledge.retriever, ELSEWHERE_PENALTY)
and the index keeps their keyword statistics apart (bot.knowledge.index).
"""

from __future__ import annotations

import re

import numpy as np

from bot.knowledge.chunking import METADATA_SECTION, Passage

ISSUER_PLACE = re.compile(r"^(.{2,8}?(?:省|自治区|市|州|盟|县|区))")


def issuer_place(issuer: str) -> str | None:
    """「楚雄州商务局」 → 「楚雄州」; None for a national body (商务部, 国务院)."""
    match = ISSUER_PLACE.match(issuer or "")
    return match.group(1) if match else None


def elsewhere_mask(passages: list[Passage]) -> np.ndarray:
    """Per passage, whether its issuer is another place's agency."""
    published = {p.doc_id for p in passages if p.section == METADATA_SECTION}
    home = {p.issuer for p in passages if p.doc_id not in published}
    home_places = {issuer_place(issuer) for issuer in home} - {None}
    if not home_places:
        return np.zeros(len(passages), dtype=bool)
    elsewhere = {
        issuer for issuer in {p.issuer for p in passages} - home
        if (place := issuer_place(issuer)) is not None and place not in home_places
    }
    return np.array([p.issuer in elsewhere for p in passages], dtype=bool)
