"""The WeChat channel's Redis-shared state (bot/channels/wechat_shared_state.py) on a real Redis.

Two stores with the same key prefix stand for two Rasa replicas. Each test has its own prefix and
deletes its keys. The channel-level tests drive two WeChatInput instances with a stand-in bot (a
coroutine that counts its runs), so the join across "replicas" is checked without Rasa processes;
tests/test_wechat_scaleout.py does the same with real replicas.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest

from bot.channels.wechat import WeChatConfig, WeChatConfigError, WeChatInput
from bot.channels.wechat_format import Option
from bot.channels.wechat_shared_state import (
    OWNER_LOST,
    Decision,
    RedisOptionMemory,
    RedisReplayGuard,
    RedisRetryLedger,
    RedisStore,
    SharedWeChatState,
)
from bot.channels.wechat_state import PASSIVE, PUSH, OptionMemory, ReplayGuard
from tests.conftest import require_redis

REDIS_URL = "redis://127.0.0.1:6379/1"
DEAD_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
TIMEOUT = 30  # seconds any one test may take


@pytest.fixture
def prefix():
    """A key prefix of this test's own on the real Redis; its keys are deleted afterwards."""
    import redis

    require_redis(REDIS_URL)
    name = f"wxtest{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


def keys(prefix: str) -> dict[str, int]:
    """Every key under the prefix with its remaining time to live."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    return {k.decode(): client.ttl(k) for k in client.scan_iter(f"{prefix}:*")}


# --- the state classes -----------------------------------------------------------------------


def test_a_replayed_pair_is_refused_by_every_replica(prefix):
    async def scenario():
        a, b = RedisStore(REDIS_URL, prefix), RedisStore(REDIS_URL, prefix)
        guard_a = RedisReplayGuard(a, ReplayGuard(300), tolerance=300)
        guard_b = RedisReplayGuard(b, ReplayGuard(300), tolerance=300)
        try:
            assert await guard_a.first_time("1700000000", "nonce-1")
            assert not await guard_b.first_time("1700000000", "nonce-1")
            assert not await guard_a.first_time("1700000000", "nonce-1")
            assert await guard_b.first_time("1700000000", "nonce-2")
            assert await guard_b.first_time("1700000001", "nonce-1")
        finally:
            await a.close()
            await b.close()
        return a.failures + b.failures

    assert run(scenario()) == 0
    stored = keys(prefix)
    assert len(stored) == 3 and all(k.startswith(f"{prefix}:wechat:replay:") for k in stored)
    assert all(0 < ttl <= 660 for ttl in stored.values())  # 2 × tolerance + 60


def test_options_offered_on_one_replica_are_picked_once_on_another(prefix):
    async def scenario():
        a, b = RedisStore(REDIS_URL, prefix), RedisStore(REDIS_URL, prefix)
        memory_a = RedisOptionMemory(a, OptionMemory())
        memory_b = RedisOptionMemory(b, OptionMemory())
        offered = [Option("申请政府信息公开", "/apply_disclosure"), Option("转人工服务", "/request_human")]
        try:
            await memory_a.remember("oUser", offered)
            assert 0 < keys(prefix)[f"{prefix}:wechat:options:oUser"] <= 3600
            assert await memory_b.take("oUser", 2) == offered[1]
            assert await memory_a.take("oUser", 1) is None  # used up
            await memory_a.remember("oUser", offered)
            assert await memory_b.take("oUser", 3) is None  # no such number: the offer is used up too
            assert await memory_a.take("oUser", 1) is None
            await memory_a.remember("oUser", offered)
            await memory_b.remember("oUser", [])  # an answer without options withdraws the offer
            assert await memory_a.take("oUser", 1) is None
        finally:
            await a.close()
            await b.close()

    run(scenario())
    assert keys(prefix) == {}


def test_a_retry_on_another_replica_reads_the_passive_reply(prefix):
    async def scenario():
        a, b = RedisStore(REDIS_URL, prefix), RedisStore(REDIS_URL, prefix)
        owner, other = RedisRetryLedger(a), RedisRetryLedger(b)
        try:
            assert await owner.claim("oUser:1")
            assert not await other.claim("oUser:1") and not await owner.claim("oUser:1")

            async def bot():
                await asyncio.sleep(0.3)
                return await owner.decide("oUser:1", Decision(PASSIVE, "答复正文"))

            decided, read = await asyncio.gather(bot(), other.settle("oUser:1", 3.0))
            assert decided == read == Decision(PASSIVE, "答复正文")
            assert await other.settle("oUser:1", 0) == Decision(PASSIVE, "答复正文")  # later retries too
        finally:
            await a.close()
            await b.close()

    run(scenario())
    stored = keys(prefix)
    assert list(stored) == [f"{prefix}:wechat:turn:oUser:1"] and 0 < stored[f"{prefix}:wechat:turn:oUser:1"] <= 600


def test_a_replica_that_gives_up_waiting_makes_the_owner_push(prefix):
    async def scenario():
        a, b = RedisStore(REDIS_URL, prefix), RedisStore(REDIS_URL, prefix)
        owner, other = RedisRetryLedger(a), RedisRetryLedger(b)
        try:
            assert await owner.claim("oUser:2")
            started = time.monotonic()
            assert await other.settle("oUser:2", 0.3) is None  # nothing decided in time: `success`
            assert 0.2 <= time.monotonic() - started < 2
            # The owner wanted a passive reply, but its reader is gone: the answer is pushed, once.
            assert await owner.decide("oUser:2", Decision(PASSIVE, "答复正文")) == Decision(PUSH)
            assert await other.settle("oUser:2", 0) == Decision(PUSH)
        finally:
            await a.close()
            await b.close()

    run(scenario())
    assert set(keys(prefix)) == {f"{prefix}:wechat:turn:oUser:2", f"{prefix}:wechat:push:oUser:2"}


def test_a_claim_lives_while_renewed_and_expires_when_its_owner_dies(prefix):
    async def scenario():
        a, b = RedisStore(REDIS_URL, prefix), RedisStore(REDIS_URL, prefix)
        owner, other = RedisRetryLedger(a, lease=1), RedisRetryLedger(b, lease=1)
        try:
            assert await owner.claim("oUser:3")

            async def alive_for(seconds: float) -> None:
                for _ in range(int(seconds / 0.3)):
                    await asyncio.sleep(0.3)
                    assert await owner.renew("oUser:3")

            # Renewed past its 1-second lease: the retry waits and gives up as usual (`success`).
            _, waited = await asyncio.gather(alive_for(2.0), other.settle("oUser:3", 1.6))
            assert waited is None
            # Then the owner dies (no more renewals): the next retry sees the claim expire and may take over.
            started = time.monotonic()
            assert await other.settle("oUser:3", 5.0) is OWNER_LOST
            assert time.monotonic() - started < 2.5
            assert await other.claim("oUser:3") and not await owner.renew("oUser:3")
        finally:
            await a.close()
            await b.close()

    run(scenario())


def test_without_redis_everything_falls_back_to_this_process(caplog):
    async def scenario():
        store = RedisStore(DEAD_URL, "wxdead")
        guard = RedisReplayGuard(store, ReplayGuard(300), tolerance=300)
        options = RedisOptionMemory(store, OptionMemory())
        ledger = RedisRetryLedger(store)
        started = time.monotonic()
        assert await guard.first_time("1", "n") and not await guard.first_time("1", "n")
        await options.remember("oUser", [Option("A", "/a")])
        assert await options.take("oUser", 1) == Option("A", "/a")
        assert await ledger.claim("oUser:3")  # every replica runs its own deliveries
        assert await ledger.decide("oUser:3", Decision(PASSIVE, "x")) == Decision(PASSIVE, "x")
        assert await ledger.settle("oUser:3", 0.1) is None
        elapsed = time.monotonic() - started
        await store.close()
        return store.failures, elapsed

    with caplog.at_level(logging.WARNING, logger="bot.channels.wechat_shared_state"):
        failures, elapsed = run(scenario())
    assert failures == 7 and elapsed < 3  # one failed connection, then memory without retrying
    warnings = [r for r in caplog.records if "Redis" in r.getMessage()]
    assert len(warnings) == 1 and "暂用本进程内存" in warnings[0].getMessage()


def test_storage_setting():
    assert WeChatConfig.from_env({}).state_storage == "memory://"
    config = WeChatConfig.from_env(
        {"WECHAT_TOKEN": "t", "GOVBOT_WECHAT_STATE_STORAGE": REDIS_URL, "GOVBOT_REDIS_KEY_PREFIX": "gb",
         "GOVBOT_REDIS_PASSWORD": "pw-7f3a"}
    )
    assert (config.state_storage, config.redis_key_prefix) == (REDIS_URL, "gb") and "pw-7f3a" not in repr(config)
    with pytest.raises(WeChatConfigError, match="GOVBOT_WECHAT_STATE_STORAGE"):
        WeChatConfig.from_env({"WECHAT_TOKEN": "t", "GOVBOT_WECHAT_STATE_STORAGE": "mongodb://127.0.0.1"})
    assert SharedWeChatState.create("memory://", "gb", "", ReplayGuard(1), OptionMemory(), 1) is None
    assert WeChatInput(WeChatConfig(token="t")).shared is None  # the default keeps everything in memory


# --- two channel instances sharing Redis, with a stand-in bot ------------------------------------


class CountingBot:
    """Plays Rasa for the channel: answers every message after `delay` seconds and counts runs."""

    def __init__(self, delay: float, buttons: bool = False) -> None:
        self.delay, self.buttons, self.texts = delay, buttons, []

    async def __call__(self, message) -> None:
        self.texts.append(message.text)
        await asyncio.sleep(self.delay)
        if self.buttons:
            await message.output_channel.send_text_with_buttons(
                message.sender_id, "您可以：", [{"title": "申请政府信息公开", "payload": "/apply_disclosure"}]
            )
        else:
            await message.output_channel.send_text_message(message.sender_id, f"答复：{message.text}")


def replica(prefix: str, deadline: float) -> tuple[WeChatInput, list]:
    """A channel instance as one Rasa replica has it; pushes are recorded instead of sent."""
    config = WeChatConfig(token="t", reply_deadline=deadline, state_storage=REDIS_URL, redis_key_prefix=prefix)
    channel = WeChatInput(config)
    pushed: list = []

    async def push(user, msg_id, parts):
        pushed.append((user, msg_id, parts))

    channel._push = push
    return channel, pushed


async def deliver(channel: WeChatInput, bot, user: str, msg_id: str, text: str):
    started = asyncio.get_running_loop().time()
    return await channel._answer(user, msg_id, text, "text", started, bot)


async def drain(*channels: WeChatInput) -> None:
    for channel in channels:
        if channel._background:
            await asyncio.wait(set(channel._background), timeout=10)
        await channel.shared.store.close()


def test_a_retry_on_another_replica_joins_the_first_delivery(prefix):
    async def scenario():
        (a, pushed_a), (b, pushed_b) = replica(prefix, 4.0), replica(prefix, 4.0)
        bot = CountingBot(delay=0.5)
        first = asyncio.create_task(deliver(a, bot, "oUser", "10", "问题"))
        await asyncio.sleep(0.1)
        retry = await deliver(b, bot, "oUser", "10", "问题")
        again = await deliver(b, bot, "oUser", "10", "问题")  # the third try, after the answer
        replies = [await first, retry, again]
        await drain(a, b)
        return bot.texts, replies, pushed_a + pushed_b

    texts, replies, pushed = run(scenario())
    assert texts == ["问题"] and replies == ["答复：问题"] * 3 and pushed == []


def test_a_retry_that_cannot_wait_gets_success_and_one_push(prefix):
    async def scenario():
        (a, pushed_a), (b, pushed_b) = replica(prefix, 4.0), replica(prefix, 0.2)
        bot = CountingBot(delay=1.0)
        first = asyncio.create_task(deliver(a, bot, "oUser", "11", "问题"))
        await asyncio.sleep(0.1)
        retry = await deliver(b, bot, "oUser", "11", "问题")  # B's deadline passes first
        replies = [await first, retry]
        await drain(a, b)
        return bot.texts, replies, pushed_a, pushed_b

    texts, replies, pushed_a, pushed_b = run(scenario())
    assert texts == ["问题"] and replies == [None, None]  # both answer `success`
    assert pushed_a == [("oUser", "11", ["答复：问题"])] and pushed_b == []


def dead_owner_claims(prefix: str, key: str, lease: int) -> None:
    """A replica that claimed a message and then died: its claim, never renewed or decided."""
    async def claim():
        store = RedisStore(REDIS_URL, prefix)
        try:
            assert await RedisRetryLedger(store, lease=lease).claim(key)
        finally:
            await store.close()

    run(claim())


def test_a_retry_takes_over_a_message_whose_owner_died(prefix):
    dead_owner_claims(prefix, "oUser:30", lease=3)

    async def scenario():
        b, pushed = replica(prefix, 8.0)
        bot = CountingBot(delay=0.1)
        claimed = f"{prefix}:wechat:turn:oUser:30" in keys(prefix)  # still the dead replica's
        reply = await deliver(b, bot, "oUser", "30", "问题")
        await drain(b)
        return claimed, bot.texts, reply, pushed

    claimed, texts, reply, pushed = run(scenario())
    assert claimed
    assert texts == ["问题"] and reply == "答复：问题" and pushed == []  # B ran the bot and answered passively


def test_a_message_whose_owner_died_after_a_retry_gave_up_is_pushed_by_the_next_retry(prefix):
    dead_owner_claims(prefix, "oUser:31", lease=3)

    async def scenario():
        (b, pushed_b), (c, pushed_c) = replica(prefix, 0.2), replica(prefix, 8.0)
        bot = CountingBot(delay=0.1)
        claimed = f"{prefix}:wechat:turn:oUser:31" in keys(prefix)
        gave_up = await deliver(b, bot, "oUser", "31", "问题")  # `success`: WeChat stops waiting…
        await asyncio.sleep(3.2)  # …the owner's claim expires…
        retry = await deliver(c, bot, "oUser", "31", "问题")  # …and WeChat's next try reaches C
        await drain(b, c)
        return claimed, bot.texts, [gave_up, retry], pushed_b, pushed_c

    claimed, texts, replies, pushed_b, pushed_c = run(scenario())
    assert claimed
    assert texts == ["问题"] and replies == [None, None]
    assert pushed_b == [] and pushed_c == [("oUser", "31", ["答复：问题"])]  # pushed once, by C


def test_options_and_replays_across_channel_instances(prefix):
    async def scenario():
        (a, _), (b, _) = replica(prefix, 4.0), replica(prefix, 4.0)
        offering, following = CountingBot(0, buttons=True), CountingBot(0)
        offer = await deliver(a, offering, "oUser", "20", "住房公积金怎么提取")
        picked = await deliver(b, following, "oUser", "21", "1")
        seen = [await a._first_time("1700000000", "n"), await b._first_time("1700000000", "n")]
        await drain(a, b)
        return offer, picked, following.texts, seen

    offer, picked, texts, seen = run(scenario())
    assert "回复 1：申请政府信息公开" in offer
    assert texts == ["/apply_disclosure"] and picked == "答复：/apply_disclosure"
    assert seen == [True, False]
