"""What a request must contain and how typed answers become fields (no Rasa needed)."""

import pytest

from bot.casework import request_forms as rf

ID_NUMBER = "11010519491231002X"


def test_a_citizen_is_asked_for_identity_an_organisation_for_its_credit_code():
    citizen = rf.required_fields(rf.DISCLOSURE, {"applicant_type": rf.CITIZEN})
    organisation = rf.required_fields(rf.DISCLOSURE, {"applicant_type": rf.ORGANISATION})
    assert "id_number" in citizen and "credit_code" not in citizen
    assert "credit_code" in organisation and "id_number" not in organisation
    assert "purpose" not in citizen  # Art. 29 (2019) does not ask for the purpose


@pytest.mark.parametrize(
    "method, extra", [("电子邮件", "email"), ("邮寄", "postal_address"), ("当面领取", None), ("网上获取", None)]
)
def test_contact_fields_follow_the_chosen_way_of_delivery(method, extra):
    fields = rf.required_fields(rf.DISCLOSURE, {"applicant_type": rf.CITIZEN, "delivery_method": method})
    assert ("email" in fields) == (extra == "email")
    assert ("postal_address" in fields) == (extra == "postal_address")


def test_an_anonymous_suggestion_asks_for_no_contact_details():
    fields = rf.required_fields(rf.COMPLAINT, {"complaint_type": rf.SUGGESTION, "anonymous": "匿名"})
    assert "phone" not in fields and "applicant_name" not in fields
    complaint = rf.required_fields(rf.COMPLAINT, {"complaint_type": rf.COMPLAINT})
    assert "phone" in complaint and "anonymous" not in complaint


def test_personal_numbers_are_masked_in_the_slot_and_kept_whole_for_the_case_system():
    check = rf.check_id_number(f" {ID_NUMBER.lower()} ", rf.RESIDENT_ID)
    assert check.ok and check.value == "1101**********002X" and check.private == ID_NUMBER
    phone = rf.check_phone("138-1234-5678")
    assert phone.value == "138****5678" and phone.private == "13812345678"


@pytest.mark.parametrize(
    "checker, text, hint_word",
    [
        (lambda t: rf.check_id_number(t, rf.RESIDENT_ID), "110105194912310021", "校验"),
        (lambda t: rf.check_id_number(t, rf.RESIDENT_ID), "1101051949", "18位"),
        (rf.check_phone, "12345", "11位"),
        (lambda t: rf.check_email(t, True), "跳过", "电子邮箱"),
        (lambda t: rf.check_postal_address(t, True), "没有", "收件地址"),
        (rf.check_info_description, "文件", "具体"),
        (rf.check_applicant_type, "随便", "公民"),
        (rf.check_delivery_method, "飞鸽传书", "邮寄"),
        (lambda t: rf.check_name(t), "123456", "姓名"),
    ],
)
def test_bad_answers_get_a_specific_chinese_hint(checker, text, hint_word):
    result = checker(text)
    assert not result.ok and hint_word in result.hint


def test_other_documents_are_not_held_to_the_resident_id_rules():
    assert rf.check_id_number("E1234", "护照").ok
    assert not rf.check_id_number("E1234", rf.RESIDENT_ID).ok


def test_a_complaint_dressed_as_an_application_is_recognised():
    result = rf.check_info_description("我要举报某超市卖过期食品，要求你们查处")
    assert not result.ok and "第三十九条" in result.hint
    assert rf.check_info_description("2020年本局行政处罚决定书的目录").ok


@pytest.mark.parametrize(
    "text, field",
    [("手机号填错了", "phone"), ("身份证号输错了", "id_number"), ("改一下地址", "postal_address"), ("修改", None)],
)
def test_which_field_to_correct(text, field):
    assert rf.field_named_in(text, rf.DISCLOSURE) == field


def test_payload_takes_full_numbers_from_the_draft_store_and_summary_shows_masked_ones():
    slots = {
        "applicant_type": rf.CITIZEN, "applicant_name": "张三", "id_type": rf.RESIDENT_ID,
        "id_number": "1101**********002X", "phone": "138****5678", "info_description": "2020年工作要点",
        "delivery_form": "电子", "delivery_method": "网上获取",
    }
    private = {"id_number": ID_NUMBER, "phone": "13812345678"}
    payload = rf.build_payload(rf.DISCLOSURE, slots, private, "rest", "c1")
    assert payload["applicant"]["id_number"] == ID_NUMBER and payload["applicant"]["phone"] == "13812345678"
    assert set(payload) == {"kind", "channel", "conversation_id", "applicant", "request"}
    summary = rf.summary(rf.DISCLOSURE, slots)
    assert "1101**********002X" in summary and ID_NUMBER not in summary
    assert rf.missing_private(rf.DISCLOSURE, slots, {}) == ["id_number", "phone"]
    assert rf.missing_private(rf.DISCLOSURE, slots, private) == []


def test_draft_store_keeps_full_numbers_per_conversation_until_forgotten(tmp_path):
    from bot.casework.drafts import DraftStore
    from bot.casework.outbox import make_engine

    store = DraftStore(make_engine(f"sqlite:///{tmp_path / 'drafts.db'}"))
    store.put("c1", "id_number", ID_NUMBER)
    store.put("c1", "id_number", "11010519491231002X")  # typed again: replaced, not duplicated
    store.put("c1", "phone", "13812345678")
    store.put("c2", "phone", "13900001111")
    assert store.get_all("c1") == {"id_number": ID_NUMBER, "phone": "13812345678"}
    store.forget("c1", "phone")
    assert store.get_all("c1") == {"id_number": ID_NUMBER}
    store.forget("c1")
    assert store.get_all("c1") == {} and store.get_all("c2") == {"phone": "13900001111"}


@pytest.mark.parametrize(
    "text, number", [("gk 2026 1123 0001", "GK202611230001"), ("回执号是TS202611230012", "TS202611230012"), ("12345", None)]
)
def test_tracking_numbers_are_found_in_what_people_type(text, number):
    from bot.casework.case_desk import find_tracking_number

    assert find_tracking_number(text) == number


def test_summary_digest_changes_with_any_answer_and_with_the_request():
    slots = {"complaint_type": rf.SUGGESTION, "complaint_matter": "希望按月份归档", "complaint_target": "门户网站",
             "anonymous": "匿名"}
    digest = rf.summary_digest(rf.SUGGESTION, slots, "instance-1")
    assert digest == rf.summary_digest(rf.SUGGESTION, dict(slots), "instance-1")
    assert digest != rf.summary_digest(rf.SUGGESTION, {**slots, "complaint_target": "政务大厅"}, "instance-1")
    assert digest != rf.summary_digest(rf.SUGGESTION, slots, "instance-2")
    assert digest != rf.summary_digest(rf.COMPLAINT, {**slots, "complaint_type": rf.COMPLAINT}, "instance-1")


def test_a_chosen_value_passes_its_own_check_again():
    # Forms re-check the answers they hold when they start again (「修改」, or a lost turn).
    for check, answer in ((rf.check_complaint_type, "我想提个建议"), (rf.check_complaint_type, "投诉"),
                          (rf.check_applicant_type, "以公司名义"), (rf.check_anonymous, "匿名"),
                          (rf.check_delivery_form, "要纸质的"), (rf.check_delivery_method, "发邮件")):
        first = check(answer)
        assert first.ok
        again = check(first.value)
        assert again.ok and again.value == first.value, (answer, first.value, again)

