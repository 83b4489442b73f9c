"""Per-sender rate limiting: the limiter itself (memory and real Redis) and each public channel of the stack."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.channels.guard import EMPTY_TEXT
from bot.access.rate_limit import RATE_LIMITED_TEXT, RateLimitConfig, SenderRateLimiter
from tests.conftest import require_redis
from tests.test_wechat_channel import WeChat, openid, text_xml

PER_MINUTE = 30  # the default; the stack runs without GOVBOT_RATE_LIMIT_PER_MINUTE


def channel() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # own keys: never collides with other tests sharing Redis


def test_memory_limiter_counts_each_sender_on_each_channel_separately():
    limiter = SenderRateLimiter(RateLimitConfig(per_minute=3))
    rest = channel()
    assert [limiter.allow(rest, "a") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.allow(rest, "b") and limiter.allow("wechat", "a")
    assert 1 <= limiter.retry_after(rest, "a") <= 61
    limiter.reset()
    assert limiter.allow(rest, "a")


def test_zero_turns_it_off_and_bad_settings_are_refused():
    limiter = SenderRateLimiter(RateLimitConfig(per_minute=0))
    assert all(limiter.allow("rest", "a") for _ in range(100))
    assert RateLimitConfig.from_env({}) == RateLimitConfig(PER_MINUTE, "memory://")
    assert RateLimitConfig.from_env({"GOVBOT_RATE_LIMIT_PER_MINUTE": "5"}).per_minute == 5
    for bad in ({"GOVBOT_RATE_LIMIT_PER_MINUTE": "-1"}, {"GOVBOT_RATE_LIMIT_PER_MINUTE": "many"},
                {"GOVBOT_RATE_LIMIT_STORAGE": "mongodb://127.0.0.1"}):
        with pytest.raises(ValueError, match="GOVBOT_RATE_LIMIT"):
            RateLimitConfig.from_env(bad)


def test_redis_counts_are_shared_by_replicas():
    require_redis("redis://127.0.0.1:6379/0")  # without it the limiter lets everything through
    config = RateLimitConfig(per_minute=4, storage_url="redis://127.0.0.1:6379/0")
    replica_a, replica_b = SenderRateLimiter(config), SenderRateLimiter(config)
    name = channel()
    assert replica_a.allow(name, "u") and replica_b.allow(name, "u") and replica_a.allow(name, "u")
    assert asyncio.run(replica_b.allow_async(name, "u"))
    assert not replica_a.allow(name, "u") and not asyncio.run(replica_b.allow_async(name, "u"))
    assert replica_b.allow(name, "someone-else")


def test_unreachable_redis_lets_messages_through(caplog):
    limiter = SenderRateLimiter(RateLimitConfig(per_minute=1, storage_url="redis://127.0.0.1:1/0"))
    assert limiter.allow("rest", "u") and limiter.allow("rest", "u")
    assert "限流计数不可用" in caplog.text


# --- the channels of the running stack ------------------------------------------------------


@pytest.mark.e2e
def test_rest_sender_over_the_limit_gets_a_polite_429(default_stack):
    who, other = f"rl-{uuid.uuid4().hex[:8]}", f"rl-{uuid.uuid4().hex[:8]}"
    for _ in range(PER_MINUTE):  # empty messages count too, and are answered without running the bot
        response = default_stack.rest({"sender": who, "message": ""})
        assert response.status_code == 200 and response.json()[0]["text"] == EMPTY_TEXT
    limited = default_stack.rest({"sender": who, "message": "你好"})
    assert limited.status_code == 429
    assert limited.json() == [{"recipient_id": who, "text": RATE_LIMITED_TEXT}]
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert [e for e in default_stack.tracker(who)["events"] if e["event"] == "user"] == []
    assert "您好" in "".join(default_stack.texts(other, "你好"))  # other people are not affected: greeted, not limited


@pytest.mark.e2e
def test_wechat_user_over_the_limit_gets_a_polite_reply(default_stack):
    wechat = WeChat(f"{default_stack.rasa_url}/webhooks/wechat/webhook", default_stack.wechat_token, "",
                    rasa_token=default_stack.rasa_token)
    user = openid()
    for _ in range(PER_MINUTE):
        assert wechat.reply(wechat.post(text_xml(user, " "))).content == EMPTY_TEXT
    assert wechat.reply(wechat.post(text_xml(user, "你好"))).content == RATE_LIMITED_TEXT
    assert wechat.user_events(user) == []


@pytest.mark.e2e
def test_socketio_session_over_the_limit_gets_a_polite_reply(default_stack):
    from tests.test_bad_input import _socket_conversation

    payloads = [{"message": ""}] * PER_MINUTE + [{"message": "你好"}]
    session, results = asyncio.run(_socket_conversation(default_stack.rasa_url, payloads, quiet=0.3))
    assert all(replies[0]["text"] == EMPTY_TEXT for replies in results[:PER_MINUTE])
    assert [m["text"] for m in results[-1]] == [RATE_LIMITED_TEXT]
    assert [e for e in default_stack.tracker(session)["events"] if e["event"] == "user"] == []
