"""Questions as people type them on a phone: pinyin slips, bare article numbers, other agencies'
words about this agency's own items. Through the real knowledge service and index."""

import pytest

from bot.knowledge.dialect import standard_mandarin
from bot.knowledge.homophones import HomophoneRepair
from bot.text import article_numbers


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("我要申清信息工开", "我要申请信息公开"),
        ("传针号多少 我要把申请表传过去", "传真号多少 我要把申请表传过去"),
        ("我爸要给你们寄封信 油编多少", "我爸要给你们寄封信 邮编多少"),
        ("预付卡被案材料交上去 几天能办下来", "预付卡备案材料交上去 几天能办下来"),
        ("今年拍买企业啥时候抽查", "今年拍卖企业啥时候抽查"),
    ],
)
def test_pinyin_slips_become_the_domain_word(knowledge_service, typed, meant):
    assert knowledge_service.retriever.homophones.repair(typed) == meant


@pytest.mark.parametrize(
    "typed",
    ["拍卖行改个名字要多久", "我是寄平信申请的", "什么情况下才会收信息处理费", "年报填报遇到不懂的找谁", "你们局长叫啥名字"],
)
def test_words_that_merely_sound_alike_stay_as_typed(knowledge_service, typed):
    assert knowledge_service.retriever.homophones.repair(typed) == typed


def test_only_characteristic_words_are_restored():
    repair = HomophoneRepair(["申请公开的期限。申请人可以申请。申请信息公开。"] * 3)
    assert repair.repair("申清") == "申请"
    assert repair.repair("改个") == "改个"  # 改革 is not a word of this corpus


def test_a_slip_is_answered_like_the_word_it_stands_for(knowledge_service):
    reply = knowledge_service.reply("传针号多少 我要把申请表传过去")
    assert reply.found and "0000-12345679" in reply.text


@pytest.mark.parametrize(
    "typed, searched",
    [
        ("交了申请多会儿能答复我", "交了申请多久能答复我"),
        ("俺咋申请 要带啥", "俺怎么申请 要带什么"),
        ("材料丢了咋整", "材料丢了怎么办"),
        ("会不会收费", "会不会收费"),  # 会 alone is not 多会儿
        ("签完合同几天之内得去报备", "签完合同几天之内得去备案"),
    ],
)
def test_dialect_words_are_searched_in_standard_mandarin(typed, searched):
    assert standard_mandarin(typed) == searched


@pytest.mark.parametrize(
    "question, fact",
    [
        # The staff's colloquial terms (knowledge/query_terms.yml) lead to the passage in official words.
        ("给我寄来的文件好几处给涂黑了 这是咋回事", "区分处理"),
        ("我要投诉你们局信息公开不作为 该找谁投诉", "上一级行政机关"),
        ("我们奶茶店放加盟了 跟第一家加盟商签完合同几天之内得去报备", "15日内"),
        ("申请信息公开能不能让我儿子替我去交", "授权委托书"),
    ],
)
def test_colloquial_words_find_the_passage_in_official_words(knowledge_service, question, fact):
    reply = knowledge_service.reply(question)
    assert reply.found and fact in reply.text, reply.text


def test_a_dialect_question_is_answered_like_the_standard_one(knowledge_service):
    reply = knowledge_service.reply("我申请的东西多会儿能给")
    assert reply.found and not reply.tentative and "20个工作日内答复" in reply.text


@pytest.mark.parametrize("text, number", [("那十五条呢", 15), ("十六条", 16), ("15条呢", 15), ("那第十五条呢", 15)])
def test_a_bare_article_number_is_an_article(text, number):
    assert article_numbers(text) == {number}


def test_a_count_of_items_is_not_an_article():
    assert article_numbers("不予公开的有三条规定吗") == set()


def test_a_follow_up_naming_the_next_article_gets_that_article(knowledge_service):
    first = knowledge_service.reply("条例第十四条说的啥")
    assert first.text.startswith("第十四条")
    nxt = knowledge_service.reply("那十五条呢", subject=first.subject)
    assert nxt.text.startswith("第十五条")
    assert knowledge_service.reply("十六条", subject=first.subject).text.startswith("第十六条")


def test_another_agencys_word_in_the_item_in_focus_is_about_that_item(knowledge_service):
    materials = knowledge_service.reply("自动进口许可证要交啥材料")
    follow = knowledge_service.reply("营业执照每次都要交吗", previous_item=materials.service_item, subject=materials.subject)
    assert not follow.referral and "首次申请时提供" in follow.text


def test_a_half_named_item_wins_over_another_agencys_word(knowledge_service):
    reply = knowledge_service.reply("二手车行营业执照刚下来 最晚啥时候要去备案")
    assert not reply.referral and "2个月内" in reply.text
    assert knowledge_service.reply("个体户营业执照每年要年检吗").referral


@pytest.mark.parametrize(
    "question, deadline",
    [
        ("我们废品站搬了个地方 备案要改吗 有没有时间限制", "自变更之日起30日内"),
        ("新开的4S店 执照下来以后多会儿之前要把信息报上去", "90日内"),
    ],
)
def test_the_applicants_own_deadline_is_told_not_the_processing_time(knowledge_service, question, deadline):
    reply = knowledge_service.reply(question)
    assert deadline in reply.text and "办理时限" not in reply.text


def test_a_slip_jieba_split_oddly_is_found_too(knowledge_service):
    # jieba reads 「去备按」 as 去备|按: the run of non-words is read two characters at a time.
    repaired = knowledge_service.retriever.homophones.repair("合同签完了几天之内要去备按？")
    assert repaired == "合同签完了几天之内要去备案？"


def test_another_agencys_business_named_after_an_item_is_still_referred(knowledge_service):
    first = knowledge_service.reply("外贸公司现在还用去商务局备案吗")
    assert knowledge_service.reply("那海关的收发货人备案在哪办", previous_item=first.service_item, subject=first.subject).referral


@pytest.mark.parametrize(
    "question, contact",
    [("你们邮箱是啥 想发个邮件问点事", "email"), ("传真号多少 我要把申请表传过去", "fax"), ("我爸要给你们寄封信 邮编多少", "postcode")],
)
def test_a_contact_question_with_its_purpose_is_still_a_contact_question(question, contact):
    from bot.knowledge.agency_contacts import asked_contact

    assert asked_contact(question) == contact


def test_where_to_apply_also_says_how_to_apply_online(knowledge_service):
    reply = knowledge_service.reply("我是外贸公司的 出口许可证在哪申请")
    assert "办理地点" in reply.text and "商务部业务系统统一平台" in reply.text


def test_only_rare_staff_terms_count_as_evidence(knowledge_service):
    retriever = knowledge_service.retriever
    evidence = retriever.term_evidence(retriever.added_terms("文件好几处给涂黑了"))
    marked = [p for p, on in zip(retriever.index.passages, evidence) if on]
    assert marked and all("区分处理" in p.text for p in marked)
    assert not retriever.term_evidence(retriever.added_terms("申请公开要等多久")).any()  # 期限 and 时限 are everywhere


def test_a_question_in_the_staffs_colloquial_words_is_answered_though_its_cosine_is_low(knowledge_service):
    question = "文件寄来好几处打了码 为啥"
    assert knowledge_service.search(question)[0].closeness < knowledge_service.settings.tentative_threshold
    reply = knowledge_service.reply(question)
    assert reply.found and reply.tentative and "区分处理" in reply.text, reply.text
