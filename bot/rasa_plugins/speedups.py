"""Rasa 3.6 hot-path fixes, applied inside the Rasa server process (`install()`).

1. Every custom-action call ends with `RemoteAction._validate_action_result`, which calls
`jsonschema.validate(result, schema)`. With jsonschema 4.17 that first checks Rasa's (constant)
schema against the draft 2020-12 meta-schema — profiled at 50–190 ms per action call on this
machine, more than the knowledge answer itself — and then validates the response in ~3 ms.
Here the validator is built once; a response that fails still goes through Rasa's own method,
so the error and its message are exactly Rasa's.

2. `EndpointConfig.request` (every action-server call) opens a new aiohttp session, and with it a
new TCP connection, for each request (py-spy: ~4 ms of the Rasa process per call on a busy
machine, plus the action server's accept). Here each endpoint keeps one session per event loop and
reuses its connections; idle ones are dropped after KEEPALIVE_SECONDS, before Sanic's own 5-second
keep-alive timeout, so a request never goes out on a connection the server is closing. Everything
else (headers, auth, parameters, timeout, errors) is Rasa's code path.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from functools import lru_cache

log = logging.getLogger(__name__)
_installed = False
KEEPALIVE_SECONDS = 2.0
_SESSIONS = "_govbot_sessions"


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
    _install_shared_sessions()
    _installed = True
    log.debug("action-server responses validated with a prebuilt jsonschema validator")
    return True


def _shared_session(endpoint):
    """The endpoint's session for the running event loop (created with Rasa's settings)."""
    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    loop = asyncio.get_running_loop()
    sessions = endpoint.__dict__.setdefault(_SESSIONS, {})
    session = sessions.get(loop)
    if session is None or session.closed:
        auth = None
        if endpoint.basic_auth:
            auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
        session = aiohttp.ClientSession(
            headers=endpoint.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
        )
        for other in [l for l in sessions if l.is_closed()]:  # sessions of loops that are gone
            sessions.pop(other)
        sessions[loop] = session
    return session


async def close_session(endpoint) -> None:
    """Closes the endpoint's session of the running loop (Rasa's process simply exits with it open)."""
    session = endpoint.__dict__.get(_SESSIONS, {}).pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


def _install_shared_sessions() -> None:
    """Rasa 3.6.21's `EndpointConfig.request`, with a shared session instead of one per call."""
    from aiohttp import ContentTypeError
    from rasa.shared.exceptions import FileNotFoundException
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig, concat_url

    async def request(self, method="post", subpath=None, content_type="application/json", compress=False, **kwargs):
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if "headers" in kwargs:
            headers.update(kwargs["headers"])
            del kwargs["headers"]
        if self.headers:
            headers.update(self.headers)
        url = concat_url(self.url, subpath)
        sslcontext = None
        if self.cafile:
            try:
                sslcontext = ssl.create_default_context(cafile=self.cafile)
            except FileNotFoundError as e:
                raise FileNotFoundException(
                    f"Failed to find certificate file, '{self.cafile}' does not exist."
                ) from e
        session = _shared_session(self)
        async with session.request(
            method, url, headers=headers, params=self.combine_parameters(kwargs), compress=compress,
            ssl=sslcontext, **kwargs,
        ) as response:
            if response.status >= 400:
                raise ClientResponseError(response.status, response.reason, await response.content.read())
            try:
                return await response.json()
            except ContentTypeError:
                return None

    request.__doc__ = EndpointConfig.request.__doc__
    EndpointConfig.request = request
