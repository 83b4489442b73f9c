"""Grouping unanswered questions into a handful of themes so staff read 10 lines, not 1,000.

Questions are embedded with the assistant's own embedder (same vectors as retrieval) and
clustered with agglomerative clustering on cosine distance; each theme is named by its most
central question and its commonest keywords.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from bot.analytics.metrics import REASONS, Unanswered

MAX_EXAMPLES = 3
# multilingual-e5-small puts any two Chinese questions at cosine ~0.85 (unanswerable dev questions:
# median 0.846, 90th percentile 0.869); rewordings of one question score 0.90-0.95.
SIMILARITY = 0.89


@dataclass
class Theme:
    label: str  # the most central question (redacted)
    count: int
    keywords: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    reasons: dict = field(default_factory=dict)  # Chinese reason -> count


def group(
    items: Sequence[Unanswered],
    embed: Callable[[list[str]], np.ndarray],
    keywords: Callable[[str], list[str]] = lambda text: [],
    max_themes: int = 10,
    similarity: float = SIMILARITY,
) -> list[Theme]:
    """At most `max_themes` themes, largest first; identical questions always share a theme."""
    if not items:
        return []
    texts = sorted({item.text for item in items})
    if len(texts) == 1:
        clusters = np.zeros(1, dtype=int)
        vectors = np.ones((1, 1), dtype=np.float32)
    else:
        from sklearn.cluster import AgglomerativeClustering

        vectors = np.asarray(embed(texts), dtype=np.float32)
        # Questions join while their average cosine similarity stays above `similarity`; when that
        # leaves more than `max_themes` groups, the closest groups are merged down to that many.
        # scikit-learn 1.1 calls the distance `affinity` (renamed `metric` in 1.2).
        model = AgglomerativeClustering(
            n_clusters=None, distance_threshold=1.0 - similarity, affinity="cosine", linkage="average"
        )
        clusters = model.fit_predict(vectors)
        if len(set(clusters.tolist())) > max_themes:
            model = AgglomerativeClustering(n_clusters=max_themes, affinity="cosine", linkage="average")
            clusters = model.fit_predict(vectors)
    index_of = {text: i for i, text in enumerate(texts)}
    themes = []
    for cluster in sorted(set(clusters.tolist())):
        members = [i for i, c in enumerate(clusters) if c == cluster]
        member_items = [item for item in items if clusters[index_of[item.text]] == cluster]
        centre = vectors[members].mean(axis=0)
        central = max(members, key=lambda i: float(vectors[i] @ centre))
        counts = Counter(item.text for item in member_items)
        words = Counter(w for item in member_items for w in keywords(item.text))
        reasons = Counter(REASONS.get(item.reason, item.reason) for item in member_items)
        themes.append(
            Theme(
                label=texts[central],
                count=len(member_items),
                keywords=[w for w, _ in words.most_common(4)],
                examples=[text for text, _ in counts.most_common(MAX_EXAMPLES)],
                reasons=dict(reasons.most_common()),
            )
        )
    return sorted(themes, key=lambda t: (-t.count, t.label))
