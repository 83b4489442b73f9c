"""Field questions about a service item are answered from its catalogue record."""

from dataclasses import replace

import pytest

from bot.knowledge.catalogue import Catalogue, Material, ServiceItem
from bot.knowledge.sources import load_service_catalogue
from bot.knowledge.service_items import ServiceItemDesk
from tests.conftest import ROOT


def _item(code, name, aliases, days=(20, 5), fee="不收费") -> ServiceItem:
    return ServiceItem(
        code=code, name=name, type="备案", legal_basis="《某某法》", conditions=["依法登记的企业"],
        materials=[Material("备案登记表", "原件", 1, "加盖公章"), Material("营业执照", "复印件", 1)],
        procedure=["申请", "受理", "办结"], statutory_days=days[0], promised_days=days[1], fee=fee,
        window="政务服务中心二楼商务窗口", address="人民路100号", hours="工作日9:00—17:00",
        online="可全程网办", result="备案回执", consult_phone="0000-1", complaint_phone="0000-2", aliases=aliases,
    )


@pytest.fixture()
def desk():
    catalogue = Catalogue(
        agency="示例市商务局",
        sample=True,
        items=[
            _item("SW-BA-001", "对外贸易经营者备案登记", ["外贸备案", "进出口备案"], days=(5, 1)),
            _item("SW-BA-002", "单用途商业预付卡发卡企业备案", ["预付卡备案", "发卡备案"], days=(20, 10)),
            _item("SW-BA-003", "酒类流通备案", ["卖酒备案"], days=(10, 3)),
        ],
    )
    return ServiceItemDesk(catalogue)


def test_materials_question_gets_exactly_the_materials_field(desk):
    answer = desk.answer(desk.understand("对外贸易经营者备案要什么材料"))
    assert answer.item.code == "SW-BA-001"
    assert answer.text.startswith("【对外贸易经营者备案登记（SW-BA-001）】")
    assert "申请材料：1. 备案登记表（原件，1份，加盖公章）；2. 营业执照（复印件，1份）。" in answer.text
    assert "办理时限" not in answer.text
    assert answer.citation == "来源：《示例市商务局政务服务事项目录》（示例数据），示例市商务局，对外贸易经营者备案登记（SW-BA-001）"


def test_aliases_and_follow_up_questions_keep_the_item(desk):
    first = desk.answer(desk.understand("外贸备案要带啥"))
    assert first.item.code == "SW-BA-001"
    follow = desk.understand("那要多久？", previous_code=first.item.code)
    assert follow.follow_up and follow.fields == ("time_limit",)
    assert "法定办结时限5个工作日，承诺办结时限1个工作日" in desk.answer(follow).text
    assert "不收费" in desk.answer(desk.understand("收费吗", previous_code="SW-BA-001")).text


def test_a_new_topic_does_not_reuse_the_previous_item(desk):
    query = desk.understand("上海市商务委对政务新媒体有什么要求多久公开", previous_code="SW-BA-001")
    assert query.item is None


def test_unclear_item_offers_the_closest_as_buttons(desk):
    answer = desk.answer(desk.understand("预付卡那个备案登记要多久"))
    assert answer.item.code == "SW-BA-002"  # 预付卡备案 is not said verbatim but nearly
    unclear = desk.answer(desk.understand("商业备案登记要多久"))
    assert unclear.item is None and 2 <= len(unclear.buttons) <= 3
    assert all(b["payload"].startswith('/ask_knowledge{"service_item": "SW-') for b in unclear.buttons)
    chosen = desk.understand("商业备案登记要多久", chosen_code="SW-BA-003")
    assert chosen.item.code == "SW-BA-003" and chosen.fields == ("time_limit",)


def test_item_without_a_field_gets_its_summary(desk):
    answer = desk.answer(desk.understand("酒类流通备案"))
    assert "办理时限" in answer.text and "收费标准" in answer.text and "您还可以问" in answer.text


@pytest.mark.parametrize("question, label, nearest", [
    ("外贸备案的回执有效期几年", "有效期", "办理结果：备案回执"),
    ("卖酒备案今年哪天截止", "具体的截止日期", "办理流程："),
    ("预付卡备案的费用能用微信付吗", "缴费方式", "收费标准：不收费"),
])
def test_a_fact_the_record_does_not_state_is_said_to_be_missing(desk, question, label, nearest):
    answer = desk.answer(desk.understand(question))
    assert not answer.complete, answer.text
    assert "事项目录没有写明" in answer.text and label in answer.text and nearest in answer.text
    assert "0000-1" in answer.text and answer.citation


def test_a_fact_the_record_states_is_quoted_from_its_field():
    item = _item("SW-XK-009", "成品油零售经营资格审批", ["加油站审批"])
    stated = ServiceItem(**{**item.__dict__, "result": "《成品油零售经营批准证书》，有效期5年"})
    desk = ServiceItemDesk(Catalogue(agency="示例市商务局", sample=True, items=[stated]))
    answer = desk.answer(desk.understand("加油站审批那个证有效期几年"))
    assert answer.complete and "办理结果：《成品油零售经营批准证书》，有效期5年" in answer.text


def test_question_not_about_items_is_left_to_retrieval(desk):
    assert desk.answer(desk.understand("政务新媒体有什么要求")) is None


def test_shipped_catalogue_is_complete_and_consistent():
    catalogue = load_service_catalogue(ROOT / "knowledge")
    assert catalogue is not None and catalogue.sample and len(catalogue.items) >= 30
    aliases = [a for item in catalogue.items for a in (item.name, *item.aliases)]
    assert len(aliases) == len(set(aliases)), "an alias names two items"
    for item in catalogue.items:
        assert item.materials and item.procedure and item.legal_basis and item.fee, item.code
        if item.promised_days is not None and item.statutory_days is not None:
            assert item.promised_days <= item.statutory_days, item.code


@pytest.fixture(scope="module")
def shipped_desk():
    return ServiceItemDesk(load_service_catalogue(ROOT / "knowledge"))


@pytest.mark.parametrize("question, label, nearest", [
    ("对外劳务合作经营资格要缴的备用金数额是多少", "具体数额", "受理条件："),
    ("一次性塑料制品报告 多久报一次", "报送的周期", "办理流程："),
    ("外资企业投诉受理去年一共处理了多少件", "具体的统计数字", "基本信息："),
])
def test_a_sum_a_period_or_a_count_the_record_lacks_is_said_to_be_missing(shipped_desk, question, label, nearest):
    """Not the neighbouring field (「收费标准：不收费」 for a deposit) as if it answered."""
    answer = shipped_desk.answer(shipped_desk.understand(question))
    assert not answer.complete, answer.text
    assert "事项目录没有写明" in answer.text and label in answer.text and nearest in answer.text


def test_a_deadline_for_reporting_a_change_is_not_the_first_filing_deadline(shipped_desk):
    """「地址变了多少天内要更新备案」: the record's 2-month period is for the first filing only."""
    desk = shipped_desk
    unstated = desk.answer(desk.understand("二手车经纪备案 公司地址变了 多少天内要去更新"))
    assert not unstated.complete, unstated.text
    assert "没有写明事项内容发生变更后" in unstated.text and "首次办理的：自取得营业执照之日起2个月内" in unstated.text
    stated = desk.answer(desk.understand("再生资源回收经营者备案 换了经营场所 几天内要去变更"))
    assert stated.complete and "自变更之日起30日内办理变更备案" in stated.text, stated.text


def test_a_sum_the_record_states_is_quoted_from_its_field(shipped_desk):
    answer = shipped_desk.answer(shipped_desk.understand("拍卖企业设立审批 注册资本要多少"))
    assert answer.complete and "1000万元人民币以上的注册资本" in answer.text, answer.text


def test_the_time_limit_shows_the_rule_and_the_note_on_what_it_covers(desk):
    """The figures alone hide what the record says about them: 「自收到申请之日起20个工作日内答复；需延长的…」
    in its procedure, 「不含专家评审、公示」 in its note."""
    item = replace(
        _item("SW-GG-010", "政府信息公开申请", []),
        procedure=["提出申请", "答复：不能当场答复的，自收到申请之日起20个工作日内答复；需延长的延长不超过20个工作日", "归档"],
        note="法定时限可经批准延长，延长期限最长不超过20个工作日。",
    )
    text = item.field_text("time_limit")
    assert text.startswith("法定办结时限20个工作日，承诺办结时限5个工作日。")
    assert "自收到申请之日起20个工作日内答复" in text and "归档" not in text
    assert text.endswith("特别提示：法定时限可经批准延长，延长期限最长不超过20个工作日。")
    plain = replace(_item("SW-BA-009", "某某备案", []), note="备案要求以现行规定为准。")  # not about time: not added
    assert plain.field_text("time_limit") == "法定办结时限20个工作日，承诺办结时限5个工作日。"


def test_the_time_limit_says_what_the_period_covers_when_a_condition_does(desk):
    """「本表时限为决定是否受理并告知的时限，受理后一般在60日内办结」 sits among the conditions; without
    it, 承诺5个工作日 reads as the time to a result. A condition that only tells the applicant to act
    in time (「按规定时限向商务主管部门备案」) is not about the agency's period."""
    item = replace(
        _item("SW-GG-011", "商务领域投诉举报受理", []),
        conditions=["有明确的被投诉举报对象", "一般消费纠纷可拨打12315；本表时限为决定是否受理并告知的时限，受理后一般在60日内办结"],
    )
    text = item.field_text("time_limit")
    assert text.endswith("时限说明：本表时限为决定是否受理并告知的时限，受理后一般在60日内办结。"), text
    assert "12315" not in text
    duty = replace(_item("SW-BA-009", "某某备案", []), conditions=["按规定时限向商务主管部门备案"])
    assert duty.field_text("time_limit") == "法定办结时限20个工作日，承诺办结时限5个工作日。"


def test_how_to_do_an_item_is_its_steps_and_what_to_bring(desk):
    """「外贸备案咋弄」: the procedure and the materials; the bare name still gets the overview."""
    answer = desk.answer(desk.understand("外贸备案咋弄"))
    assert "办理流程：1. 申请；2. 受理；3. 办结。" in answer.text and "申请材料：1. 备案登记表" in answer.text
    assert "收费标准" not in answer.text
    assert desk.understand("外贸备案").fields == ()
    follow = desk.understand("那咋弄", previous_code="SW-BA-003")
    assert follow.item.code == "SW-BA-003" and follow.fields == ("procedure", "materials")
    # Not when the question asks something else of the item: retrieval answers that.
    assert desk.understand("我不是本地人 外贸备案咋弄").item is None


@pytest.mark.parametrize("text", ["那信息改了呢", "那后来地址变了呢", "名字换了呢"])
def test_a_change_after_an_item_asks_for_the_change_deadline(desk, text):
    query = desk.understand(text, previous_code="SW-BA-002")
    assert query.item.code == "SW-BA-002" and query.fields == ("change_deadline",)


def test_where_to_go_after_a_move_is_still_the_location(desk):
    assert desk.asked_fields("地址变了以后去哪办") == ("location",)


def test_a_change_to_what_was_approved_is_the_change_item():
    """「拍卖公司法人换人了 要带啥」 is 拍卖企业变更审批, not the 设立 item the words name."""
    setting_up = _item("SW-XK-001", "拍卖企业设立审批", ["拍卖公司", "拍卖行"])
    changing = _item("SW-XK-003", "拍卖企业变更审批", ["拍卖行改名"])
    desk = ServiceItemDesk(Catalogue(agency="示例市商务局", sample=True, items=[setting_up, changing]))
    assert desk.understand("拍卖公司法人换人了 去你们那改要带些啥").item.code == "SW-XK-003"
    assert desk.understand("开拍卖公司要带啥材料").item.code == "SW-XK-001"
    # Whether to change the certificate is not a period for the change: retrieval answers it, about the change item.
    moved = desk.understand("拍卖公司搬了新地址 证要换吗")
    assert moved.item is None and moved.mentioned.code == "SW-XK-003" and moved.fields == ()


def test_who_may_apply_is_the_applicants_and_the_conditions(desk):
    assert set(desk.asked_fields("那个试点 谁有资格报")) == {"basic", "conditions"}


@pytest.mark.parametrize("text, field", [
    ("那得准备些啥", "materials"), ("改要带些啥", "materials"),
    ("什么情况下你们不受理", "conditions"), ("新证能寄给我不", "procedure"),
    ("批下来发啥证", "result"), ("许可证最后是谁发的", "result"),  # 啥 asks what 什么 asks
])
def test_colloquial_field_words(desk, text, field):
    assert field in desk.asked_fields(text)


@pytest.mark.parametrize("text, field", [
    ("理发店拿了执照几天内得去你们那备案", "applicant_deadline"),  # going there: the applicant's own deadline
    ("你们审核要几天", "time_limit"),
    ("你们那边审核要几天", "time_limit"),
    ("卖酒的执照办下来以后几天内得去备案", "applicant_deadline"),  # 办下来 is the licence, not the agency's time
    ("批下来以后多久能拿到证", "time_limit"),
])
def test_who_keeps_the_period(desk, text, field):
    assert desk.asked_fields(text) == (field,)


def test_a_count_stated_in_cases_is_stated():
    """「共接到…申请52例」 states the count asked for: it is not said to be missing."""
    from bot.knowledge.service_items import unstated_attribute

    assert unstated_attribute("商务部2008年接到了多少个信息公开申请", "商务部共接到公众提出的信息公开申请52例。") is None
    assert unstated_attribute("商务部2008年接到了多少个信息公开申请", "商务部积极推进政务公开。").key == "count"


def test_a_short_question_that_names_another_item_is_not_a_follow_up(shipped_desk):
    """「拍卖行要啥条件」 after the petrol-station item is as short as a follow-up, but half names the
    auction item and nothing of the petrol station's."""
    query = shipped_desk.understand("拍卖行要啥条件", previous_code="SW-XK-004")
    assert query.item is None or query.item.code != "SW-XK-004", query
    assert shipped_desk.understand("要啥条件", previous_code="SW-XK-004").item.code == "SW-XK-004"


def test_who_issues_one_of_the_materials_is_answered_from_the_materials(shipped_desk):
    """「谁发」 asks for the item's result, unless the question names one of its materials."""
    own = shipped_desk.answer(shipped_desk.understand("加油站审批 批下来发啥证"))
    assert "办理结果" in own.text and "成品油零售经营批准证书" in own.text
    material = shipped_desk.answer(shipped_desk.understand("加油站审批要交的危险化学品经营许可证归谁发"))
    assert "应急管理部门" in material.text


def test_the_change_sibling_is_chosen_only_for_a_change(shipped_desk):
    founding, change = (shipped_desk.item(code) for code in ("SW-XK-001", "SW-XK-003"))
    assert (founding.name, change.name) == ("拍卖企业设立审批", "拍卖企业变更审批")
    assert shipped_desk.for_a_change(founding, "拍卖公司换法人了 要带啥") is change
    assert shipped_desk.for_a_change(change, "拍卖公司换法人了 要带啥") is change
    # Retrieval may rank the 变更 item level with the first approval; no change is spoken of here.
    assert shipped_desk.for_a_change(change, "拍卖行审批下来给个啥文书") is founding
    assert shipped_desk.for_a_change(founding, "拍卖行审批下来给个啥文书") is founding


def test_a_sibling_named_more_narrowly_is_the_item_meant(shipped_desk):
    founding, branch = (shipped_desk.item(code) for code in ("SW-XK-001", "SW-XK-002"))
    assert branch.name == "拍卖企业分公司设立审批"
    assert shipped_desk.item_meant(founding, "拍卖公司想开个分公司 要啥材料") is branch
    assert shipped_desk.item_meant(founding, "想开个拍卖公司 要啥材料") is founding


@pytest.mark.parametrize("text, field", [
    ("特许备案是不是要把整本运营手册都交上去", "materials"),  # whether something is handed in
    ("以前那个批准证书要不要交回去", "materials"),
    ("步行街那个试点 我们几个商户能自己去报吗", "basic"),  # who may apply
])
def test_handing_in_and_who_may_apply_ask_their_fields(desk, text, field):
    assert field in desk.asked_fields(text)


def test_paying_is_not_handing_in(desk):
    assert "materials" not in desk.asked_fields("备案要不要交钱")


def test_a_material_shortened_the_way_people_shorten_it_is_named(shipped_desk):
    """「危化品那个证」 is the 危险化学品经营许可证 of the petrol-station item: its materials answer."""
    card = shipped_desk.answer(shipped_desk.understand("开加油站审批 是不是得先有危化品那个证"))
    assert "申请材料" in card.text and "危险化学品经营许可证" in card.text, card.text
    # A shortening of the item's own name is the item, not one of its materials.
    query = shipped_desk.understand("对外劳务资格核准咋样")
    assert "materials" not in query.fields


def test_a_penalty_the_catalogue_does_not_set_is_said_to_be_missing(shipped_desk):
    """「罚多少钱」 is no question for the fee (不收费): the record sets duties, not what breaking them costs."""
    card = shipped_desk.answer(shipped_desk.understand("预付卡备案要是过了30天还没去办，罚多少钱"))
    assert not card.complete and "没有写明逾期或违规的处罚" in card.text and "设定依据" in card.text, card.text
    assert "收费标准" not in card.text


@pytest.mark.parametrize("question, stated, unstated, key", [
    ("预付卡的预收资金要存管多少比例", "按不低于预收资金余额的40%存管。", "发卡企业还应按规定存管预收资金。", "proportion"),
    ("专项资金几月份开始申报", "每年3月发布申报通知。", "本局在网站发布年度申报通知。", "month"),
    ("示例市去年社会消费品零售总额是多少", "全年社会消费品零售总额1234.5亿元。", "市商务局主动公开统计信息。", "statistic"),
])
def test_a_share_a_month_or_a_statistic_the_passage_does_not_give_is_said_to_be_missing(question, stated, unstated, key):
    from bot.knowledge.service_items import unstated_attribute

    assert unstated_attribute(question, stated) is None
    assert unstated_attribute(question, unstated).key == key
