"""bot.nlu.sentence_featurizer: e5 sentence/token features for DIET, on the project's real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT

pytest.importorskip("rasa")

from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer  # noqa: E402
from rasa.shared.exceptions import InvalidConfigException  # noqa: E402
from rasa.shared.nlu.constants import TEXT  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402
from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: E402

from bot.nlu.sentence_featurizer import (  # noqa: E402
    LruCache,
    SentenceEmbeddingFeaturizer,
    align_to_tokens,
)

COMPONENT = "bot.nlu.sentence_featurizer.SentenceEmbeddingFeaturizer"


# ------------------------------------------------------------- pure parts


def test_align_averages_overlapping_subwords_and_falls_back_for_uncovered_tokens():
    # special token (empty), a prompt sub-word (negative), a sub-word spanning 0-2, one 2-3, special
    offsets = np.array([[-7, -7], [-3, 0], [0, 2], [2, 3], [-7, -7]])
    hidden = np.array([[9, 9], [7, 7], [3, 0], [0, 4], [8, 8]], dtype=np.float32)
    fallback = np.array([0.8, 0.6], dtype=np.float32)
    rows = align_to_tokens([(0, 1), (1, 3), (3, 5)], offsets, hidden, fallback)
    assert rows.shape == (3, 2)
    np.testing.assert_allclose(rows[0], [1.0, 0.0])  # only the 0-2 sub-word, normalised
    np.testing.assert_allclose(rows[1], np.array([3, 4]) / 5)  # mean of 0-2 and 2-3
    np.testing.assert_allclose(rows[2], fallback)  # cut off: nothing overlaps


def test_lru_cache_drops_the_least_recently_used_and_size_zero_keeps_nothing():
    cache = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert (cache.hits, cache.misses, len(cache)) == (3, 1, 2)
    off = LruCache(0)
    off.put("a", 1)
    assert off.get("a") is None and len(off) == 0


@pytest.mark.parametrize(
    "override", [{"sequence_features": "words"}, {"batch_size": 0}, {"cache_size": -1}]
)
def test_bad_config_is_refused(override):
    config = {**SentenceEmbeddingFeaturizer.get_default_config(), **override}
    with pytest.raises(InvalidConfigException):
        SentenceEmbeddingFeaturizer.validate_config(config)


# ----------------------------------------------------- on the real model


@pytest.fixture(scope="module")
def tokenizer():
    config = {**JiebaTokenizer.get_default_config(), "dictionary_path": str(ROOT / "data" / "jieba")}
    return JiebaTokenizer.create(config, None, None, None)


def featurizer(**override) -> SentenceEmbeddingFeaturizer:
    return SentenceEmbeddingFeaturizer("feat", {**SentenceEmbeddingFeaturizer.get_default_config(), **override})


def messages(tokenizer, *texts):
    result = [Message({TEXT: t}) for t in texts]
    tokenizer.process(result)
    return result


def dense(message):
    sequence, sentence = message.get_dense_features(TEXT)
    return sequence.features, sentence.features


def test_sentence_feature_is_the_projects_query_vector(tokenizer):
    from bot.embeddings import Embedder

    texts = ["你们几点开门", "预付卡那个备案要交啥材料 要钱不", "我想开个拍卖行"]
    parsed = messages(tokenizer, *texts)
    feat = featurizer()
    feat.process(parsed)
    embedder = Embedder(feat.model_path)  # how the knowledge service embeds a question
    sentences = np.concatenate([dense(m)[1] for m in parsed])
    np.testing.assert_allclose(sentences, embedder.embed_queries(texts), atol=1e-5)
    for message in parsed:
        sequence, _ = dense(message)
        assert sequence.shape == (len(message.get("text_tokens")), embedder.dim)


def test_token_rows_follow_their_tokens_whatever_the_leading_whitespace(tokenizer):
    plain, padded = messages(tokenizer, "我想开个拍卖行", "  我想开个拍卖行")
    feat = featurizer(cache_size=0)
    feat.process([plain, padded])
    plain_rows, padded_rows = dense(plain)[0], dense(padded)[0]
    words = [t.text for t in padded.get("text_tokens")]
    shift = len(padded_rows) - len(plain_rows)  # jieba's whitespace tokens come first
    assert [t.text for t in plain.get("text_tokens")] == words[shift:]
    np.testing.assert_allclose(padded_rows[shift:], plain_rows, atol=1e-5)
    assert not np.allclose(plain_rows[0], plain_rows[-1])  # 我 and 拍卖行 differ


def test_sentence_mode_repeats_the_sentence_vector(tokenizer):
    (message,) = messages(tokenizer, "传真多少")
    featurizer(sequence_features="sentence").process([message])
    sequence, sentence = dense(message)
    np.testing.assert_array_equal(sequence, np.repeat(sentence, len(sequence), axis=0))


def test_a_repeated_message_comes_from_the_cache_with_fresh_arrays(tokenizer):
    feat = featurizer(cache_size=4)
    first, second = messages(tokenizer, "找个活人跟我说", "找个活人跟我说")
    feat.process([first])
    feat.process([second])
    assert (feat.cache.hits, feat.cache.misses) == (1, 1)
    np.testing.assert_array_equal(dense(first)[0], dense(second)[0])
    assert not np.shares_memory(dense(first)[0], dense(second)[0])


def test_training_data_is_featurized_in_batches_like_single_messages(tokenizer):
    texts = ["你好", "我要投诉", "依申请公开收费吗", "谢谢", "再见"]
    data = TrainingData(messages(tokenizer, *texts))
    featurizer(batch_size=2).process_training_data(data)  # 2+2+1, padded batches
    singles = messages(tokenizer, *texts)
    feat = featurizer(cache_size=0)
    for message in singles:
        feat.process([message])
    for batched, single in zip(data.training_examples, singles):
        np.testing.assert_allclose(dense(batched)[0], dense(single)[0], atol=1e-5)
        np.testing.assert_allclose(dense(batched)[1], dense(single)[1], atol=1e-5)


def test_a_tiny_nlu_model_trains_with_the_featurizer_and_parses(tmp_path, monkeypatch):
    """The component as config.yml would name it: trains with DIET, loads in an Agent, parses."""
    monkeypatch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path / "cache"))
    import asyncio

    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    intents = {
        "greet": ["你好", "您好", "早上好", "哈喽", "嗨，在吗"],
        "file_complaint": ["我要投诉", "我想举报一家公司", "投诉你们的工作人员", "我要反映问题投诉", "帮我登记一个投诉"],
        "ask_knowledge": ["办公时间是几点", "申请公开要多久答复", "预付卡备案需要什么材料", "收费标准是什么", "传真号码多少"],
    }
    nlu = {"version": "3.1", "nlu": [
        {"intent": name, "examples": "".join(f"- {e}\n" for e in examples)} for name, examples in intents.items()
    ]}
    config = {
        "recipe": "default.v1", "language": "zh", "assistant_id": "featurizer-test",
        "pipeline": [
            {"name": "JiebaTokenizer", "dictionary_path": str(ROOT / "data" / "jieba")},
            {"name": COMPONENT},
            {"name": "DIETClassifier", "epochs": 60, "random_seed": 1, "constrain_similarities": True,
             "number_of_transformer_layers": 1, "transformer_size": 64},
        ],
    }
    (tmp_path / "nlu.yml").write_text(yaml.safe_dump(nlu, allow_unicode=True), encoding="utf-8")
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    model = train_nlu(str(tmp_path / "config.yml"), str(tmp_path / "nlu.yml"), str(tmp_path / "models"))
    assert model and Path(model).is_file()
    agent = Agent.load(model)
    parsed = asyncio.run(agent.parse_message("我要投诉"))
    assert parsed["intent"]["name"] == "file_complaint"
    assert {e["name"] for e in parsed["intent_ranking"]} == set(intents)
