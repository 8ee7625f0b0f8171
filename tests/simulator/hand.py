"""A tiny hand-built catalog and sentence bank: every number of a session can be worked by hand.

Schema: colour (red, blue, green), type (boot, shoe), gender (men, women; multi-valued).
Global value axis: red 0, blue 1, green 2, boot 3, shoe 4, men 5, women 6.

====  ======  =====  ===========  =================  =====
item  colour  type   gender       features           split
====  ======  =====  ===========  =================  =====
0     red     boot   women        (1, 0, 0, 0)       train
1     blue    boot   women        (0, 1, 0, 0)       train
2     red     shoe   men          (0, 0, 1, 0)       train
3     red     boot   men;women    (1, 1, 0, 0)       train
4     green   shoe   (missing)    (0, 0, 0, 1)       test
5     blue    shoe   women        (0, 0, 2, 0)       test
====  ======  =====  ===========  =================  =====

AttrNet output (``predicted``) is the label set, normalised per attribute; the missing gender of
item 4 is predicted 50/50.
"""

from __future__ import annotations

import numpy as np

from textrec.catalog import TEST, TRAIN, Attribute, AttributeSchema, Catalog
from textrec.language.bank import MODES, SentenceBank
from textrec.language.tokenizer import Vocabulary

HAND_SCHEMA = AttributeSchema(
    (
        Attribute("colour", ("red", "blue", "green")),
        Attribute("type", ("boot", "shoe")),
        Attribute("gender", ("men", "women"), multi_valued=True),
    )
)
RED, BLUE, GREEN, BOOT, SHOE, MEN, WOMEN = range(7)


def make_hand_catalog(extra_blue_boots: int = 0) -> Catalog:
    """The six items above, plus ``extra_blue_boots`` copies of item 1 (blue boot women, train).

    The copies share item 1's features, so that a long session can be worked by hand.
    """
    sets = [
        [RED, BOOT, WOMEN],
        [BLUE, BOOT, WOMEN],
        [RED, SHOE, MEN],
        [RED, BOOT, MEN, WOMEN],
        [GREEN, SHOE],
        [BLUE, SHOE, WOMEN],
    ] + [[BLUE, BOOT, WOMEN]] * extra_blue_boots
    features = [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [1, 1, 0, 0],
        [0, 0, 0, 1],
        [0, 0, 2, 0],
    ] + [[0, 1, 0, 0]] * extra_blue_boots
    n = len(sets)
    label_sets = np.zeros((n, HAND_SCHEMA.n_values), dtype=bool)
    for i, values in enumerate(sets):
        label_sets[i, values] = True
    labels = np.full((n, 3), -1, dtype=np.int32)
    for k in range(3):
        lo, hi = HAND_SCHEMA.offsets[k], HAND_SCHEMA.offsets[k + 1]
        has = label_sets[:, lo:hi].any(axis=1)
        labels[has, k] = label_sets[has, lo:hi].argmax(axis=1)
    predicted = label_sets.astype(np.float32)
    predicted[4, [MEN, WOMEN]] = 0.5
    for k in range(3):
        lo, hi = HAND_SCHEMA.offsets[k], HAND_SCHEMA.offsets[k + 1]
        predicted[:, lo:hi] /= predicted[:, lo:hi].sum(axis=1, keepdims=True)
    split = np.array([TRAIN, TRAIN, TRAIN, TRAIN, TEST, TEST] + [TRAIN] * extra_blue_boots, np.int8)
    return Catalog(
        name="hand",
        schema=HAND_SCHEMA,
        item_ids=np.array([f"hand-{i}" for i in range(n)], dtype=object),
        labels=labels,
        label_sets=label_sets,
        split=split,
        image_refs=np.array([f"builtin:hand-{i}" for i in range(n)], dtype=object),
        features=np.array(features, dtype=np.float32),
        predicted=predicted,
    )


def make_hand_bank(
    schema: AttributeSchema = HAND_SCHEMA, source: str = "templates"
) -> SentenceBank:
    """One sentence per (value, mode): ``"<mode> <value>"``, e.g. ``"repeat red"``."""
    names = [schema.value_name(v)[1] for v in range(schema.n_values)]
    texts = np.array([f"{mode} {name}" for name in names for mode in MODES], dtype=object)
    vocab = Vocabulary.build(texts)
    tokens, lengths = vocab.encode_batch(list(texts), max_len=6)
    index = np.arange(len(texts), dtype=np.int32).reshape(schema.n_values, len(MODES), 1)
    return SentenceBank(
        texts=texts, tokens=tokens, lengths=lengths, index=index, vocab=vocab, source=source
    )
