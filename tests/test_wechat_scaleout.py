"""The 微信公众号 channel on two Rasa replicas sharing Redis (production profile), end to end.

One stack (tests/scaleout_stack.py: PostgreSQL tracker store, Redis lock store, case service, one
action server, two Rasa replicas) with the WeChat channel on and GOVBOT_WECHAT_STATE_STORAGE in
Redis under the stack's key prefix. wechatpy-signed requests go straight to one replica or the
other, as a round-robin balancer would send WeChat's retries; pushed answers reach a fake WeChat
API on loopback (tests/test_wechat_channel.py).

Replica A has the normal passive-reply deadline, replica B a deadline of 0: B can never wait for
an answer, which makes the path "a retry gives up waiting, the owner pushes" deterministic.
"""

from __future__ import annotations

import secrets
import threading
import time

import pytest
import redis

from tests.scaleout_stack import REDIS_HOST, REDIS_LOCK_DB, REDIS_PORT, ROOT, ProductionStack, require_services_and_clear
from tests.test_wechat_channel import (
    CITATION,
    KNOWLEDGE_QUESTION,
    FakeWeChatApi,
    WeChat,
    message_xml,
    msg_id,
    openid,
    text_xml,
)

pytestmark = [pytest.mark.scaleout, pytest.mark.e2e]

# In scope, answered by no document: the not-found reply with its numbered options (another
# agency's business such as 住房公积金 gets a referral instead).
NOT_FOUND_QUESTION = "你们局里有没有招聘公务员的计划"

ARTIFACTS = ROOT / "tests" / "artifacts" / "wechat-scaleout"
HOOK = "/webhooks/wechat/webhook"
QUIET = 3.0  # seconds to watch for a second (wrong) push after the first one


@pytest.fixture(scope="module")
def stack(rasa_model):
    require_services_and_clear(ARTIFACTS)
    token, app_id, secret = secrets.token_hex(16), "wx" + secrets.token_hex(8), secrets.token_hex(16)
    api = FakeWeChatApi(app_id, secret)
    api.start()
    wechat_env = dict(
        WECHAT_TOKEN=token, WECHAT_APP_ID=app_id, WECHAT_APP_SECRET=secret, WECHAT_API_BASE=api.url,
        GOVBOT_WECHAT_STATE_STORAGE=f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_LOCK_DB}",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )
    running = ProductionStack(ARTIFACTS, rasa_replicas=2, action_replicas=1, model=rasa_model, extra_env=wechat_env)
    running.rasas[1].env = dict(running.rasas[1].env, WECHAT_REPLY_DEADLINE="0")
    try:
        with running:
            a, b = (
                WeChat(f"{running.replica_url(i)}{HOOK}", token, app_id, rasa_token=running.rasa_token) for i in (0, 1)
            )
            yield dict(stack=running, a=a, b=b, api=api, redis=redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_LOCK_DB))
    finally:
        api.stop()


def turn_key(stack: dict, user: str, mid: int) -> str:
    return f"{stack['stack'].redis_prefix}:wechat:turn:{user}:{mid}"


def user_texts(stack: dict, user: str) -> list[str]:
    tracker = stack["stack"].tracker(user)
    return [e["text"] for e in tracker["events"] if e["event"] == "user"]


def no_more_pushes(api: FakeWeChatApi, user: str, count: int) -> list[str]:
    """The pushes for `user` once QUIET seconds passed without a new one; fails past `count`."""
    time.sleep(QUIET)
    pushes = api.pushes(user)
    assert len(pushes) == count, pushes
    return pushes


ATTEMPTS = 3  # fresh messages tried until the timing the test is named for happens


def test_a_retry_on_the_other_replica_gets_the_same_passive_reply(stack):
    """Needs A to answer within its passive-reply deadline; a message A was too slow for is
    delivered by push (checked) and the test tries a fresh one, failing if that never happens."""
    a, b, api = stack["a"], stack["b"], stack["api"]
    for _attempt in range(ATTEMPTS):
        user, mid = openid(), msg_id()
        first = a.ask(user, KNOWLEDGE_QUESTION, mid)
        assert stack["redis"].ttl(turn_key(stack, user, mid)) > 0  # the claim lives in Redis
        # WeChat's retry: same message, new timestamp and nonce, reaches replica B; then A again.
        retries = [b.ask(user, KNOWLEDGE_QUESTION, mid), a.ask(user, KNOWLEDGE_QUESTION, mid)]
        if first != "success":
            break
        # A missed its deadline on a busy machine: the person gets the answer once, by push.
        assert retries == ["success", "success"]
        assert CITATION in api.wait_for(user)[0] and len(no_more_pushes(api, user, 1)) == 1
        assert user_texts(stack, user) == [KNOWLEDGE_QUESTION]
    else:
        pytest.fail(f"replica A missed its passive-reply deadline {ATTEMPTS} times: the passive path never ran")
    assert CITATION in first and retries == [first, first]
    assert user_texts(stack, user) == [KNOWLEDGE_QUESTION]
    assert no_more_pushes(api, user, 0) == []


def test_a_retry_that_cannot_wait_gets_success_and_the_owner_pushes_once(stack):
    """Needs A still running the bot when B's retry arrives; if A was already done, B showed A's
    passive reply (checked) and the test tries a fresh message, failing if that never happens."""
    a, b, api = stack["a"], stack["b"], stack["api"]
    for _attempt in range(ATTEMPTS):
        user, mid = openid(), msg_id()
        replies: dict[str, object] = {}

        def deliver_to_a() -> None:
            replies["a"] = a.reply(a.post(text_xml(user, KNOWLEDGE_QUESTION, mid)))

        thread = threading.Thread(target=deliver_to_a)
        thread.start()
        key, deadline = turn_key(stack, user, mid), time.monotonic() + 30
        while not (stack["redis"].get(key) or b"").startswith(b"running:"):  # A claimed it and runs the bot
            assert time.monotonic() < deadline and thread.is_alive(), "replica A never claimed the message"
            time.sleep(0.01)
        replies["b"] = b.reply(b.post(text_xml(user, KNOWLEDGE_QUESTION, mid)))
        thread.join(60)
        assert not thread.is_alive()
        flag = f"{stack['stack'].redis_prefix}:wechat:push:{user}:{mid}"
        if replies["a"] == "success":
            break
        # A's bot was done before B read the claim: B showed A's passive reply, nothing is pushed.
        assert replies["b"].content == replies["a"].content and CITATION in replies["a"].content
        assert not stack["redis"].exists(flag) and no_more_pushes(api, user, 0) == []
        assert user_texts(stack, user) == [KNOWLEDGE_QUESTION]  # the bot ran once
    else:
        pytest.fail(f"replica A finished before the retry reached B {ATTEMPTS} times: the push path never ran")
    # B gave up at once; A saw that when it decided, answered `success` too and pushed the answer.
    assert replies == {"a": "success", "b": "success"} and stack["redis"].exists(flag)
    [pushed] = api.wait_for(user)
    assert CITATION in pushed
    assert no_more_pushes(api, user, 1) == [pushed]
    # A third try after the push: nothing more is sent.
    assert a.reply(a.post(text_xml(user, KNOWLEDGE_QUESTION, mid))) == "success"
    assert no_more_pushes(api, user, 1) == [pushed]
    assert user_texts(stack, user) == [KNOWLEDGE_QUESTION]  # the bot ran once


def test_a_replayed_request_is_refused_by_the_other_replica(stack):
    a, b = stack["a"], stack["b"]
    user = openid()
    params = a.params()
    image = message_xml(user, "image", {"PicUrl": "http://example.invalid/a.jpg", "MediaId": "m"}, msg_id())
    assert a.post(image, params=params).status_code == 200
    replay = b.post(image, params=params)
    assert replay.status_code == 403 and "success" not in replay.text
    assert a.post(image, params=params).status_code == 403


def test_options_offered_on_one_replica_are_picked_on_the_other(stack):
    a, b, api = stack["a"], stack["b"], stack["api"]
    user = openid()
    offer = a.ask(user, NOT_FOUND_QUESTION)
    if offer == "success":  # A missed its deadline on a busy machine: the offer was pushed
        offer = api.wait_for(user)[0]
    assert "回复 1：申请政府信息公开" in offer
    pushed_before = len(api.pushes(user))
    assert b.ask(user, "1") == "success"  # B's deadline 0: the answer comes as a push
    answer = api.wait_for(user, pushed_before + 1)[-1]
    assert "第二十九条" in answer
    assert user_texts(stack, user)[-1] == "/apply_disclosure"


def test_a_retry_takes_over_when_the_replica_that_claimed_the_message_died(stack):
    # A replica claimed the message and died before answering: its claim (never renewed) expires and
    # WeChat's retry, on replica A, runs the bot and answers instead of waiting for a dead owner.
    a, api = stack["a"], stack["api"]
    user, mid = openid(), msg_id()
    stack["redis"].set(turn_key(stack, user, mid), b"running:deadreplica01", ex=1)
    answer = a.ask(user, KNOWLEDGE_QUESTION, mid)
    if answer == "success":  # A missed its passive deadline on a busy machine: the answer is pushed
        answer = api.wait_for(user)[0]
    assert CITATION in answer
    assert user_texts(stack, user) == [KNOWLEDGE_QUESTION]


def test_the_stack_stays_clean(stack):
    """Every WeChat key is under the stack's prefix (removed with the stack) and expires by itself."""
    keys = list(stack["redis"].scan_iter(f"{stack['stack'].redis_prefix}:wechat:*"))
    assert keys and all(stack["redis"].ttl(k) > 0 for k in keys)
    kinds = {k.decode().split(":")[2] for k in keys}
    assert {"turn", "replay"} <= kinds, kinds
