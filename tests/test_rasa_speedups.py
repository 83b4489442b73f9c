"""The Rasa-process fix keeps Rasa's own validation result: good responses pass, bad ones raise."""

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

import bot.rasa_plugins.tracker_store  # noqa: F401  (loading the store installs the fix, as in Rasa)
from bot.rasa_plugins import speedups as rasa_speedups


def test_loading_the_tracker_store_installs_the_fix():
    assert rasa_speedups.install() is True
    assert RemoteAction._validate_action_result.__module__ == "bot.rasa_plugins.speedups"


def test_a_valid_response_passes():
    action = RemoteAction("action_answer_knowledge", None)
    assert action._validate_action_result({"events": [], "responses": [{"text": "您好"}]})


def test_an_invalid_response_still_raises_rasas_error():
    action = RemoteAction("action_answer_knowledge", None)
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": "not a list", "responses": []})


def test_endpoint_requests_reuse_one_connection_and_keep_rasas_errors():
    """Rasa's EndpointConfig.request against a real HTTP server: same answers and errors, one connection."""
    import asyncio

    from aiohttp import web
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig

    peers, seen = [], []

    async def webhook(request):
        peers.append(request.transport.get_extra_info("peername")[1])
        seen.append((request.headers.get("X-Token"), request.query.get("token"), await request.json()))
        if (await request.json()).get("fail"):
            return web.Response(status=500, text="boom")
        return web.json_response({"events": [], "responses": [{"text": "好"}]})

    async def scenario():
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"X-Token": "t"}, token="abc")
            answers = [await endpoint.request(json={"n": i}, method="post", timeout=30) for i in range(3)]
            with pytest.raises(ClientResponseError) as error:
                await endpoint.request(json={"fail": True}, method="post")
            await rasa_speedups.close_session(endpoint)
            return answers, error.value
        finally:
            await runner.cleanup()

    answers, error = asyncio.run(scenario())
    assert answers == [{"events": [], "responses": [{"text": "好"}]}] * 3
    assert error.status == 500 and error.text == b"boom"
    assert seen[0] == ("t", "abc", {"n": 0})
    assert len(set(peers)) == 1  # one TCP connection for all four requests


def test_the_failed_action_reply_is_installed_once():
    from rasa.core.processor import MessageProcessor

    from bot.rasa_plugins import action_failure as rasa_action_failure

    assert rasa_action_failure.install() is True
    patched = MessageProcessor._run_action
    assert patched.__module__ == "bot.rasa_plugins.action_failure"
    assert rasa_action_failure.install() is True and MessageProcessor._run_action is patched
