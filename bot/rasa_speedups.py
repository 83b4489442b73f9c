"""Rasa 3.6 hot-path fix, applied inside the Rasa server process (`install()`).

Every custom-action call ends with `RemoteAction._validate_action_result`, which calls
`jsonschema.validate(result, schema)`. With jsonschema 4.17 that first checks Rasa's (constant)
schema against the draft 2020-12 meta-schema — profiled at 50–190 ms per action call on this
machine, more than the knowledge answer itself — and then validates the response in ~3 ms.
Here the validator is built once; a response that fails still goes through Rasa's own method,
so the error and its message are exactly Rasa's.
"""

from __future__ import annotations

import logging
from functools import lru_cache

log = logging.getLogger(__name__)
_installed = False


@lru_cache(maxsize=1)
def _action_response_validator():
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    return validator_for(schema)(schema)


def install() -> bool:
    """Patches RemoteAction once per process; says whether it is now in place."""
    global _installed
    if _installed:
        return True
    try:
        from rasa.core.actions.action import RemoteAction
    except ImportError:  # not inside a Rasa process
        return False
    original = RemoteAction._validate_action_result

    def _validate_action_result(self, result):
        if _action_response_validator().is_valid(result):
            return True
        return original(self, result)  # raises Rasa's own ValidationError

    RemoteAction._validate_action_result = _validate_action_result
    _installed = True
    log.debug("action-server responses validated with a prebuilt jsonschema validator")
    return True
