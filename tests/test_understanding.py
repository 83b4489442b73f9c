"""bot.understanding without Rasa: routing decisions, follow-ups, referrals, contacts, deadlines,
and the conversation evaluation's reading of a tracker."""

import pytest

from bot.knowledge.agency_contacts import asked_contact, contact_answer
from bot.knowledge.chunking import Passage
from bot.knowledge.sources import load_agency, load_service_catalogue
from bot.knowledge.service_items import APPLICANT_DEADLINE, ServiceItemDesk, applicant_deadlines
from bot.understanding.evaluation import classify, judge
from bot.understanding.follow_up import is_elliptical, next_subject, with_subject
from bot.understanding.referral import ReferralDesk, parse_referrals
from bot.understanding.routing import (
    has_no_tracking_number,
    is_question_during_form,
    route,
)
from tests.conftest import ROOT

KNOWLEDGE_DIR = ROOT / "knowledge"


def ranked(intent: str, confidence: float) -> tuple[str, float, list[dict]]:
    return intent, confidence, [{"name": intent, "confidence": confidence}]


@pytest.mark.parametrize(
    "text, classifier, expected",
    [
        # The classifier's vote for a form is not enough without words that ask for it.
        ("你们几点开门", "file_complaint", "ask_knowledge"),
        ("查一下隔壁公司交给你们的报表", "check_status", "ask_knowledge"),
        ("申请公开要多久答复", "apply_disclosure", "ask_knowledge"),
        ("我想申请公开个文件，先问下要不要钱", "apply_disclosure", "ask_knowledge"),
        # Asking for the agency's site, number or address is a question, however 申请 is worded.
        ("网上申请公开的网址发我下", "apply_disclosure", "ask_knowledge"),
        ("投诉电话多少", "file_complaint", "ask_knowledge"),
        ("我要申请政府信息公开 我电话是13800000000", "apply_disclosure", "apply_disclosure"),
        # A reply to the last turn (「行」「好的」) in front of the request does not hide it.
        ("行 我现在就申请 要你们2025年给超市发的促消费补贴名单", "ask_knowledge", "apply_disclosure"),
        ("好的，我要投诉", "ask_knowledge", "file_complaint"),
        ("行 那要多久", "ask_knowledge", "ask_knowledge"),
        # Words that ask for the action start it, whatever the classifier said.
        ("我要投诉", "file_complaint", "file_complaint"),
        ("我要举报一家回收站乱收费", "ask_knowledge", "file_complaint"),
        ("我有个建议想提交一下：网办系统能不能加个短信提醒", "ask_knowledge", "file_complaint"),
        ("我上周交的申请有结果了吗", "ask_knowledge", "check_status"),
        ("帮我查下进度", "check_status", "check_status"),
        # Asking the agency to act against someone is a complaint; asking for a document's full text an application.
        ("隔壁一直有人收废品 根本没备案 我要让你们去查它", "file_complaint", "file_complaint"),
        ("家政公司派的阿姨信息全是假的 我要你们处理这家公司", "file_complaint", "file_complaint"),
        ("我是房东 想拿到你们局批的改造方案全文 帮我办一下", "apply_disclosure", "apply_disclosure"),
        ("给你们局提点意见 窗口中午能不能别休息", "ask_knowledge", "file_complaint"),
        ("收到举报以后你们一般多久去查", "file_complaint", "ask_knowledge"),
        # A wished change to what the agency runs is a suggestion, said without 建议 or 意见.
        ("你们大厅的叫号屏字太小 换个大点的吧", "request_human", "file_complaint"),
        ("办事指南要是能做成一张图就方便多了", "ask_knowledge", "file_complaint"),
        ("热线电话周末有人接吗", "file_complaint", "ask_knowledge"),
        # A grievance and the agency asked to act on it; asking whether it would is a question.
        ("买的二手车被调了表 车行不认账 你们来人查查", "check_status", "file_complaint"),
        ("团购店收了钱人没了 你们局里出面管管", "ask_knowledge", "file_complaint"),
        ("二手车商调表会被查处吗", "file_complaint", "ask_knowledge"),
        # One of the agency's records asked to be handed over is an application, politely or not.
        ("你们去年批的那几家典当行的审批材料 抄一份给我", "ask_knowledge", "apply_disclosure"),
        ("能给我复印一份你们那次检查的通报不", "ask_knowledge", "apply_disclosure"),
        ("申请公开要交一份什么材料", "apply_disclosure", "ask_knowledge"),
        ("需要你们提供合同原件吗", "apply_disclosure", "ask_knowledge"),
        ("你们寄我的决定书看不懂", "ask_knowledge", "ask_knowledge"),
        # A suggestion may be put politely or in dialect as a question; asking about the rules is not one.
        ("能不能考虑把窗口午休时间缩短点", "ask_knowledge", "file_complaint"),
        ("网站字往大调调中不中", "ask_knowledge", "file_complaint"),
        ("能不能考虑一下再交材料", "ask_knowledge", "ask_knowledge"),
        # Anger at the agency itself is offered as a complaint with buttons.
        ("你们这审批拖了俩月 也太不像话了", "ask_knowledge", "nlu_fallback"),
        ("卡里的钱换了老板就作废了 你们帮我们把钱要回来", "ask_knowledge", "file_complaint"),
        ("请把那家公司备案时交给你们的材料调出来给我", "ask_knowledge", "apply_disclosure"),
        # The person's own case, by its number or by what they asked for before.
        ("GK261123000111 我这个件还得等多久", "ask_knowledge", "check_status"),
        ("之前找你们要的那份名单啥时候能到手", "ask_knowledge", "check_status"),
        ("申请一般多久能到手", "check_status", "ask_knowledge"),
        ("能不能叫个懂行的来跟我说", "ask_knowledge", "request_human"),
        ("有人跟我说要交钱 是真的吗", "request_human", "ask_knowledge"),
        # Asking to be told is asking, though 查阅 and 麻烦 sound like an application.
        ("老师，文件里查阅场所那部分说了啥，麻烦告诉我", "apply_disclosure", "ask_knowledge"),
        # A general question about how long things take is not a status query.
        ("我想知道申请一般多久有结果", "ask_knowledge", "ask_knowledge"),
        # Explicit requests for a person always reach the handoff; mentioning staff does not.
        ("找个活人跟我说", "bot_challenge", "request_human"),
        ("你这机器人说不明白 给我找个真人", "bot_challenge", "request_human"),
        ("工作人员是兼职吗", "request_human", "ask_knowledge"),
        ("能不能转给你们上班的同志 我打字说不清楚", "ask_knowledge", "request_human"),
        # Cancel words leave; a new request in the same breath wins.
        ("算了 不弄了", "cancel_request", "cancel_request"),
        ("不查了 我要申请政府信息公开", "check_status", "apply_disclosure"),
        # A copy asked for, to be mailed; suggestions counted out (几条建议): wanted, and asked about at once.
        ("2023年专项资金拨给了哪些企业 给我整一份纸质的寄到人民路8号", "apply_disclosure", "nlu_fallback"),
        ("想就菜市场改造提几条建议，我直接在这里写给你们可以吗", "file_complaint", "nlu_fallback"),
        # A short question is no way of leaving a form, whatever the classifier makes of it.
        ("截止到几号", "cancel_request", "ask_knowledge"),
        # A choice asked between two things is a question, and 报告 is the agency's business.
        ("塑料制品的报告是一个季度报一次还是一年一次", "file_complaint", "ask_knowledge"),
        # Social replies only for short social phrases.
        ("你好", "greet", "greet"),
        ("在吗？", "greet", "greet"),
        ("在吗在吗", "ask_knowledge", "greet"),  # a greeting this short is one, 吗 or not
        ("不补会咋样", "deny", "ask_knowledge"),  # a no that asks what happens then
        ("ODI要是投的国家比较敏感，咋整", "out_of_scope", "ask_knowledge"),  # ODI: 境外投资, the agency's business
        ("下午几点关门", "greet", "ask_knowledge"),
        ("传真", "affirm", "ask_knowledge"),
        ("有没有邮箱啊，我发邮件问问行不", "bot_challenge", "ask_knowledge"),
        # Typed answers to a request's summary keep their intent although they use the agency's words.
        ("确认提交", "confirm_request", "confirm_request"),
        ("修改电话", "correct_request", "correct_request"),
    ],
)
def test_routing(text, classifier, expected):
    intent, confidence, ranking = ranked(classifier, 0.9)
    assert route(text, intent, confidence, ranking).intent == expected


def test_request_and_question_at_once_is_asked_about():
    decision = route("我想投诉，怎么弄", *ranked("file_complaint", 0.95))
    assert decision.intent == "nlu_fallback" and decision.offer == "file_complaint"


@pytest.mark.parametrize(
    "text",
    ["我要投诉你们局信息公开不作为 该找谁投诉", "我要是想投诉你们信息公开不答复 该向谁投诉", "我要举报一家企业 用信息公开申请的方式行不行"],
)
def test_weighing_a_way_or_asking_whom_is_a_question(text):
    assert route(text, *ranked("file_complaint", 0.95)).intent == "ask_knowledge"


def test_a_long_request_is_read_by_its_first_clause():
    text = "帮我弄个信息公开申请 我想要咱市大型商业网点规划那份文件"
    assert route(text, *ranked("ask_knowledge", 0.6)).intent == "apply_disclosure"
    # …unless what follows asks something.
    assert route("帮我弄个信息公开申请 要是没有的话你们会怎么答复", *ranked("ask_knowledge", 0.6)).intent == "ask_knowledge"


def test_a_doubtful_vote_without_request_words_is_asked_about():
    decision = route("投诉", *ranked("file_complaint", 0.5))
    assert decision.intent == "nlu_fallback" and decision.offer == "file_complaint"


def test_a_record_the_person_needs_in_hand_is_offered_as_an_application():
    decision = route("跟房东打官司呢 他说他那美容院在你们这备过案 我得拿到那个备案回执当证据", *ranked("apply_disclosure", 0.9))
    assert decision.intent == "nlu_fallback" and decision.offer == "apply_disclosure"
    # What to bring, or where a record is published, is asked about.
    for question in ("备案要带什么材料", "想拿到备案回执 在哪领"):
        assert route(question, *ranked("apply_disclosure", 0.9)).intent == "ask_knowledge"


def test_chit_chat_is_out_of_scope_but_a_follow_up_is_a_question():
    assert route("今天天气怎么样", *ranked("out_of_scope", 0.9)).intent == "out_of_scope"
    for follow_up in ("那要是去的国家比较敏感呢", "那如果是外国人"):
        assert route(follow_up, *ranked("out_of_scope", 0.9)).intent == "ask_knowledge"


@pytest.mark.parametrize("text, social", [("中午好", "greet"), ("大家好", "greet"), ("谢谢啦", "thank")])
def test_a_short_social_phrase_is_never_offered_a_request(text, social):
    for action in ("file_complaint", "apply_disclosure"):
        assert route(text, *ranked(action, 0.9)).intent == social


def test_unsure_classifier_means_a_question():
    ranking = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "greet", "confidence": 0.3}]
    assert route("想开个当铺 你们那批不批", "nlu_fallback", 0.45, ranking).intent == "ask_knowledge"


@pytest.mark.parametrize(
    "text, slot, expected",
    [
        ("对了 你们传真多少", "applicant_type", True),
        ("张三", "applicant_name", False),
        ("你们局2020年的部门预算是多少", "info_description", False),  # a description may be a question
        ("投诉了一般多久给回话", "complaint_matter", True),
        ("商场里那家店办卡后跑路了，我们几十个人的钱怎么也退不回来，请你们管一管吧？", "complaint_matter", False),
        ("对了 你们传真多少", None, False),
    ],
)
def test_questions_during_a_form(text, slot, expected):
    assert is_question_during_form(text, "ask_knowledge", slot) is expected


def test_a_question_during_a_form_needs_the_question_intent():
    assert not is_question_during_form("是不是要身份证复印件啊", "cancel_request", "applicant_type")


def test_no_tracking_number():
    assert has_no_tracking_number("回执号找不到了")
    assert has_no_tracking_number("我忘了")
    assert not has_no_tracking_number("GK202611230001")


@pytest.mark.parametrize(
    "text, elliptical",
    [("传真呢", True), ("要钱吗", True), ("在哪办", True), ("那得准备哪些材料", True),
     ("钱大概啥时候能拨下来", True), ("预付卡备案要什么材料", False), ("上海商务委搞不搞开放日", False),
     ("收到收费通知几天内得交", False), ("其中网上申请的有多少", True), ("其中网上提交的有几件", True)],
)
def test_elliptical_follow_ups(text, elliptical):
    assert is_elliptical(text) is elliptical


def test_a_follow_up_is_searched_with_its_subject_and_a_full_question_replaces_it():
    assert with_subject("传真呢", "你们的电话多少") == "你们的电话多少，传真呢"
    assert with_subject("预付卡备案要什么材料", "你们的电话多少") == "预付卡备案要什么材料"
    assert next_subject("传真呢", "你们的电话多少", answered=True) == "你们的电话多少"
    assert next_subject("预付卡备案要什么材料", "你们的电话多少", answered=True) == "预付卡备案要什么材料"
    assert next_subject("商务局的食堂对外开放吗", "你们的电话多少", answered=False) is None


def test_referrals_match_topics_and_pairs(tmp_path):
    (tmp_path / "referrals.yml").write_text(
        "referrals:\n  - agency: 车管所\n    topics: [驾驶证, 车+过户]\n    tip: 去车管所\n", encoding="utf-8"
    )
    desk = ReferralDesk(tmp_path, "示例市商务局")
    assert desk.find("驾驶证到期在哪换").agency == "车管所"
    assert desk.find("二手车过户去哪办").agency == "车管所"
    assert desk.find("房子过户去哪办") is None
    assert "示例市商务局" in desk.reply(desk.find("驾驶证到期在哪换"))


def test_a_broken_referrals_file_keeps_the_last_good_list(tmp_path):
    path = tmp_path / "referrals.yml"
    path.write_text("referrals:\n  - agency: 车管所\n    topics: [驾驶证]\n", encoding="utf-8")
    desk = ReferralDesk(tmp_path)
    assert desk.find("驾驶证") is not None
    path.write_text("referrals: [unclosed", encoding="utf-8")
    import os
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    assert desk.find("驾驶证") is not None


def test_referral_entries_are_checked():
    with pytest.raises(ValueError, match="agency"):
        parse_referrals({"referrals": [{"topics": ["驾驶证"]}]})


def test_the_shipped_referrals_file_is_valid():
    desk = ReferralDesk(KNOWLEDGE_DIR)
    assert desk.find("社保断缴了怎么补") is not None
    assert desk.find("预付卡备案要交啥材料") is None


@pytest.mark.parametrize(
    "question, field",
    [("传真多少", "fax"), ("你们几点开门", "hours"), ("邮编", "postcode"), ("投诉电话是多少", "complaint_phone"),
     ("政府信息公开申请要多久", None), ("预付卡备案的材料和电话", None),
     ("窗口的同志能替我填吗", None), ("大厅的人能帮我写申请不", None),
     ("窗口在哪", "service_hall"), ("先问下 你们窗口下午几点关门", "hours"), ("你们中午休息吗", "hours"),
     ("那邮寄呢 寄哪儿", "address"), ("申请信寄过去 信封上要写点啥不", None),
     # The number is asked for bare; the other clause says which.
     ("想把申请表传真过去 你们号码给一下", "fax"), ("号码给一下", "phone"),
     # The contact as the way something is sent, or a place on the website: something else is asked.
     ("传真交的申请哪天算你们收到", None), ("邮箱申请可以吗", None), ("传真过去的号码是多少", "fax"),
     ("在网站哪个地方看", None), ("网站是哪个", "website")],
)
def test_contact_questions(question, field):
    assert asked_contact(question) == field


def _passage(text: str) -> Passage:
    return Passage(doc_id="guide", title="指南", issuer="示例市商务局", date="", doc_number="", section="",
                   locator="", text=text, ordinal=0)


def test_a_contact_value_must_stand_whole_in_its_passage():
    agency = {"name": "示例市商务局", "complaint_phone": "0000-12345"}
    longer = _passage("咨询电话：0000-12345678。")
    assert contact_answer("投诉电话是多少", agency, [longer]) is None
    exact = _passage("投诉电话：0000-12345。")
    assert contact_answer("投诉电话是多少", agency, [longer, exact]).passage is exact


def test_a_contact_asked_by_another_name_the_documents_use_is_called_by_it():
    agency = {"name": "示例市商务局", "complaint_phone": "0000-12345"}
    listed = _passage("投诉电话：0000-12345。")
    called = _passage("也可以拨打市商务局监督电话0000-12345反映问题。")
    answer = contact_answer("监督电话是多少", agency, [listed, called])
    assert answer.passage is called and answer.text == "示例市商务局监督电话：0000-12345。"
    # A name the documents do not give it: the field's own name, from the first passage stating it.
    answer = contact_answer("举报热线是多少", agency, [listed, called])
    assert answer.passage is listed and answer.text == "示例市商务局投诉电话：0000-12345。"


@pytest.fixture(scope="module")
def desk():
    return ServiceItemDesk(load_service_catalogue(KNOWLEDGE_DIR, load_agency(KNOWLEDGE_DIR)))


def test_applicant_deadlines_come_from_the_record_not_the_processing_time(desk):
    assert applicant_deadlines(desk.item("SW-BA-005")) == ["自首次订立特许经营合同之日起15日内申请备案"]
    assert applicant_deadlines(desk.item("SW-BA-001")) == []  # 「2022年12月30日前」 is a date, not a period
    assert applicant_deadlines(desk.item("SW-GG-010")) == []  # the agency's own reply periods


@pytest.mark.parametrize(
    "question, fields",
    [("特许经营合同签了以后几天内要备案", (APPLICANT_DEADLINE,)), ("加盟备案交上去多久能办好", ("time_limit",)),
     ("拍卖企业设立审批需要什么条件", ("conditions",)), ("预付卡备案需要什么", ("materials",)),
     ("办展会备案 要提前开幕多少天办", (APPLICANT_DEADLINE,)),
     # Where to look a record up is where it is published, not the window; where to go stays the window.
     ("家政信用录完了顾客在哪能查到", ("procedure", "result")), ("家政信用审核去哪办", ("location",)),
     # A call as the way to apply is no question for the number.
     ("申请公开是不是打个电话说一声就行", ()), ("申请公开打哪个电话", ("contact",)),
     ("老字号能不能申报", ("conditions",)), ("申请公开最后给我出个啥文书", ("result",))],
)
def test_asked_fields(desk, question, fields):
    assert desk.asked_fields(question) == fields


def test_a_missing_deadline_is_said_plainly(desk):
    answer = desk.answer(desk.understand("美容美发店备案 拿到执照以后多久之内要备"))
    assert not answer.complete and "没有写明" in answer.text and "SW-BA-009" in answer.text


def test_naming_the_application_item_in_another_question_does_not_give_its_card(desk):
    query = desk.understand("我不是本地人 在外地上学 也能找你们申请公开吗")
    assert query.item is None and query.mentioned is not None
    assert desk.understand("政府信息公开申请怎么办理").item.code == "SW-GG-010"


def test_a_question_that_names_no_item_may_be_about_one_only_by_its_words(desk):
    direct = desk.item("SW-QT-001")  # 直销企业服务网点核查
    assert not desk.may_be_about("政务服务中心有停车场没 停车要钱不", direct)
    assert desk.may_be_about("网点核查要钱不", direct)  # a word that singles the item out
    assert desk.may_be_about("那个备案要钱不", direct)  # speaks of a service


def test_a_named_material_asks_for_the_materials(desk):
    assert desk.understand("预付卡备案要营业执照吗").fields == ("materials",)


def test_classify_reads_the_turn_from_tracker_events():
    knowledge = {"event": "bot", "text": "x", "metadata": {"knowledge": {"found": True}}}
    assert classify([{"event": "action", "name": "action_answer_knowledge"}, knowledge], {}) == "answer"
    assert classify([{"event": "action", "name": "action_handoff"}], {}) == "handoff"
    assert classify([{"event": "active_loop", "name": "complaint_form"}], {"complaint_type": "suggestion"}) == "suggestion_form"
    assert classify([{"event": "action", "name": "utter_greet"}], {}) == "greet"
    # Inside the complaint form: an answer is a form step, unless this turn made it a suggestion.
    step = [{"event": "action", "name": "complaint_form"}]
    assert classify(step, {"complaint_type": "complaint"}) == "form_step"
    assert classify(step, {"complaint_type": "suggestion"}) == "form_step"
    switched = step + [{"event": "slot", "name": "complaint_type", "value": "suggestion"}]
    assert classify(switched, {"complaint_type": "suggestion"}) == "suggestion_form"
    referral = {"event": "bot", "metadata": {"knowledge": {"found": False, "referral": True}}}
    assert classify([referral], {}) == "referral"


def test_judge_needs_the_fact_and_the_citation():
    expect = {"route": "answer", "fact": ["15日内"]}
    assert judge(expect, "answer", "……15日内申请备案\n来源：《目录》", {})[0]
    assert not judge(expect, "answer", "……15日内申请备案", {})[0]
    assert not judge(expect, "answer", "办理时限：10个工作日\n来源：《目录》", {})[0]
    assert not judge({"route": "referral"}, "referral", "请咨询车管所\n来源：《某文件》", {})[0]
    # Punctuation is not part of the fact: a writer's 「监督电话0000-12345」 is stated by the reply.
    assert judge({"route": "answer", "fact": ["监督电话0000-12345"]}, "answer", "监督电话：0000-12345\n来源：《指南》", {})[0]
    assert not judge({"route": "answer", "fact": ["监督电话0000-12345"]}, "answer", "监督电话：0000-12346\n来源：《指南》", {})[0]


def test_a_report_counts_its_failures_by_kind_in_figures_only():
    """A held-out half may be reported by kind of mistake without showing a case."""
    from bot.understanding.evaluation import Case, CaseResult, TurnResult, Turn, summarise

    answer = {"route": "answer", "fact": ["15日内"]}
    results = [
        CaseResult(Case("x1", (Turn("甲", answer),), "set.yml"), [TurnResult("甲", "answer", "…", answer, False, "fact missing")]),
        CaseResult(Case("x2", (Turn("乙", {"route": "greet"}), Turn("丙", answer)), "set.yml"),
                   [TurnResult("乙", "greet", "您好", {"route": "greet"}, True, ""),
                    TurnResult("丙", "not_found", "没有找到", answer, False, "route not_found")]),
    ]
    report = summarise(results)
    assert report.failure_kinds == {("answer", "fact missing", "首轮"): 1, ("answer", "route not_found", "追问"): 1}
    lines = "\n".join(report.lines())
    assert "answer / route not_found / 追问: 1" in lines and "甲" not in lines and "丙" not in lines


def test_an_edited_referrals_file_applies_to_the_next_question(tmp_path):
    """README: staff edit knowledge/referrals.yml and the next question uses it, without a restart."""
    import os

    path = tmp_path / "referrals.yml"
    path.write_text("referrals:\n  - agency: 车管所\n    topics: [驾驶证]\n", encoding="utf-8")
    desk = ReferralDesk(tmp_path)
    assert desk.find("公积金怎么取") is None
    path.write_text("referrals:\n  - agency: 公积金中心\n    topics: [公积金]\n", encoding="utf-8")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    assert desk.find("公积金怎么取").agency == "公积金中心"
    assert desk.find("驾驶证到期") is None


def test_whether_a_matter_is_disclosed_is_not_referred(tmp_path):
    """「乡政府宅基地审核情况要不要公示」 is a question about the disclosure regulation (第二十一条)."""
    path = tmp_path / "referrals.yml"
    path.write_text("referrals:\n  - agency: 自然资源部门\n    topics: [宅基地]\n  - agency: 税务部门\n    topics: [发票]\n", encoding="utf-8")
    desk = ReferralDesk(tmp_path)
    assert desk.find("宅基地怎么批").agency == "自然资源部门"
    assert desk.find("乡政府宅基地审核这些情况要不要公示") is None
    assert desk.find("交的信息处理费能给发票不") is None


@pytest.mark.parametrize(
    "text, expected",
    [
        # A submission already made, said without 「我」, and asked after in everyday words.
        ("上周寄的申请你们收到没有", "check_status"),
        ("申请都交了二十天了 催一下", "check_status"),
        ("信息公开申请早就交上去了 现在到哪一步了", "check_status"),
        # A person of the agency, by any name.
        ("有没有真人在", "request_human"),
        ("我要跟你们负责人直接谈", "request_human"),
        ("让你们管事的人来", "request_human"),
        # Leaving, said with 我 or at the end.
        ("我不想填了", "cancel_request"),
        ("这个撤了吧", "cancel_request"),
        # The message opens with what it is.
        ("举报：楼下超市卖过期食品", "file_complaint"),
        ("建议你们周末也开个窗口", "file_complaint"),
        ("有个想法 网上申请页面字太小了", "file_complaint"),
        # …and the same words in questions stay questions.
        ("举报电话多少", "ask_knowledge"),
        ("投诉一般多久给答复", "ask_knowledge"),
        ("申请交了以后一般多久答复", "ask_knowledge"),
        ("建议和投诉有啥区别", "ask_knowledge"),
        ("工作人员是兼职吗", "ask_knowledge"),
        # Whether staff will fill in the form is the documents' 代为填写, not a call for a person now.
        ("我不会写字 工作人员能帮我填吗", "ask_knowledge"),
        ("能不能让窗口的老师帮忙写一下申请", "ask_knowledge"),
        ("找个工作人员帮我填一下 行不行", "request_human"),
        ("我申请的信息公开要交钱吗", "ask_knowledge"),
        # A suggestion's content is often a question (能不能…); asking how to suggest is not a suggestion.
        ("提个意见 窗口叫号能不能改成手机取号", "file_complaint"),
        ("俺有个想法 菜市场能不能多设几个", "file_complaint"),
        ("建议在老小区附近多开几个便民菜店", "file_complaint"),
        ("提建议有啥渠道", "ask_knowledge"),
        ("建议先打电话问问吗", "ask_knowledge"),
        # Someone who says they are asking, or asks what follows, is answered.
        ("麻烦问一下批量申请信息公开，麻烦告诉我", "ask_knowledge"),
        ("我想了解下申请更正政府信息，急", "ask_knowledge"),
        ("我们单位想知道商务领域举报电话，麻烦告诉我", "ask_knowledge"),
        ("我已经提交了申请 想知道审到哪了", "check_status"),
        ("政府网站公开的东西老不更新，有人管吗会被追责吗", "ask_knowledge"),
        # A person, asked for in other words.
        ("俺要找个人问问 别让电脑回了", "request_human"),
        ("麻烦让业务窗口的老师跟我对接一下", "request_human"),
        ("你们值班的同志在不在", "request_human"),
        ("我找人说过了 还是没办", "ask_knowledge"),
        ("有客服吗", "request_human"),
        ("我想找你们负责这块的老师当面沟通", "request_human"),
        # A story, a rhetorical question, then what is wanted; 「几十家」 counts, it does not ask.
        ("楼下超市塑料袋随便送 不是限塑了吗 我要举报这家超市", "file_complaint"),
        ("我要投诉 一个加盟总部 吹有几十家店 其实一家没有", "file_complaint"),
        ("奶茶店关门了老板把我拉黑了 给我登记一下 我要讨个说法", "file_complaint"),
        ("我要投诉 该找谁", "ask_knowledge"),
        # A document asked for, the clause that asks for it apart from the one that names it.
        ("想要你们局2024年三公经费的明细，电子版发我邮箱就行", "apply_disclosure"),
        ("那好 我要你们对加油站的现场核查记录", "apply_disclosure"),
        ("我要你们的检查结果的话 得怎么弄", "ask_knowledge"),
        # One's own earlier request, said with when it was made.
        ("我前两周投诉的那个理发店 有结果没", "check_status"),
        ("那个举报楼下回收站的 后来查了没", "check_status"),
        # Chat drops the 我 at the start.
        ("想登记个投诉 那家4s店搞捆绑收费", "file_complaint"),
        # An opinion handed over, after the reasons; asking whom to give one to is a question.
        ("50年也太长了 我觉得30年就该算 我要把这个意见正式提给你们", "file_complaint"),
        ("把建议交给谁", "ask_knowledge"),
        # A wish said to the agency about something it runs but the list of its services does not name.
        ("家政信用查里要是能看到服务评价就更好了 你们琢磨琢磨", "file_complaint"),
        ("备案企业名单要是能放网上让老百姓查 心里就有底了 希望你们弄一下", "file_complaint"),
        ("提个想法 二手车备案这块能跟车管所数据打通", "file_complaint"),
        # 「…公开吧」 is no wish for a change, and 「十几张」 counts, it does not ask.
        ("就在这儿直接申请公开吧 我要你们去年处罚加油站的决定书", "apply_disclosure"),
        ("举报！那家超市发的购物卡现在不让用了 我手里还有十几张", "file_complaint"),
        ("你们应该多久答复", "ask_knowledge"),
    ],
)
def test_requests_in_everyday_words(text, expected):
    assert route(text, *ranked("ask_knowledge", 0.9)).intent == expected


@pytest.mark.parametrize(
    "text", ["外资企业投诉 什么情况下你们不受理", "我们以前办过外贸备案 现在想查当年的备案信息 几天能出结果"]
)
def test_how_things_usually_go_is_a_question_even_when_the_classifier_says_status(text):
    """「什么情况下」 asks on what terms, 「几天能出结果」 how long it usually takes: no case of one's own."""
    assert route(text, *ranked("check_status", 0.95)).intent == "ask_knowledge"
    assert route("我上周交的申请几天了还没结果", *ranked("check_status", 0.95)).intent == "check_status"

@pytest.mark.parametrize("intent", ["file_complaint", "apply_disclosure"])
def test_a_relayed_question_is_a_question_whatever_the_classifier_says(intent):
    """「朋友托我问：…」: what precedes the colon says it is a question, not a request."""
    assert route("朋友托我问：《信访工作条例》现在还有效吗？", *ranked(intent, 0.95)).intent == "ask_knowledge"
    assert route("朋友托我问：示例市商务局的文件里收费那部分说了啥，在线等", *ranked(intent, 0.95)).intent == "ask_knowledge"



def test_a_new_request_after_leaving_words_is_that_request():
    assert route("不投诉了，我要申请信息公开", *ranked("cancel_request", 0.9)).intent == "apply_disclosure"
    assert route("算了 我直接再申请一个政府信息公开", *ranked("cancel_request", 0.9)).intent == "apply_disclosure"


@pytest.mark.parametrize(
    "text", ["哎不弄了不弄了 太麻烦", "改天再说吧 要去接孩子了", "算了 老板刚打电话说给退了 不弄了", "没啥了不说了 你们忙吧", "那我先打12315试试 这边先不填了"]
)
def test_leaving_words_with_a_reason_leave(text):
    assert route(text, *ranked("ask_knowledge", 0.9)).intent == "cancel_request"


def test_leaving_words_with_a_question_are_a_question():
    assert route("不弄了 电话多少", *ranked("ask_knowledge", 0.9)).intent == "ask_knowledge"
    assert route("算了 不投诉了 我想问问备案要多久", *ranked("ask_knowledge", 0.9)).intent == "ask_knowledge"


def test_a_goodbye_is_not_leaving_a_request():
    assert route("没事了", *ranked("goodbye", 0.9)).intent == "goodbye"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("能不能把你们局去年的部门预算发我一份", "apply_disclosure"),
        ("我想要一份你们局2023年的部门决算", "apply_disclosure"),
        # Asking about applying, politely or not, stays a question.
        ("能不能问一下申请公开要多久", "ask_knowledge"),
        ("申请公开要多久", "ask_knowledge"),
    ],
)
def test_a_polite_request_for_a_document_is_a_request(text, expected):
    assert route(text, *ranked("apply_disclosure", 0.9)).intent == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("依申请公开的流程", True),  # a topic button pressed while the number is asked for
        ("GK261123482919", False),
        ("261123482919", False),
        ("回执号找不到了", False),  # the person has no number: offered a person instead
        ("好的", False),
    ],
)
def test_words_without_a_number_during_a_lookup_are_a_question(text, expected):
    assert is_question_during_form(text, "ask_knowledge", "tracking_number") is expected


def test_twelve_digits_complete_only_a_number_this_conversation_was_given():
    from bot.casework.case_desk import complete_tracking_number, digits_only_number

    assert digits_only_number("2611 2348 2919") == "261123482919"
    assert digits_only_number("GK261123482919") is None and digits_only_number("12345") is None
    assert complete_tracking_number("261123482919", ["GK261123482919", "TS261124000011"]) == "GK261123482919"
    assert complete_tracking_number("261123482919", []) is None
    assert complete_tracking_number("261123482919", ["GK261123482919", "TS261123482919"]) is None


@pytest.mark.parametrize("text", ["不交呢", "不去行吗", "不带身份证可以不"])
def test_a_no_that_asks_back_is_a_question(text):
    assert route(text, *ranked("deny", 0.9)).intent == "ask_knowledge"


@pytest.mark.parametrize("text", ["不用了", "不是", "好的"])
def test_a_plain_yes_or_no_stays_social(text):
    intent = "affirm" if text == "好的" else "deny"
    assert route(text, *ranked(intent, 0.9)).intent in (intent, "cancel_request")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("申请公开 我要2022年以来单用途预付卡备案企业的名单", "apply_disclosure"),
        ("把你们局2024年培训费支出明细给我整一份 纸质的寄我家", "apply_disclosure"),
        ("举报二手车市场 卖事故车说是无事故", "file_complaint"),
        ("建议：政务服务中心二楼加个饮水机", "file_complaint"),  # the form then asks 投诉还是建议
        ("你听不懂 换个人", "request_human"),
        ("叫你们负责的来", "request_human"),
        ("转rengong", "request_human"),
        ("上回那个事咋样了", "check_status"),
        ("我交的材料你们看了没", "check_status"),
        ("能帮我看看我前几天的申请通过没有吗", "check_status"),
    ],
)
def test_requests_said_in_their_own_words(text, expected):
    assert route(text, *ranked("ask_knowledge", 0.6)).intent == expected


@pytest.mark.parametrize(
    "text",
    [
        "申请公开的答复有几种",
        "依申请公开的办理流程",
        "申请公开要交啥材料",
        "想举报废品站 需要提供哪些证据",
        "人工客服几点上班",
        "没有回执号还能查进度吗",
        "不想跑腿 事项能网上办吗",
        "我要去窗口当面申请公开 周末去有人不",
        "投诉",
    ],
)
def test_questions_with_request_words_are_not_requests(text):
    decision = route(text, *ranked("ask_knowledge", 0.6))
    assert decision.intent in ("ask_knowledge", "nlu_fallback"), decision


def test_only_a_follow_up_that_leans_on_the_last_turn_is_searched_again_with_its_subject():
    from bot.understanding.follow_up import own_words, with_subject_if_it_helps

    subject = "对答复不服想申请复议，多少天内要提"
    assert with_subject_if_it_helps("那要是直接上法院呢 有没有时间限制啊", subject) == f"{subject}，那要是直接上法院呢 有没有时间限制啊"
    assert with_subject_if_it_helps("还有 直接去法院告的话期限是多久", subject) is not None
    assert with_subject_if_it_helps("去法院起诉政府有没有时间限制啊", subject) is None  # a full question of its own
    assert with_subject_if_it_helps("那要是直接上法院呢 有没有时间限制啊", None) is None
    assert with_subject_if_it_helps("传真呢", subject) is None  # elliptical: searched with the subject already
    assert "法院" in own_words("那要是直接上法院呢 有没有时间限制啊")
    assert not own_words("那要钱吗")


def test_can_you_give_me_a_document_is_a_question_not_a_status_query():
    """「涉及第三方隐私能不能给我」 asks whether such information is given out; only 「啥时候能给我（答复）」
    about one's own request asks for its progress."""
    from bot.understanding.routing import KNOWLEDGE, STATUS, route

    for text in ("我们单位想知道涉及第三方隐私能不能给我？？", "涉及第三方隐私的信息能不能给我"):
        assert route(text, "ask_knowledge", 0.9).intent == KNOWLEDGE, text
    for text in ("我申请的东西啥时候能给我 已经等了20多天了", "上个月交的申请 什么时候能给我答复"):
        assert route(text, "ask_knowledge", 0.9).intent == STATUS, text


def test_a_published_documents_name_is_not_an_application():
    """「公开」 is in most questions here; a document's name alone asks for it, it does not file for it."""
    assert route("示例市商务局2020年政务公开工作要点的全文", *ranked("apply_disclosure", 0.95)).intent == "ask_knowledge"
    assert route("申请公开2020年政务公开工作要点的附件", *ranked("apply_disclosure", 0.95)).intent == "apply_disclosure"


@pytest.mark.parametrize(
    "text, classifier, confidence, expected",
    [
        # A story with the agency's words but no request word: offered when the classifier is certain…
        ("小区门口的洗衣店收了我五百块充值 现在门都锁了", "file_complaint", 0.99, "nlu_fallback"),
        # …not when it is merely sure, when a clause asks, for a business to start, or for a status query.
        ("小区门口的洗衣店收了我五百块充值 现在门都锁了", "file_complaint", 0.9, "ask_knowledge"),
        ("商务局有公众号没 想关注一下", "file_complaint", 0.99, "ask_knowledge"),
        ("我想开个拍卖行", "file_complaint", 0.99, "ask_knowledge"),
        ("拍卖企业设立审批", "apply_disclosure", 0.99, "ask_knowledge"),
        ("外贸专项资金项目申报的通知", "apply_disclosure", 0.99, "ask_knowledge"),
        ("我驾照的分扣光了 你们给弄一下", "check_status", 0.99, "ask_knowledge"),
    ],
)
def test_a_certain_classifier_is_offered_without_request_words(text, classifier, confidence, expected):
    decision = route(text, *ranked(classifier, confidence))
    assert decision.intent == expected, decision
    assert decision.offer == (classifier if expected == "nlu_fallback" else None)
