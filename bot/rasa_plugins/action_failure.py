"""A clear Chinese reply when an action fails inside the Rasa server, instead of silence.

Rasa 3.6 logs any exception from an action (action server down or restarting, a timeout, a broken
response), drops the action's events and carries on; the person gets no reply at all and cannot
tell whether their message arrived. Here the failed action's only event is an apology asking them
to send the message again, so a widget, kiosk or WeChat user always hears back. The action's own
events are still lost, exactly as in Rasa (nothing half-done is recorded); ActionExecutionRejection,
which Rasa uses for control flow in forms, passes through untouched.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

FAILURE_REPLY = "抱歉，系统刚才没能处理完您的这条消息。请稍后把刚才的话再发一次；如果一直不行，可以拨打咨询电话。"
FAILED_ACTION_KEY = "govbot_action_failed"


class _ApologisingAction:
    """Wraps one action for one run: the same action, but a failure becomes FAILURE_REPLY."""

    def __init__(self, action) -> None:
        self._action = action

    def __getattr__(self, name):
        return getattr(self._action, name)

    async def run(self, output_channel, nlg, tracker, domain):
        from rasa.core.actions.action import ActionExecutionRejection
        from rasa.shared.core.events import BotUttered

        try:
            return await self._action.run(output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise
        except Exception:
            log.exception(
                "action %r failed; its events are lost and the person is asked to send the message again",
                self._action.name(),
            )
            if _apologised_this_turn(tracker):  # the next predicted action failed too: one apology is enough
                return []
            return [BotUttered(text=FAILURE_REPLY, metadata={FAILED_ACTION_KEY: self._action.name()})]


def _apologised_this_turn(tracker) -> bool:
    from rasa.shared.core.events import BotUttered, UserUttered

    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered) and FAILED_ACTION_KEY in (event.metadata or {}):
            return True
    return False


def install() -> bool:
    """Patches MessageProcessor (once per process); says whether the patch is in place."""
    try:
        from rasa.core.processor import MessageProcessor
    except ImportError:  # not inside a Rasa process
        return False
    if MessageProcessor._run_action.__module__ != __name__:
        MessageProcessor._run_action = _apologising(MessageProcessor._run_action)
    return True


def _apologising(run_action):
    async def _run_action(self, action, tracker, output_channel, nlg, prediction):
        return await run_action(self, _ApologisingAction(action), tracker, output_channel, nlg, prediction)

    return _run_action
