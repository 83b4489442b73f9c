"""Query normalisation and article numbers (bot.text): pure functions, checked exhaustively."""

import pytest

from bot.knowledge.preamble import without_preamble
from bot.text import article_label, article_numbers, chinese_number, chinese_numeral, normalize_query, simplify


@pytest.mark.parametrize(
    "number, numeral",
    [(1, "一"), (10, "十"), (11, "十一"), (20, "二十"), (33, "三十三"), (100, "一百"), (105, "一百零五"), (110, "一百一十"), (999, "九百九十九")],
)
def test_numerals_as_the_documents_write_them(number, numeral):
    assert chinese_numeral(number) == numeral
    assert chinese_number(numeral) == number


def test_every_article_number_survives_the_round_trip():
    assert all(chinese_number(chinese_numeral(n)) == n for n in range(1, 1000))


@pytest.mark.parametrize("text", ["三三", "十百", "", "abc", "一千"])
def test_what_is_not_an_article_number(text):
    assert chinese_number(text) is None


def test_out_of_range_numbers_are_refused():
    with pytest.raises(ValueError):
        chinese_numeral(0)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("条例第三十三条讲什么", {33}),
        ("第33条", {33}),
        ("第 33 条", {33}),
        ("第３３条", {33}),  # full-width digits
        ("条例33条", {33}),
        ("第二十条和第21条", {20, 21}),
        ("第一百零五条", {105}),
        ("扶贫信息23条", set()),  # a count, not an article
        ("按条例哪一条", set()),
        ("", set()),
    ],
)
def test_article_numbers_in_a_question(text, expected):
    assert article_numbers(text) == expected


def test_article_label_matches_the_chunker_locator():
    assert article_label(33) == "第三十三条"
    assert article_label(10) == "第十条"


def test_queries_are_simplified_and_width_normalised():
    assert simplify("政府資訊公開條例") == "政府资讯公开条例"
    assert normalize_query("  條例第３３條　要多久？ ") == "条例第33条 要多久?"
    assert normalize_query("上海市商务委") == "上海市商务委"  # simplified text is left alone
    assert simplify("") == ""


def test_keyword_search_cuts_text_the_same_whatever_else_jieba_has_learned():
    """The item recogniser adds every item name to jieba's global dictionary at run time; the index
    (tokenised by `govbot kb build`) and the questions (by the action server) must still be cut alike."""
    from bot.knowledge.item_recognizer import ItemRecognizer
    from bot.knowledge.sources import load_service_catalogue
    from bot.text import tokenize
    from tests.conftest import ROOT

    question = "单用途商业预付卡发卡企业备案要多久"
    before = tokenize(question)
    ItemRecognizer(load_service_catalogue(ROOT / "knowledge"))  # the global dictionary now knows the name
    assert tokenize(question) == before
    assert "单用途商业预付卡发卡企业备案" not in before


def test_a_polite_frame_is_left_out_of_the_search_but_what_says_the_business_stays():
    framed = "老师您好，我是示例大学的研二学生，正在写信息公开的毕业论文，想请问贵局有没有电子邮箱？谢谢！"
    assert without_preamble(framed) == "想请问贵局有没有电子邮箱？"
    assert without_preamble("我是开饭店的老王，预付卡那个备案要交些什么材料") == "我是开饭店的老王，预付卡那个备案要交些什么材料"
    assert without_preamble("老师您好，打扰了，非常感谢，谢谢你们了，麻烦您了") == "老师您好，打扰了，非常感谢，谢谢你们了，麻烦您了"  # nothing else is left
