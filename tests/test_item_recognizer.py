"""The spaCy EntityRuler finds catalogue items by name or alias inside whole questions."""

import dataclasses

import pytest

from bot.knowledge.item_recognizer import ItemRecognizer
from bot.knowledge.sources import load_service_catalogue


@pytest.fixture(scope="module")
def catalogue(settings):
    return load_service_catalogue(settings.knowledge_dir)


@pytest.fixture(scope="module")
def recognizer(catalogue):
    return ItemRecognizer(catalogue)


def test_every_name_and_alias_is_found_inside_a_sentence(catalogue, recognizer):
    for item in catalogue.items:
        for name in {item.name, *item.aliases}:
            for sentence in (f"请问{name}需要什么材料", f"{name}多久能办好？", f"我想咨询一下{name}"):
                assert item in recognizer.items_in(sentence), (sentence, item.code)


def test_no_item_in_questions_about_other_things(recognizer):
    assert recognizer.items_in("上海市商务委2020年对政务新媒体提了什么要求") == []
    assert recognizer.items_in("") == []


def test_an_abbreviation_staff_add_is_recognised_without_retraining(catalogue):
    item = catalogue.items[0]
    extended = dataclasses.replace(
        catalogue, items=[dataclasses.replace(item, aliases=[*item.aliases, "某某新简称"]), *catalogue.items[1:]]
    )
    assert ItemRecognizer(extended).items_in("某某新简称的办理时限是多少") == [extended.items[0]]


def test_names_next_to_chinese_punctuation_are_matched(catalogue, recognizer):
    item = next(i for i in catalogue.items if i.name == "酒类流通备案")
    assert recognizer.items_in("酒类流通备案，要带什么？") == [item]
