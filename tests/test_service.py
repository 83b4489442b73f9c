"""The answering service never raises to the user."""

from dataclasses import replace
from pathlib import Path

import pytest

from bot.knowledge.answering import RETRIEVAL_ERROR_TEXT, TENTATIVE_LEAD
from bot.knowledge.service import KnowledgeService


def test_broken_knowledge_base_gets_a_polite_apology(settings, tmp_path, caplog):
    documents = tmp_path / "knowledge" / "documents"
    documents.mkdir(parents=True)
    (documents / "bad.md").write_text("---\ntitle: 缺少发布机关\n---\n正文", encoding="utf-8")
    service = KnowledgeService(replace(settings, knowledge_dir=tmp_path / "knowledge", cache_dir=tmp_path / "cache"))
    answer = service.answer("怎么申请政府信息公开")
    assert not answer.found
    assert answer.text == RETRIEVAL_ERROR_TEXT
    assert "knowledge answer failed" in caplog.text


def test_answer_and_citation_from_the_real_index(knowledge_service):
    answer = knowledge_service.answer("上海市商务委2020年对政务新媒体提了什么要求")
    assert answer.found
    assert "政务新媒体规范化管理" in answer.text
    assert answer.citation == "来源：《2020年上海市商务委员会政务公开工作要点》，上海市商务委员会，2020-04-19，第五部分"


def test_another_agencys_procedure_is_not_answered_from_this_agencys_catalogue(knowledge_service):
    """The catalogue is the sample agency's; a question naming 楚雄州商务局 is answered from 楚雄's plan."""
    reply = knowledge_service.reply("楚雄州商务局的依申请公开按什么流程办")
    assert "《楚雄州商务局政务公开工作实施方案》" in reply.text
    assert "政务服务事项目录" not in reply.text


def test_the_passage_under_the_matching_heading_is_quoted(knowledge_service):
    reply = knowledge_service.reply("安徽省商务厅2017年政务公开工作存在哪些问题")
    assert "工作人员少" in reply.text
    assert reply.text.splitlines()[-1].endswith("第二部分")


def test_personal_numbers_in_a_question_do_not_change_what_is_found(knowledge_service):
    """Digits of a phone number once pulled an off-topic question onto the guide's telephone list."""
    for question, number in (("我电话13812345678，住房公积金提取要多久", "13812345678"),
                             ("身份证11010519491231002X，怎么申请政府信息公开", "11010519491231002X")):
        plain = question.replace(number, "")
        with_number = [h.passage.locator for h in knowledge_service.search(question)]
        assert with_number == [h.passage.locator for h in knowledge_service.search(plain)], question
    referred = knowledge_service.reply("我电话13812345678，住房公积金提取要多久")
    assert referred.referral and not referred.found and "13812345678" not in referred.text


def test_a_fact_no_passage_states_is_said_to_be_missing_and_the_closest_shown(knowledge_service):
    """「信息处理费能微信付不」: the fee article is close but says nothing about how to pay."""
    reply = knowledge_service.reply("信息处理费能微信付不")
    assert not reply.found
    assert reply.text.startswith("没有找到写明缴费方式") and "信息处理费" in reply.text and "来源：" in reply.text
    stated = knowledge_service.reply("外资年报截止时间")  # the FAQ states the date: answered as usual
    assert stated.found and "6月30日" in stated.text and "没有找到" not in stated.text


@pytest.mark.parametrize("question, label", [
    ("办事大厅门口能停车吗", "停车安排"),
    ("市商务局负责人是谁", "负责人的姓名"),
    ("2023年你们一共收到多少件公开申请", "具体的统计数字"),
    ("二手车备案的信息改了以后 多少天内要去改", "事项变更后办理变更的期限"),
    ("开拍卖行最少得有几个拍卖师", "具体的人数要求"),
])
def test_what_no_document_states_is_said_to_be_missing_with_the_closest_shown(knowledge_service, question, label):
    """Parking, the head's name, a yearly count, a change's deadline: the closest passage (the
    window's address, the guide's list of what is published …) is shown as such, never as the answer."""
    reply = knowledge_service.reply(question)
    assert not reply.found, reply.text
    assert reply.text.startswith(f"没有找到写明{label}") and "来源：" in reply.text, reply.text
    assert TENTATIVE_LEAD not in reply.text


def test_a_headcount_in_ten_thousands_is_stated(knowledge_service):
    """「培训家政持证上门服务人员4万人」 states how many people: a count in 万 answers a headcount question."""
    reply = knowledge_service.reply("上海那个2020年实事项目 家政上门服务人员要培训多少人")
    assert reply.found and "4万人" in reply.text and "没有找到" not in reply.text, reply.text


def test_a_question_for_what_a_term_means_is_answered_from_the_passage_that_defines_it(knowledge_service):
    """「补正是啥意思」 is almost nothing but the term, so its cosine stays under the threshold; the term is
    the documents' own, so the passage that uses (or defines) it answers. A term they never use is not."""
    for question, expected in (
        ("三同步是个啥", "“三同步”"),
        ("补正是啥意思", "补正"),
        ("啥叫政府信息啊 我爸非要去申请他们老厂子以前的事", "条例所说的“政府信息”，是指"),
    ):
        reply = knowledge_service.reply(question)
        assert reply.found and expected in reply.text, (question, reply.text)
        assert "来源：" in reply.text
    for question in ("公积金是啥", "年货节是什么意思", "这是啥"):
        assert not knowledge_service.reply(question).found, question


def test_only_a_whole_question_about_a_term_counts_as_asking_what_it_means():
    from bot.knowledge.definitions import asked_term

    assert asked_term("“三同步”是什么") == "三同步"
    assert asked_term("依申请公开是啥意思呀") == "依申请公开"
    assert asked_term("什么是主动公开？") == "主动公开"
    assert asked_term("补正是啥意思，要多久") == "补正"  # the first clause asks it
    for question in ("我想问问补正的事", "那补正呢", "这个是啥", "你们是啥", "信息处理费怎么收", ""):
        assert asked_term(question) is None, question


def test_an_faq_answer_resting_on_one_catalogue_item_keeps_that_item_for_the_next_question(knowledge_service):
    """faq-044 cites 「政务服务事项目录：酒类流通备案」: 「那要是得办的话带啥」 asks that item's materials,
    and 「那后来地址变了呢」 after an item asks what to do on a change, not where the window is."""
    first = knowledge_service.reply("开卖酒的店还要办酒类流通备案吗")
    assert first.doc_id == "faq-044" and first.service_item == "SW-BA-003"
    materials = knowledge_service.reply("那要是得办的话带啥", previous_item=first.service_item, subject=first.subject)
    assert materials.service_item == "SW-BA-003" and "申请材料：" in materials.text and "酒类流通备案登记表" in materials.text
    moved = knowledge_service.reply("那后来地址变了呢", previous_item="SW-BA-004")
    assert "自变更之日起30日内" in moved.text and "办理地点" not in moved.text


def test_a_reporting_period_the_record_does_not_state_is_said_to_be_missing(knowledge_service):
    """「一个季度报一次还是一年一次」: the record says only 「按报告周期」."""
    reply = knowledge_service.reply("塑料制品的报告是一个季度报一次还是一年一次")
    assert not reply.found and "SW-QT-005" in reply.text and "事项目录没有写明报送的周期" in reply.text, reply.text


def test_a_foreign_country_is_searched_as_abroad(knowledge_service):
    """knowledge/query_terms.yml: 「去越南投个厂」 is also searched as 境外, so the outward-investment
    filing answers it, not an unrelated FAQ that shares 「办啥手续」."""
    reply = knowledge_service.reply("我们公司要去越南投个厂 商务这块要办啥手续")
    assert reply.found and "境外投资" in reply.text, reply.text


def test_a_question_inside_a_form_reads_as_about_that_request(knowledge_service):
    """knowledge/agency.yml `form_service_items`: while the complaint form waits, 「要钱吗」 and
    「多久给回话」 ask the complaint item's fields; outside any form the same words do not."""
    during = knowledge_service.reply("投诉了一般多久给回话", form_kind="complaint")
    assert during.service_item == "SW-GG-011" and "法定办结时限15个工作日" in during.text, during.text
    alone = knowledge_service.reply("投诉了一般多久给回话")
    assert alone.service_item != "SW-GG-011", alone.text
    fee = knowledge_service.reply("要钱吗", form_kind="complaint")
    assert fee.service_item == "SW-GG-011" and "收费标准：不收费" in fee.text, fee.text


def test_a_question_inside_a_form_keeps_its_own_subject(knowledge_service):
    """The form's request does not take over a question that names something else: the fax number
    is the guide's, 复议 is the guide's, and a suggestion (no item) changes nothing."""
    fax = knowledge_service.reply("你们传真号多少来着 我先把身份证复印件传过去", form_kind="disclosure")
    assert "0000-12345679" in fax.text, fax.text
    review = knowledge_service.reply("复议要多久", form_kind="disclosure")
    assert "复议" in review.text and "SW-GG-010" not in review.text, review.text
    purpose = knowledge_service.reply("不写用途行不行", form_kind="disclosure")
    assert "第二十九条" in purpose.text and "SW-BA-002" not in purpose.text, purpose.text
    assert knowledge_service.reply("不写用途行不行", form_kind="suggestion").text == knowledge_service.reply("不写用途行不行").text


def test_an_unknown_form_item_code_is_reported(tmp_path):
    """A code in agency.yml `form_service_items` that the catalogue lacks makes the feature inert:
    `govbot kb build` names it."""
    import shutil

    from bot.knowledge.sources import unknown_form_items

    knowledge = Path(__file__).resolve().parents[1] / "knowledge"
    assert unknown_form_items(knowledge) == []
    shutil.copy(knowledge / "service_items.yml", tmp_path / "service_items.yml")
    agency = (knowledge / "agency.yml").read_text(encoding="utf-8").replace("complaint: SW-GG-011", "complaint: SW-GG-999")
    (tmp_path / "agency.yml").write_text(agency, encoding="utf-8")
    assert unknown_form_items(tmp_path) == ["SW-GG-999"]


def test_a_colloquial_question_that_half_names_an_item_gets_its_card(knowledge_service):
    """「俺家是收废品的 要不要去你们那备案」: the model's cosine is too low to answer, but half the
    item's name is said (收废品登记) and retrieval ranks that item first."""
    reply = knowledge_service.reply("俺家是收废品的 要不要去你们那备案")
    assert reply.found and reply.service_item == "SW-BA-004" and "再生资源回收经营者备案" in reply.text, reply.text
    # A question that merely shares words with an item, and speaks of no service, stays unanswered.
    parking = knowledge_service.reply("政务服务中心那儿好停车不 有车位没")
    assert not parking.found and parking.service_item is None, parking.text


@pytest.mark.parametrize(
    "question, label",
    [("坐几路公交能到市政务服务中心", "公交、地铁等乘车路线"), ("商务局今年的部门预算一共多少钱", "具体金额")],
)
def test_a_fact_no_passage_states_is_said_to_be_missing(knowledge_service, question, label):
    """The address is no bus route, a passage on fees no budget: the reply says what is missing."""
    reply = knowledge_service.reply(question)
    assert not reply.found and reply.text.startswith(f"没有找到写明{label}的公开信息"), reply.text


def test_a_bare_field_value_answers_only_when_its_field_is_asked(knowledge_service):
    """「不收费」 is close to many short questions. 「火锅店搞充值卡 要不要到你们这备个案」 gets the prepaid-card
    item's overview; 「批了发个啥证」 asks the result (query_terms.yml: 发个啥 → 办理结果) and keeps it."""
    filing = knowledge_service.reply("火锅店搞充值卡 要不要到你们这备个案")
    assert filing.service_item == "SW-BA-002" and "基本信息" in filing.text, filing.text
    result = knowledge_service.reply("批了发个啥证", previous_item="SW-XK-006", subject="外派劳务的资质咋申请")
    assert "对外劳务合作经营资格证书" in result.text, result.text
    fee = knowledge_service.reply("你们办事收费不")
    assert "不收费" in fee.text, fee.text
    # Nothing in it points to the free item: the fee rules answer (30页以下不收费, then per page).
    pages = knowledge_service.reply("我要的材料有一百来页 这种收不收费 咋算")
    assert pages.doc_id == "info-processing-fee-2020" and "每页" in pages.text, pages.text


def test_a_follow_up_naming_another_item_leaves_the_last_one(knowledge_service):
    """After 拍卖行, 「展会的呢 要多久」 is the exhibition filing's time limit, not the auction FAQ."""
    reply = knowledge_service.reply("展会的呢 要多久", previous_item="SW-XK-001", subject="拍卖行要啥条件")
    assert reply.service_item == "SW-BA-012" and "办理时限" in reply.text, reply.text


def test_who_may_apply_shows_the_conditions_beside_the_applicants(knowledge_service):
    """「谁能申报」 is worded as the applicants (基本信息); the item's conditions passage is the closest,
    so both are shown (NEIGHBOUR_FIELDS), and no unrelated field is added to a plain question."""
    reply = knowledge_service.reply("步行街改造试点 我们商户自己能报吗 谁能申报")
    assert "基本信息：" in reply.text and "受理条件：" in reply.text, reply.text
    plain = knowledge_service.reply("预付卡备案要多久")
    assert "办理时限：" in plain.text and "网上办理：" not in plain.text and "受理条件：" not in plain.text, plain.text


def test_a_short_follow_up_without_a_fields_name_finds_the_field_that_speaks_of_it(knowledge_service):
    """「场地有啥标准」 after 报废车拆解: no field is named, but the conditions speak of 场地 and 国家标准."""
    reply = knowledge_service.reply("场地有啥标准", previous_item="SW-XK-005", subject="报废车拆解资质 你们初审要多久")
    assert reply.found and "受理条件：" in reply.text and "GB 22128" in reply.text, reply.text


def test_an_faq_entry_answers_what_only_shares_words_with_an_item(knowledge_service):
    """「申请公开…能要求你们把数据汇总好吗」 says 申请公开, the application item's alias, but asks what the
    FAQ entry on processing answers; a question about the item's own fields keeps its card."""
    reply = knowledge_service.reply("申请公开的时候，能要求你们替我把数据统计汇总好吗")
    assert reply.doc_id == "faq-019" and reply.service_item != "SW-GG-010", reply.text
    card = knowledge_service.reply("依申请公开要交哪些材料")
    assert card.service_item == "SW-GG-010" and "申请材料：" in card.text, card.text
