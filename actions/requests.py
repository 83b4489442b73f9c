"""Formal requests in the chat: disclosure applications, complaints and suggestions, status, handoff.

Thin Rasa glue: checking answers lives in bot.casework.request_forms, delivery and status in bot.casework.case_desk,
and what these actions say in actions.texts.
Full ID numbers, phones and emails go to the draft store in the turn they are typed; slots keep
masked forms only (and the tracker store masks the message text too).
"""

from __future__ import annotations

import logging
import uuid
from abc import abstractmethod

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, FollowupAction, SlotSet

from bot.casework import request_forms as rf
from bot.casework.case_desk import (
    complete_tracking_number, digits_only_number, find_last4, find_tracking_number, get_case_desk, request_key,
)
from bot.handoff import ACTIVE, marker
from bot.handoff.hours import staffed_now
from bot.casework.request_kinds import HANDOFF
from bot.casework.tracking_numbers import plausible
from bot.knowledge.sources import load_agency
from bot.knowledge.published_index import get_service
from bot.understanding.routing import has_no_tracking_number, is_question_during_form
from bot.privacy.validation import redact
from actions import texts
from actions.knowledge_reply import answer_question

log = logging.getLogger(__name__)

REQUEST_SLOTS = (
    "applicant_type", "applicant_name", "credit_code", "id_type", "id_number", "phone", "email",
    "postal_address", "info_description", "delivery_form", "delivery_method", "complaint_type",
    "complaint_matter", "complaint_target", "anonymous", "contact_consent",
)
FORM_OF_KIND = {rf.DISCLOSURE: "disclosure_form", rf.COMPLAINT: "complaint_form", rf.SUGGESTION: "complaint_form"}


def _slots(tracker: Tracker) -> dict:
    return {name: tracker.get_slot(name) for name in REQUEST_SLOTS}


def _kind(tracker: Tracker) -> str | None:
    kind = tracker.get_slot("request_kind")
    if kind == rf.COMPLAINT and tracker.get_slot("complaint_type") == rf.SUGGESTION:
        return rf.SUGGESTION
    return kind


def _clear_request() -> list[dict]:
    return [SlotSet(name, None) for name in REQUEST_SLOTS] + [
        SlotSet("request_kind", None),
        SlotSet("request_instance", None),
        SlotSet("request_summary_digest", None),
        SlotSet("requested_slot", None),
    ]


def _show_summary(dispatcher, tracker: Tracker, kind: str, slots: dict, lead: str = "") -> list[dict]:
    """The summary with its buttons, remembered (as a slot, so only if Rasa records this turn) as seen."""
    dispatcher.utter_message(text=lead + rf.summary(kind, slots), buttons=texts.SUMMARY_BUTTONS)
    return [SlotSet("request_summary_digest", rf.summary_digest(kind, slots, tracker.get_slot("request_instance")))]


class _AnswersQuestions(FormValidationAction):
    """A plain question typed while the form waits for an answer is answered; the form then asks again."""

    @abstractmethod
    def name(self) -> str:
        """Each form's validation action names itself."""

    async def run(self, dispatcher, tracker, domain) -> list[dict]:
        slot = tracker.get_slot("requested_slot")
        text = tracker.latest_message.get("text") or ""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if is_question_during_form(text, intent, slot):
            return await answer_question(dispatcher, tracker, text, self._asked_about(tracker)) + [SlotSet(slot, None)]
        return await super().run(dispatcher, tracker, domain)

    def _asked_about(self, tracker: Tracker) -> str | None:
        """The request a question typed inside this form is about (「要钱吗」 during an application)."""
        return None


class _RequestValidation(_AnswersQuestions):
    """Shared checks; each answer that fails gets its hint and is asked again."""

    kind = rf.DISCLOSURE

    @abstractmethod
    def name(self) -> str:
        """Each form's validation action names itself (abstract: rasa_sdk skips registering this base)."""

    def _is_mine(self, kind: str | None) -> bool:
        """Whether a request of this kind is filled in by this form (a suggestion by the complaint form)."""
        return FORM_OF_KIND.get(kind) == FORM_OF_KIND[self.kind]

    def _form_kind(self, tracker: Tracker) -> str:
        """The tracker's kind when it belongs to this form, else this form's own kind."""
        kind = _kind(tracker)
        return kind if self._is_mine(kind) else self.kind

    def _asked_about(self, tracker: Tracker) -> str | None:
        return self._form_kind(tracker)

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        return rf.required_fields(self._form_kind(tracker), _slots(tracker))

    async def run(self, dispatcher, tracker, domain) -> list[dict]:
        """Also starts the request if its start was lost (its action server died mid-call): the form
        then still ends in a summary that 「确认提交」 can submit."""
        events = await super().run(dispatcher, tracker, domain)
        if not tracker.get_slot("request_instance") or not self._is_mine(tracker.get_slot("request_kind")):
            log.warning("form %s ran without its request start; starting the request now", self.name())
            events += [SlotSet("request_kind", self.kind), SlotSet("request_instance", uuid.uuid4().hex)]
        return events

    def _accept(self, check: rf.Check, slot: str, dispatcher, tracker, value) -> dict:
        if value is None:  # cleared on purpose (「修改」), not answered
            return {slot: None}
        if not check.ok and isinstance(value, str) and "*" in value and value == tracker.get_slot(slot):
            # A form re-validates filled slots when it restarts (「修改」); masked values were checked
            # when typed, and the submit step asks again if their full value is not in the draft store.
            return {slot: value}
        if not check.ok:
            dispatcher.utter_message(text=check.hint)
            return {slot: None}
        if check.private:
            get_case_desk().drafts.put(tracker.sender_id, slot, check.private)
        return {slot: check.value}

    def validate_applicant_name(self, value, dispatcher, tracker, domain):
        organisation = tracker.get_slot("applicant_type") == rf.ORGANISATION
        return self._accept(rf.check_name(value, organisation), "applicant_name", dispatcher, tracker, value)

    def validate_phone(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_phone(value), "phone", dispatcher, tracker, value)


class ValidateDisclosureForm(_RequestValidation):
    kind = rf.DISCLOSURE

    def name(self) -> str:
        return "validate_disclosure_form"

    def validate_applicant_type(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_applicant_type(value), "applicant_type", dispatcher, tracker, value)

    def validate_credit_code(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_credit_code(value), "credit_code", dispatcher, tracker, value)

    def validate_id_type(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_id_type(value), "id_type", dispatcher, tracker, value)

    def validate_id_number(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_id_number(value, tracker.get_slot("id_type")), "id_number", dispatcher, tracker, value)

    def validate_email(self, value, dispatcher, tracker, domain):
        required = tracker.get_slot("delivery_method") == "电子邮件"
        return self._accept(rf.check_email(value, required), "email", dispatcher, tracker, value)

    def validate_postal_address(self, value, dispatcher, tracker, domain):
        required = tracker.get_slot("delivery_method") == "邮寄"
        return self._accept(rf.check_postal_address(value, required), "postal_address", dispatcher, tracker, value)

    def validate_info_description(self, value, dispatcher, tracker, domain):
        if value is None:
            return {"info_description": None}
        check = rf.check_info_description(value)
        if not check.ok and rf.is_complaint_in_disguise(value):
            dispatcher.utter_message(text=check.hint, buttons=texts.COMPLAINT_IN_DISGUISE_BUTTONS)
            return {"info_description": None}
        return self._accept(check, "info_description", dispatcher, tracker, value)

    def validate_delivery_form(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_delivery_form(value), "delivery_form", dispatcher, tracker, value)

    def validate_delivery_method(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_delivery_method(value), "delivery_method", dispatcher, tracker, value)


class ValidateComplaintForm(_RequestValidation):
    kind = rf.COMPLAINT

    def name(self) -> str:
        return "validate_complaint_form"

    def _asked_about(self, tracker: Tracker) -> str | None:
        """Before 投诉还是建议 is answered, the message that opened the form tells (「我要投诉」). While
        the type is asked, its slot holds the question itself (from_text), not an answer."""
        if tracker.get_slot("requested_slot") != "complaint_type" and tracker.get_slot("complaint_type"):
            return self._form_kind(tracker)
        opening = next(
            (e.get("text") for e in reversed(tracker.events)
             if e.get("event") == "user" and (e.get("parse_data") or {}).get("intent", {}).get("name") == "file_complaint"),
            None,
        )
        check = rf.check_complaint_type(opening)
        return check.value if check.ok else None

    def validate_complaint_type(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_complaint_type(value), "complaint_type", dispatcher, tracker, value)

    def validate_complaint_matter(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_complaint_matter(value), "complaint_matter", dispatcher, tracker, value)

    def validate_complaint_target(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_complaint_target(value), "complaint_target", dispatcher, tracker, value)

    def validate_anonymous(self, value, dispatcher, tracker, domain):
        return self._accept(rf.check_anonymous(value), "anonymous", dispatcher, tracker, value)

    def validate_contact_consent(self, value, dispatcher, tracker, domain):
        check = rf.check_yes_no(value, texts.CONTACT_CONSENT_HINT)
        return self._accept(check, "contact_consent", dispatcher, tracker, value)


class ActionStartRequest(Action):
    """Remember which request this is and give it an instance id (its idempotency key derives from it)."""

    def name(self) -> str:
        return "action_start_request"

    async def run(self, dispatcher, tracker, domain) -> list[dict]:
        intent = tracker.latest_message.get("intent", {}).get("name")
        kind = rf.COMPLAINT if intent == "file_complaint" else rf.DISCLOSURE
        if kind == rf.COMPLAINT and tracker.get_slot("request_kind") == rf.DISCLOSURE:
            dispatcher.utter_message(text=rf.ART39_REASON + texts.ART39_TURNED_INTO_COMPLAINT)
        events = _clear_request() + [SlotSet("request_kind", kind), SlotSet("request_instance", uuid.uuid4().hex)]
        get_case_desk().drafts.forget(tracker.sender_id)
        if kind == rf.DISCLOSURE:
            dispatcher.utter_message(text=texts.DISCLOSURE_START)
        else:
            dispatcher.utter_message(text=texts.COMPLAINT_START)
        return events


class ActionRequestSummary(Action):
    def name(self) -> str:
        return "action_request_summary"

    async def run(self, dispatcher, tracker, domain) -> list[dict]:
        kind = _kind(tracker)
        if not kind:
            dispatcher.utter_message(text=texts.NO_REQUEST_TO_SUMMARISE)
            return []
        return _show_summary(dispatcher, tracker, kind, _slots(tracker))


class ActionSubmitRequest(Action):
    """Outbox first (committed), then delivery; a second 「确认提交」 reports the same request.

    Only what the person has seen is submitted: if the summary of exactly these answers is not on
    record (its turn was lost, or 「确认提交」 came before the form was complete), it is shown first.
    """

    def name(self) -> str:
        return "action_submit_request"

    async def run(self, dispatcher, tracker, domain) -> list[dict]:
        desk = get_case_desk()
        kind, instance = _kind(tracker), tracker.get_slot("request_instance")
        if not kind or not instance:
            last = tracker.get_slot("last_request_key")
            entry = await desk.outbox.astatus(last) if last else None
            if entry is not None and entry.tracking_number:
                dispatcher.utter_message(text=texts.already_submitted(entry.kind, entry.tracking_number))
            elif entry is not None:
                dispatcher.utter_message(text=texts.SUBMISSION_STILL_SAVING)
            else:
                dispatcher.utter_message(text=texts.NOTHING_TO_SUBMIT)
            return []
        slots = _slots(tracker)
        unanswered = [field for field in rf.required_fields(kind, slots) if slots.get(field) in (None, "")]
        if unanswered:
            dispatcher.utter_message(text=texts.FORM_NOT_COMPLETE)
            return [FollowupAction(FORM_OF_KIND[kind])]
        private = desk.drafts.get_all(tracker.sender_id)
        missing = rf.missing_private(kind, slots, private)
        if missing:
            dispatcher.utter_message(text=texts.retype_private_field(rf.FIELD_LABELS[missing[0]]))
            return [SlotSet(name, None) for name in missing] + [FollowupAction(FORM_OF_KIND[kind])]
        if tracker.get_slot("request_summary_digest") != rf.summary_digest(kind, slots, instance):
            return _show_summary(dispatcher, tracker, kind, slots, lead=texts.SUMMARY_BEFORE_SUBMITTING)
        channel = (tracker.get_latest_input_channel() or "rest")
        payload = rf.build_payload(kind, slots, private, channel, tracker.sender_id)
        if kind == rf.DISCLOSURE and payload["applicant"].get("phone") is None:
            dispatcher.utter_message(text=texts.PHONE_MISSING)
            return [SlotSet("phone", None), FollowupAction("disclosure_form")]
        key = request_key(tracker.sender_id, instance, kind)
        submission = await desk.submit(kind, payload, key)
        desk.drafts.forget(tracker.sender_id)
        dispatcher.utter_message(text=submission.text)
        return _clear_request() + [SlotSet("last_request_key", key)]


class ActionCorrectRequest(Action):
    """「修改」: which field? Then clear it and let the form ask it again."""

    def name(self) -> str:
        return "action_correct_request"

    async def run(self, dispatcher, tracker, domain) -> list[dict]:
        kind = _kind(tracker)
        if not kind:
            dispatcher.utter_message(text=texts.NOTHING_TO_CORRECT)
            return []
        slots = _slots(tracker)
        field = next(tracker.get_latest_entity_values("request_field"), None)
        if field not in rf.FIELD_LABELS:
            field = rf.field_named_in(tracker.latest_message.get("text"), kind)
        if not field:
            fields = rf.correctable_fields(kind, slots)
            dispatcher.utter_message(
                text=texts.WHICH_FIELD_TO_CORRECT,
                buttons=[
                    {"title": rf.FIELD_LABELS[f], "payload": f'/correct_request{{"request_field": "{f}"}}'}
                    for f in fields
                ],
            )
            return []
        events = [SlotSet(field, None)]
        if field == "applicant_type":  # a different applicant type asks for different proof of identity
            events += [SlotSet(f, None) for f in ("applicant_name", "credit_code", "id_type", "id_number")]
        if field == "id_type":
            events.append(SlotSet("id_number", None))
        if field == "delivery_method":
            events += [SlotSet("email", None), SlotSet("postal_address", None)]
        get_case_desk().drafts.forget(tracker.sender_id, field)
        dispatcher.utter_message(text=texts.provide_again(rf.FIELD_LABELS[field]))
        return events + [FollowupAction(FORM_OF_KIND[kind])]


class ActionCancelRequest(Action):
    def name(self) -> str:
        return "action_cancel_request"

    async def run(self, dispatcher, tracker, domain) -> list[dict]:
        desk = get_case_desk()
        kind, instance = _kind(tracker), tracker.get_slot("request_instance")
        entry = await desk.outbox.astatus(request_key(tracker.sender_id, instance, kind)) if kind and instance else None
        if entry is not None and entry.rejected:
            entry = None  # the case system refused it: nothing was filed, so cancelling is what it looks like
        if entry is not None:
            # Already confirmed (the turn that submitted it was lost): say so instead of promising otherwise.
            dispatcher.utter_message(text=texts.cannot_withdraw(entry.kind, entry.tracking_number))
        elif tracker.active_loop.get("name") == "status_form":
            dispatcher.utter_message(text=texts.STATUS_LOOKUP_CANCELLED)
        elif tracker.get_slot("request_kind") or tracker.active_loop.get("name"):
            dispatcher.utter_message(text=texts.REQUEST_CANCELLED)
        else:
            dispatcher.utter_message(text=texts.NOTHING_TO_CANCEL)
        desk.drafts.forget(tracker.sender_id)
        last = [SlotSet("last_request_key", entry.idempotency_key)] if entry is not None else []
        # A left look-up starts afresh next time: 「办到哪了」 asks for the number again.
        lookup = [SlotSet("tracking_number", None), SlotSet("phone_last4", None)]
        return [ActiveLoop(None)] + _clear_request() + lookup + last


class ActionAskTrackingNumber(Action):
    """Lists this conversation's requests first, so someone without the number still gets an answer."""

    def name(self) -> str:
        return "action_ask_tracking_number"

    async def run(self, dispatcher, tracker, domain) -> list[dict]:
        lines = await get_case_desk().conversation_requests(tracker.sender_id)
        dispatcher.utter_message(text=texts.ask_tracking_number(lines))
        return []


class ValidateStatusForm(_AnswersQuestions):
    def name(self) -> str:
        return "validate_status_form"

    async def validate_tracking_number(self, value, dispatcher, tracker, domain):
        number = find_tracking_number(value)
        digits = None if number else digits_only_number(value)
        if digits:  # typed without its letters: the number this conversation was given, if just one fits
            number = complete_tracking_number(digits, await get_case_desk().conversation_numbers(tracker.sender_id))
            if not number:
                dispatcher.utter_message(text=texts.DIGITS_ONLY)
                return {"tracking_number": None}
        if not number and has_no_tracking_number(value):
            dispatcher.utter_message(text=texts.NO_NUMBER, buttons=texts.NO_NUMBER_BUTTONS)
            return {"tracking_number": None}
        if not number:
            dispatcher.utter_message(text=texts.TRACKING_NUMBER_FORMAT)
            return {"tracking_number": None}
        if not plausible(number):  # a typo caught by the check digit costs none of the few allowed look-ups
            dispatcher.utter_message(text=texts.check_digit_mismatch(number))
            return {"tracking_number": None}
        return {"tracking_number": number}

    def validate_phone_last4(self, value, dispatcher, tracker, domain):
        digits = find_last4(value)
        if not digits:
            dispatcher.utter_message(text=texts.ASK_PHONE_LAST4)
            return {"phone_last4": None}
        return {"phone_last4": digits}


class ActionCheckStatus(Action):
    def name(self) -> str:
        return "action_check_status"

    async def run(self, dispatcher, tracker, domain) -> list[dict]:
        number, last4 = tracker.get_slot("tracking_number"), tracker.get_slot("phone_last4")
        if number and last4:
            dispatcher.utter_message(text=await get_case_desk().case_status(number, last4))
        return [SlotSet("tracking_number", None), SlotSet("phone_last4", None)]


def _surface(tracker: Tracker) -> dict:
    """Widget or kiosk (both socket.io), as the page says in the message metadata: the inbox shows it."""
    surface = (tracker.latest_message.get("metadata") or {}).get("surface")
    return {"surface": surface} if surface in ("widget", "kiosk") else {}


class ActionHandoff(Action):
    """转人工: a handoff case with the (masked) transcript, then the bot stays quiet until staff release it."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher, tracker, domain) -> list[dict]:
        desk = get_case_desk()
        transcript = [
            {"role": "user" if e.get("event") == "user" else "bot", "text": redact(e.get("text") or "")[:1000]}
            for e in tracker.events
            if e.get("event") in ("user", "bot") and e.get("text")
        ][-40:]
        payload = {
            "kind": HANDOFF.code,
            "channel": tracker.get_latest_input_channel() or "rest",
            "conversation_id": tracker.sender_id,
            "applicant": {},
            "request": {"reason": redact(tracker.latest_message.get("text") or ""), **_surface(tracker)},
            "transcript": transcript,
        }
        key = request_key(tracker.sender_id, uuid.uuid4().hex, HANDOFF.code)
        submission = await desk.submit(HANDOFF.code, payload, key)
        desk.drafts.forget(tracker.sender_id)
        agency = load_agency(get_service().settings.knowledge_dir)
        staffed = staffed_now(agency)
        text = (texts.handed_off if staffed else texts.handed_off_closed)(submission.tracking_number, agency)
        # The widget and kiosk show 「人工服务中」 from this marker (bot.handoff).
        custom = marker(ACTIVE)
        custom["data"]["staffed"] = staffed
        dispatcher.utter_message(text=text, json_message=custom)
        return [ActiveLoop(None)] + _clear_request() + [ConversationPaused()]
