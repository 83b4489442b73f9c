"""Issue 14 through Rasa's REST channel: routing that fails safe, forms that let people go,
follow-ups that keep their subject, the right field, and other agencies' business.

Every test reads what the person receives (reply text, buttons) and, where the path matters, the
tracker Rasa keeps (which form is active, which action ran).
"""

import uuid
from pathlib import Path

import pytest

from bot.knowledge.answering import TENTATIVE_LEAD
from bot.understanding.evaluation import load_cases, run_cases, summarise

pytestmark = pytest.mark.e2e

BLIND = Path(__file__).parent / "data" / "blind"
FAX = "0000-12345679"
FORMS = ("disclosure_form", "complaint_form", "status_form")


def sender() -> str:
    return f"und-{uuid.uuid4().hex[:8]}"


def reply_of(servers, user: str, text: str) -> tuple[str, list[dict]]:
    messages = servers.send(user, text)
    return "\n".join(m.get("text") or "" for m in messages), [b for m in messages for b in m.get("buttons") or []]


def turn_actions(servers, user: str) -> list[str]:
    events = servers.tracker(user)["events"]
    last_user = max(i for i, e in enumerate(events) if e.get("event") == "user")
    return [e.get("name") for e in events[last_user + 1:] if e.get("event") == "action"]


def active_loop(servers, user: str) -> str | None:
    return (servers.tracker(user).get("active_loop") or {}).get("name")


# --- 1. Routing that fails safe -------------------------------------------------------------


def test_opening_hours_question_is_answered_not_a_complaint(servers):
    user = sender()
    reply, _ = reply_of(servers, user, "你们几点开门")
    assert "9:00" in reply and "来源：" in reply, reply
    assert active_loop(servers, user) is None


def test_question_about_a_company_report_does_not_ask_for_a_tracking_number(servers):
    user = sender()
    reply, _ = reply_of(servers, user, "查一下隔壁公司交给你们的报表")
    assert "回执号" not in reply, reply
    assert active_loop(servers, user) is None
    assert "action_answer_knowledge" in turn_actions(servers, user)


@pytest.mark.parametrize("text", ["找个活人跟我说", "你这机器人说不明白 给我找个真人", "转人工", "有客服没", "想跟你们管这块的同志直接聊聊"])
def test_explicit_requests_for_a_person_reach_the_handoff(servers, text):
    user = sender()
    reply, _ = reply_of(servers, user, text)
    assert "action_handoff" in turn_actions(servers, user), reply
    assert "工作人员" in reply


def test_mentioning_staff_in_a_question_is_not_a_handoff(servers):
    user = sender()
    reply_of(servers, user, "你们做信息公开的工作人员是专职的吗")
    assert "action_handoff" not in turn_actions(servers, user)


def test_asking_whether_staff_will_fill_in_the_form_is_answered(servers):
    """The documents answer it (口头提出，代为填写); it is not a call for a person now."""
    user = sender()
    reply, _ = reply_of(servers, user, "字写不好 申请表工作人员能代填吗")
    assert "action_handoff" not in turn_actions(servers, user), reply
    assert "代为填写" in reply and "来源：" in reply, reply


def test_a_business_plan_is_answered_from_the_catalogue(servers):
    reply, _ = reply_of(servers, sender(), "我想开个拍卖行")
    assert "拍卖" in reply and "来源：" in reply, reply
    assert "不太确定" not in reply


@pytest.mark.parametrize(
    "question, item",
    [
        ("拍卖公司想开个分公司 要啥材料", "拍卖企业分公司设立审批"),  # the sibling named more narrowly
        ("拍卖行审批下来给个啥文书", "拍卖企业设立审批"),  # no change spoken of: not the 变更 item
        ("拍卖公司换法人了 要带啥", "拍卖企业变更审批"),
    ],
)
def test_the_item_a_question_means_among_its_siblings(servers, question, item):
    reply, _ = reply_of(servers, sender(), question)
    assert reply.startswith(f"【{item}（"), reply


def test_where_to_look_a_record_up_is_where_it_is_published(servers):
    reply, _ = reply_of(servers, sender(), "请保姆之前想查查她有没有不良记录 在哪查")
    assert "家政信用查" in reply and "家政服务机构信用信息审核" in reply, reply


def test_a_one_word_contact_question_is_answered(servers):
    reply, _ = reply_of(servers, sender(), "传真多少")
    assert FAX in reply and "来源：《示例市商务局政府信息公开指南》" in reply, reply


def test_a_long_message_that_starts_with_a_greeting_is_answered(servers):
    user = sender()
    reply, _ = reply_of(servers, user, "你好，我想问下信息公开申请一般多久答复")
    assert "20个工作日" in reply, reply
    assert "utter_greet" not in turn_actions(servers, user)


def test_a_question_framed_by_a_greeting_and_who_asks_is_searched_without_the_frame(servers):
    text = "老师您好，我是示例大学公共管理专业的研二学生，正在写商务部门信息公开的毕业论文，想请问贵局有没有可以咨询公开工作问题的电子邮箱？谢谢！"
    reply, _ = reply_of(servers, sender(), text)
    assert "gongkai@example.gov.cn" in reply, reply


def test_short_social_phrases_still_get_a_social_reply(servers):
    user = sender()
    reply_of(servers, user, "你好")
    assert "utter_greet" in turn_actions(servers, user)
    reply_of(servers, user, "谢谢")
    assert "utter_thank" in turn_actions(servers, user)


def test_a_question_about_applying_is_answered_not_a_form(servers):
    user = sender()
    reply, _ = reply_of(servers, user, "申请公开要多久答复")
    assert "20个工作日" in reply, reply
    assert active_loop(servers, user) is None


def test_asking_for_the_application_site_is_answered_not_a_form(servers):
    """「网上申请…」 reads like wanting to apply, but the message asks for the address of the site."""
    user = sender()
    reply, _ = reply_of(servers, user, "网上申请公开的网址发我下")
    assert "swj.example.gov.cn" in reply and "来源：" in reply, reply
    assert active_loop(servers, user) is None


def test_a_doubtful_request_is_asked_about_with_buttons_and_the_button_starts_the_form(servers):
    user = sender()
    reply, buttons = reply_of(servers, user, "我想投诉你们局信息公开不作为，怎么弄")
    assert "您是想现在就登记投诉或建议吗" in reply, reply
    assert active_loop(servers, user) not in FORMS  # only Rasa's clarification loop, no form yet
    payloads = [b["payload"] for b in buttons]
    assert payloads[:2] == ["/file_complaint", "/ask_knowledge"], payloads
    reply, _ = reply_of(servers, user, "/file_complaint")
    assert active_loop(servers, user) == "complaint_form", reply


def test_a_story_the_classifier_is_certain_of_is_offered_as_a_complaint(servers):
    user = sender()
    reply, buttons = reply_of(servers, user, "小区门口的洗衣店收了我五百块充值 现在门都锁了")
    assert "您是想现在就登记投诉或建议吗" in reply, reply
    assert [b["payload"] for b in buttons][:2] == ["/file_complaint", "/ask_knowledge"], buttons
    assert active_loop(servers, user) not in FORMS


def test_anger_at_the_agency_is_offered_as_a_complaint(servers):
    user = sender()
    reply, buttons = reply_of(servers, user, "你们这审批拖了俩月 也太不像话了")
    assert "您是想现在就登记投诉或建议吗" in reply, reply
    assert [b["payload"] for b in buttons][0] == "/file_complaint", buttons


@pytest.mark.parametrize(
    "text",
    [
        "物业公司乱收停车费 我要你们处理他们",  # a complaint by its words
        "开发票的事税务那边一直卡着我 你们替我去说说",  # a request the classifier alone would offer with buttons
    ],
)
def test_a_grievance_that_is_another_agencys_business_is_referred_not_registered(servers, text):
    user = sender()
    reply, buttons = reply_of(servers, user, text)
    assert "不在示例市商务局的办理范围内" in reply and "来源：" not in reply, reply
    assert not buttons and active_loop(servers, user) is None


def test_the_clarification_answers_the_question_when_the_person_says_so(servers):
    user = sender()
    reply_of(servers, user, "我想投诉你们局信息公开不作为，怎么弄")
    reply, _ = reply_of(servers, user, "/ask_knowledge")
    assert "来源：" in reply and active_loop(servers, user) is None, reply


def test_a_clear_request_starts_its_form(servers):
    user = sender()
    reply_of(servers, user, "我要举报一家回收站乱收费")
    assert active_loop(servers, user) == "complaint_form"


# --- Forms never trap a person ---------------------------------------------------------------


def test_a_question_inside_a_form_is_answered_and_the_form_asks_again(servers):
    user = sender()
    reply_of(servers, user, "我要申请政府信息公开")
    assert active_loop(servers, user) == "disclosure_form"
    reply, _ = reply_of(servers, user, "对了 你们传真多少")
    assert FAX in reply, reply
    assert reply.strip().endswith("请问您以什么身份申请？"), reply
    assert active_loop(servers, user) == "disclosure_form"
    reply, _ = reply_of(servers, user, "公民")
    assert "姓名" in reply  # the form goes on where it was


def test_a_question_inside_the_complaint_form_is_about_the_complaint(servers):
    """「一般多久给回话」 asked before 投诉还是建议 is answered: the complaint item's time limit (the form's
    own request, knowledge/agency.yml), not the disclosure regulation's 20 working days."""
    user = sender()
    reply_of(servers, user, "我要投诉")
    assert active_loop(servers, user) == "complaint_form"
    reply, _ = reply_of(servers, user, "投诉了一般多久给回话")
    assert "商务领域投诉举报受理" in reply and "承诺办结时限5个工作日" in reply, reply
    assert "第三十三条" not in reply
    assert reply.strip().endswith("您是要投诉，还是提建议？"), reply
    reply_of(servers, user, "投诉")
    assert servers.tracker(user)["slots"]["complaint_type"] == "complaint"


def test_a_question_inside_the_application_form_is_searched_as_the_applications(servers):
    """「不写用途行不行」 during an application: 用途 is not the prepaid card's (单用途) fee."""
    user = sender()
    reply_of(servers, user, "我要申请政府信息公开")
    reply, _ = reply_of(servers, user, "不写用途行不行")
    assert "第二十九条" in reply and "单用途" not in reply, reply
    assert reply.strip().endswith("请问您以什么身份申请？"), reply


def test_a_description_that_reads_like_a_question_is_taken_as_the_description(servers):
    """The information wanted is often written as a question; it must fill the form, not be answered."""
    user = sender()
    for text in ("我要申请政府信息公开", "公民", "张三", "居民身份证", "11010519491231002X", "13800138000"):
        reply_of(servers, user, text)
    reply, _ = reply_of(servers, user, "你们局2020年的部门预算是多少")
    assert "获取信息" in reply or "形式" in reply, reply
    assert servers.tracker(user)["slots"]["info_description"] == "你们局2020年的部门预算是多少"


@pytest.mark.parametrize("leave", ["算了", "不办了", "取消", "哎呀不弄了不弄了 费劲", "下次再说吧 我得去上班了"])
def test_cancel_words_leave_a_form_at_any_step(servers, leave):
    user = sender()
    reply_of(servers, user, "我要投诉")
    reply_of(servers, user, "投诉")
    reply, _ = reply_of(servers, user, leave)
    assert active_loop(servers, user) is None, reply
    assert "action_cancel_request" in turn_actions(servers, user)


def test_a_left_status_lookup_forgets_its_number(servers):
    user = sender()
    reply_of(servers, user, "我的申请办到哪了")
    reply, _ = reply_of(servers, user, "GK261123482919")
    reply, _ = reply_of(servers, user, "取消")
    assert "已取消进度查询" in reply and "不会提交" not in reply, reply
    assert servers.tracker(user)["slots"]["tracking_number"] is None
    reply, _ = reply_of(servers, user, "我的申请办到哪了")
    assert "回执号" in reply and "最后4位" not in reply, reply


def test_a_question_during_a_lookup_is_answered_and_the_number_asked_again(servers):
    user = sender()
    reply_of(servers, user, "我的申请办到哪了")
    reply, _ = reply_of(servers, user, "依申请公开的办理流程")
    assert "来源：" in reply and "回执号由两个字母" not in reply, reply
    assert "回执号" in reply and active_loop(servers, user) == "status_form"


def test_a_new_request_leaves_the_status_form(servers):
    user = sender()
    reply_of(servers, user, "查一下我之前那个申请办得咋样了")
    assert active_loop(servers, user) == "status_form"
    reply, _ = reply_of(servers, user, "不查了 我要申请政府信息公开")
    assert active_loop(servers, user) == "disclosure_form", reply
    assert "回执号由两个字母" not in reply


def test_leaving_words_before_a_new_request_start_it(servers):
    user = sender()
    reply_of(servers, user, "我要投诉")
    reply, _ = reply_of(servers, user, "算了 我还是直接申请一个政府信息公开吧")
    assert active_loop(servers, user) == "disclosure_form", reply


def test_a_new_request_leaves_the_complaint_form(servers):
    user = sender()
    reply_of(servers, user, "我要投诉")
    assert active_loop(servers, user) == "complaint_form"
    reply, _ = reply_of(servers, user, "不投诉了，我要申请信息公开")
    assert active_loop(servers, user) == "disclosure_form", reply
    assert "第二十九条" in reply


@pytest.mark.parametrize(
    "text, action",
    [
        ("申请都交了二十天了 催一下", "status_form"),
        ("有没有真人在", "action_handoff"),
        ("举报：楼下超市卖过期食品", "complaint_form"),
        ("行 我现在就申请 要你们2025年给超市发的促消费补贴名单", "disclosure_form"),
        # A story first, then what is wanted: the earlier rhetorical question does not make it one.
        ("隔壁水果店天天缺斤短两 这还有没有王法了 我要举报他们", "complaint_form"),
        ("健身房老板卷钱跑了 卡里还剩两千 麻烦给我登记一下", "complaint_form"),
        ("想要你们局2023年的政府采购合同清单，扫描件发我邮箱就行", "disclosure_form"),
        ("我半个月前投诉的那个洗衣店 现在有结果了没", "status_form"),
        # Said without the request's own words: a wished change, a grievance to act on, a record to hand over.
        ("你们大厅的叫号屏字太小 换个大点的吧", "complaint_form"),
        ("买的二手车被调了表 车行不认账 你们来人查查", "complaint_form"),
        ("你们去年批的那几家典当行的审批材料 抄一份给我", "disclosure_form"),
        ("能不能考虑把窗口午休时间缩短点", "complaint_form"),
        ("请把那家公司备案时交给你们的材料调出来给我", "disclosure_form"),
        ("能不能叫个懂行的来跟我说", "action_handoff"),
        # A suggestion stays one though a word of another agency's business is in it (退休).
        ("退休老师一个 公告字太小了 希望出个大字版", "complaint_form"),
        # 车+过户 is a referral topic, but 二手车 is this agency's item.
        ("二手车市场乱收过户服务费 我得跟你们反映反映", "complaint_form"),
        # A wish said to the agency about something the list of what it runs does not name.
        ("家政信用查里要是能看到服务评价就更好了 你们琢磨琢磨", "complaint_form"),
    ],
)
def test_requests_in_everyday_words_start_their_action(servers, text, action):
    user = sender()
    reply, _ = reply_of(servers, user, text)
    assert action in turn_actions(servers, user), reply


def test_someone_without_a_tracking_number_is_offered_a_person(servers):
    user = sender()
    reply_of(servers, user, "我的申请办到哪了")
    reply, buttons = reply_of(servers, user, "回执号找不到了")
    assert "转人工服务" in reply and "/request_human" in [b["payload"] for b in buttons], reply
    reply, _ = reply_of(servers, user, "/request_human")
    assert "action_handoff" in turn_actions(servers, user), reply


# --- 3. Follow-ups keep their subject ---------------------------------------------------------


def test_an_elliptical_follow_up_keeps_the_document_subject(servers):
    user = sender()
    reply, _ = reply_of(servers, user, "你们信息公开那边的电话多少")
    assert "0000-12345678" in reply, reply
    reply, _ = reply_of(servers, user, "传真呢")
    assert FAX in reply, reply


# Each turn: what the person says, what the reply must contain and what it must not.
ITEM_FOLLOW_UPS = {
    "keeps_the_item": [("预付卡备案要交啥材料", ("资金存管协议",), ()), ("要钱吗", ("SW-BA-002", "不收费"), ())],
    # 「那干洗店呢」 after 理发店's materials asks for 洗染业's materials, and so does naming 洗染业 again;
    # the next 「要钱不」 is about 洗染业.
    "same_question_about_another_item": [
        ("开理发店备案要准备啥", ("SW-BA-009", "美容美发业经营者备案表"), ()),
        ("那干洗店呢", ("SW-BA-008", "洗染业经营者备案表"), ("办理时限",)),
        ("那洗衣店呢", ("SW-BA-008", "洗染业经营者备案表"), ("办理时限",)),  # the same item named again
        ("要钱不", ("SW-BA-008", "不收费"), ()),
    ],
    # 「批下来的证能给寄过来吗」 names no item: it asks how 拍卖分公司's result is delivered.
    "field_asked_of_nothing_else": [
        ("拍卖企业分公司设立审批要交哪些材料", ("SW-XK-002",), ()),
        ("批下来的证能给寄过来吗", ("SW-XK-002", "邮寄送达"), ()),
    ],
}


@pytest.mark.parametrize("turns", ITEM_FOLLOW_UPS.values(), ids=ITEM_FOLLOW_UPS.keys())
def test_follow_ups_after_a_service_item_answer(servers, turns):
    user = sender()
    for text, expected, absent in turns:
        reply, _ = reply_of(servers, user, text)
        assert all(e in reply for e in expected) and not any(a in reply for a in absent), (text, reply)


def test_a_longer_follow_up_that_finds_nothing_alone_is_searched_with_its_subject(servers):
    """「那要是直接上法院呢 有没有时间限制啊」 after 复议 is too long to count as elliptical and finds
    nothing alone; it starts like a follow-up, so it is searched again with the subject: 6个月内."""
    user = sender()
    reply, _ = reply_of(servers, user, "对答复不服想申请复议，多少天内要提")
    assert "60日内" in reply, reply
    reply, _ = reply_of(servers, user, "那要是直接上法院呢 有没有时间限制啊")
    assert "6个月内" in reply and "来源：" in reply, reply
    # A follow-up about something the subject's passages never mention is not answered from them.
    reply, _ = reply_of(servers, user, "那要是我想改个公司名字 需要去哪个部门办理呢")
    assert "行政诉讼" not in reply and "行政复议" not in reply, reply


def test_a_follow_up_about_part_of_the_answer_keeps_its_subject(servers):
    """「其中…」 asks about part of what was just answered: Anhui's 2017 applications, not any other."""
    user = sender()
    reply, _ = reply_of(servers, user, "安徽商务厅2017年收到多少信息公开申请")
    assert "36件" in reply, reply
    reply, _ = reply_of(servers, user, "其中有多少是网上提交的")
    assert "网络申请数35件" in reply and "安徽省商务厅" in reply, reply


def test_a_follow_up_that_finds_nothing_sure_alone_stays_in_the_answers_document(servers):
    """「回应社会关切这块是哪个科负责」 after 楚雄's plan: alone it finds a ministry's plan that shares the
    words; the last answer's document has the section, and its 「商务运行科牵头」 answers 哪个科."""
    user = sender()
    reply, _ = reply_of(servers, user, "楚雄州商务局 出了大的突发事件多久要开发布会")
    assert "24小时内" in reply, reply
    reply, _ = reply_of(servers, user, "回应社会关切这块是哪个科负责")
    assert "商务运行科牵头" in reply and "楚雄州商务局" in reply and TENTATIVE_LEAD not in reply, reply


def test_a_new_full_question_drops_the_subject(servers):
    user = sender()
    reply_of(servers, user, "预付卡备案要交啥材料")
    reply, _ = reply_of(servers, user, "政府信息公开申请一般多少个工作日答复")
    assert "SW-BA-002" not in reply and "20个工作日" in reply, reply


# --- 4. The right field, or say so ------------------------------------------------------------


@pytest.mark.parametrize(
    "question, deadline",
    [("特许经营合同签了以后几天内要备案", "15日内"), ("预付卡业务开展后多久要去备案", "30日内")],
)
def test_the_applicants_own_deadline_is_not_the_processing_time(servers, question, deadline):
    reply, _ = reply_of(servers, sender(), question)
    assert deadline in reply, reply
    assert "办理时限" not in reply, reply


def test_the_processing_time_is_still_answered_as_such(servers):
    reply, _ = reply_of(servers, sender(), "加盟备案交上去多久能办好")
    assert "办理时限" in reply and "工作日" in reply, reply


def test_a_deadline_the_record_does_not_state_is_said_plainly(servers):
    messages = servers.send(sender(), "美容美发店备案 拿到执照以后多久之内要备")
    reply = "\n".join(m.get("text") or "" for m in messages)
    assert "没有写明" in reply and "SW-BA-009" in reply, reply


@pytest.mark.parametrize("question, code, label", [
    ("拍卖经营批准证书有效期几年", "SW-XK-001", "有效期"),
    ("今年商务发展专项资金申报哪天截止", "SW-GG-006", "截止日期"),
    ("对外劳务合作经营资格要缴的备用金数额是多少", "SW-XK-006", "具体数额"),
    ("二手车经纪备案 公司地址变了 多少天内要去更新", "SW-BA-011", "变更"),
    ("预付卡备案要是过了30天还没去办 罚多少钱", "SW-BA-002", "处罚"),  # not the fee (不收费)
])
def test_a_fact_the_catalogue_has_no_field_for_is_said_to_be_missing(servers, question, code, label):
    """Not the neighbouring field (the certificate's name, the window's opening hours) as if it answered."""
    messages = servers.send(sender(), question)
    reply = "\n".join(m.get("text") or "" for m in messages)
    assert "没有写明" in reply and label in reply and code in reply and "来源：" in reply, reply


def test_what_no_document_states_is_said_so_over_rest_and_counted_as_not_found(servers):
    """「办事大厅门口能停车吗」: the window's address is shown as the closest, not as the answer."""
    user = sender()
    reply, _ = reply_of(servers, user, "办事大厅门口能停车吗")
    assert reply.startswith("没有找到写明停车安排") and "商务窗口" in reply and "来源：" in reply, reply
    said = [e for e in servers.tracker(user)["events"] if e.get("event") == "bot"][-1]
    assert said["metadata"]["knowledge"]["found"] is False


def test_a_question_just_under_the_answer_threshold_gets_the_closest_passage_as_possibly_related(servers, knowledge_service):
    """Colloquial questions about the agency's business often embed just under the answer threshold:
    the closest passage is quoted and cited, introduced as possibly not what was asked, and recorded
    as such for staff review; further away it is still 「没有找到」 with nothing cited."""
    settings = knowledge_service.settings
    near, far = "答复结果能发我邮箱不 懒得跑", "结果能弄成电子的发给我不"
    assert settings.tentative_threshold <= knowledge_service.search(near, top_k=1)[0].closeness < settings.answer_threshold
    assert knowledge_service.search(far, top_k=1)[0].closeness < settings.tentative_threshold
    user = sender()
    reply, _ = reply_of(servers, user, near)
    assert reply.startswith(TENTATIVE_LEAD) and "来源：" in reply and "没有找到" not in reply, reply
    said = [e for e in servers.tracker(user)["events"] if e.get("event") == "bot"][-1]
    assert said["metadata"]["knowledge"]["tentative"] is True and said["metadata"]["knowledge"]["found"] is True
    reply, _ = reply_of(servers, sender(), far)
    assert "没有找到" in reply and "来源：" not in reply and TENTATIVE_LEAD not in reply, reply


def test_asking_what_a_term_of_the_documents_means_gets_the_passage_that_uses_it(servers):
    """「三同步是个啥」 carries little but the term: not 「没有找到」, but the plan that sets the rule, cited."""
    reply, _ = reply_of(servers, sender(), "三同步是个啥")
    assert "三同步" in reply and "来源：" in reply and "没有找到" not in reply, reply
    reply, _ = reply_of(servers, sender(), "公积金是啥")  # not a term of this agency's documents
    assert "来源：" not in reply, reply


def test_the_sentence_that_states_the_asked_figure_is_quoted(servers):
    """A long passage: the quoted sentences are those the question asks for, even in other words
    (「砍掉了多少」 → 「从82项减少至53项」)."""
    reply, _ = reply_of(servers, sender(), "商务部审批的事项砍掉了多少，现在还剩几项")
    assert "从82项减少至53项" in reply and "来源：《商务部积极推进政务公开》" in reply, reply


def test_a_question_put_to_the_agency_is_answered_from_its_own_guide(servers):
    """「你们局」: the guide names where to complain (示例市人民政府), not only the regulation's rule."""
    reply, _ = reply_of(servers, sender(), "对你们局的信息公开工作有意见，能去哪儿投诉")
    assert "示例市人民政府" in reply and "来源：《示例市商务局政府信息公开指南》" in reply, reply


def test_conditions_are_not_answered_with_materials(servers):
    reply, _ = reply_of(servers, sender(), "拍卖企业设立审批需要什么条件")
    assert "受理条件" in reply and "申请材料" not in reply, reply


def test_a_question_that_merely_contains_the_application_is_not_the_item_card(servers):
    reply, _ = reply_of(servers, sender(), "我不是本地人 在外地上学 也能找你们申请公开吗")
    assert "【政府信息公开申请（SW-GG-010）】" not in reply, reply


# --- 5. Out of scope means no citation --------------------------------------------------------


@pytest.mark.parametrize(
    "question, agency",
    [("驾驶证到期在哪换", "车管所"), ("社保断了仨月 咋补缴", "社会保障"), ("饭店的营业执照在哪办 要带啥", "市场监督管理"),
     # The classifier may take it for chit-chat; the routing gate knows it from referrals.yml.
     ("住房公积金咋取出来", "公积金"),
     # A grievance about food hygiene is the market regulator's, not a complaint registered here.
     ("我要举报隔壁饭馆 后厨脏得没法看", "市场监督管理")],
)
def test_other_agencies_business_gets_a_referral_without_a_citation(servers, question, agency):
    messages = servers.send(sender(), question)
    reply = "\n".join(m.get("text") or "" for m in messages)
    assert agency in reply and "12345" in reply, reply
    assert "来源：" not in reply, reply
    assert not any(m.get("buttons") for m in messages)


def test_messages_in_traditional_characters_are_understood_like_simplified_ones(servers):
    """繁體字: the classifier, the routing words, the referral list and the catalogue read them too."""
    referral, _ = reply_of(servers, sender(), "護照過期了在哪裡換")
    assert "出入境" in referral and "来源：" not in referral, referral
    answer, _ = reply_of(servers, sender(), "請問外商投資企業年報什麼時候報")
    assert "6月30日" in answer and "来源：" in answer, answer
    user = sender()
    servers.send(user, "我要申請政府信息公開")
    assert active_loop(servers, user) == "disclosure_form"
    # Only the reading is simplified: the conversation keeps what was typed, and a name stays as written.
    servers.send(user, "公民")
    servers.send(user, "陳大文")
    tracker = servers.tracker(user)
    assert tracker["slots"]["applicant_name"] == "陳大文", tracker["slots"]
    typed = [e.get("text") for e in tracker["events"] if e.get("event") == "user"]
    assert "我要申請政府信息公開" in typed and "陳大文" in typed, typed


def test_an_item_question_that_mentions_another_agencys_licence_stays_with_the_item(servers):
    reply, _ = reply_of(servers, sender(), "预付卡备案要营业执照吗")
    assert "SW-BA-002" in reply and "营业执照" in reply, reply


# --- The blind set, held-out half (read only to report; never tuned on) ----------------------


@pytest.fixture(scope="module")
def heldout_report(servers):
    import asyncio

    cases = load_cases(sorted(BLIND.glob("conversations_*.yml")), "heldout")
    assert len(cases) >= 100
    return summarise(asyncio.run(run_cases(servers.rasa_url, servers.rasa_token, cases, rest_token=servers.rest_token)))


def test_blind_heldout_conversations_end_right(heldout_report):
    """Floors a little below what was measured (sets A, B and C, even halves: 66.1%; see README)."""
    assert heldout_report.rate >= 0.63, "\n".join(heldout_report.lines())


def test_blind_heldout_routing(heldout_report):
    assert heldout_report.questions_misrouted / heldout_report.questions < 0.03, heldout_report.lines()
    assert heldout_report.requests_missed / heldout_report.requests < 0.20, heldout_report.lines()
