"""The simulated user: judge the shown item against the desired values and choose what to say.

Pure array functions over a batch of ``B`` sessions; the engine (:mod:`textrec.simulator.engine`)
calls them once per turn. The user's sentence itself is drawn from a
:class:`~textrec.language.bank.SentenceBank` by (value, mode).
"""

from __future__ import annotations

import numpy as np

from textrec.language.bank import NEGATE, REPEAT, REQUEST

__all__ = ["has_values", "choose_attribute", "choose_mode"]


def has_values(label_sets_ext: np.ndarray, items: np.ndarray, values_ext: np.ndarray) -> np.ndarray:
    """Whether each shown item truly has each value: ``(B, K) bool``.

    Args:
        label_sets_ext: ``(N, V + 1) bool`` true label sets with a last all-True column.
        items: ``(B,)`` catalog indices of the shown items.
        values_ext: ``(B, K)`` global value indices; ``V`` (the all-True column) where the
            attribute has no desired value, so it always counts as had.
    """
    return label_sets_ext[items[:, None], values_ext]


def choose_attribute(
    wrong: np.ndarray, asked: np.ndarray, repeat_prob: float, rng: np.random.Generator
) -> np.ndarray:
    """The attribute each user comments on: ``(B,) int``, ``-1`` where nothing is wrong.

    With probability ``repeat_prob`` a user whose shown item misses a value it asked for before
    comments on one of those; otherwise it picks uniformly among all wrong desired attributes.

    Args:
        wrong: ``(B, K) bool`` desired attributes the shown item gets wrong.
        asked: ``(B, K) bool`` attributes the user asked about at an earlier turn.
        repeat_prob: see :attr:`TaskConfig.repeat_prob`.
        rng: source of the random choices (draws ``B + B·K`` uniforms).
    """
    again = wrong & asked
    repeat = (rng.random(len(wrong)) < repeat_prob) & again.any(axis=1)
    candidates = np.where(repeat[:, None], again, wrong)
    noise = np.where(
        candidates, rng.random(wrong.shape), -1.0
    )  # argmax of iid uniforms: uniform pick
    return np.where(candidates.any(axis=1), noise.argmax(axis=1), -1)


def choose_mode(
    asked_before: np.ndarray, negate_prob: float, rng: np.random.Generator
) -> np.ndarray:
    """Feedback mode per user.

    ``NEGATE`` with probability ``negate_prob``, else ``REPEAT`` if the value was asked for
    before, else ``REQUEST``.

    Args:
        asked_before: ``(B,) bool`` the commented value was asked for at an earlier turn.
        negate_prob: see :attr:`TaskConfig.negate_prob`.
        rng: source of the random choices (draws ``B`` uniforms).
    """
    mode = np.where(asked_before, REPEAT, REQUEST)
    return np.where(rng.random(len(asked_before)) < negate_prob, NEGATE, mode).astype(np.int64)
