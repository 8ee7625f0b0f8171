"""The task definition, written once: sessions, success, feedback, reward and the session metrics.

Every part of textrec (the batched engine, the Gymnasium wrappers, log collection, evaluation,
serving) plays by these rules (paper: "Environment and Dataset", "Interaction with Users"):

* **Session.** A session draws a target item ``a*`` uniformly from the pool under use (the train
  pool to train, the test pool to evaluate) among the pool items that have at least one label.
  The *desired values* are the target's primary true labels (``catalog.labels``); an attribute
  the target has no label for is not desired.
* **Turn.** The recommender shows one pool item it has not shown in this session. The turn is a
  *success* when the shown item has every desired value; true label sets decide
  (``catalog.label_sets``, so a multi-valued item matches any of its values), never predictions.
  Success ends the session (``terminated``).
* **Feedback.** After a failed turn the user comments on one desired attribute the shown item gets
  wrong and names the desired value (:mod:`textrec.simulator.user`): with probability
  :attr:`TaskConfig.repeat_prob` on one it already asked for, when the item misses such a value,
  otherwise uniformly among all wrong desired attributes. The sentence is a *repeat* when it names a
  value asked for before, a *request* otherwise, and with probability :attr:`TaskConfig.negate_prob`
  it is phrased as a negation.
* **Reward** (:mod:`textrec.simulator.reward`): ``r = 1 - (1-λ)·d_f - λ·d_g + offset``
  (offset -1 by default, see :class:`TaskConfig`), ``d_f`` half the L2
  distance of the unit-length image features (in [0, 1]), ``d_g`` the fraction of desired values
  the shown item lacks (in [0, 1]). When the ``max_turns``-th turn fails, ``failure_penalty`` is
  *added* to that turn's reward and the session is truncated (``truncated``).
* **Metrics** per session: ``success_turn`` (0 when never), ``NI`` = turns until success with a
  failure counting as ``max_turns``, ``NV`` = sum over turns of the number of desired attributes the
  user asked for at an earlier turn that the shown item does not have (an item with no label for
  that attribute does not have the value, as for success).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textrec.catalog.catalog import Catalog
from textrec.errors import InputError

__all__ = [
    "EVALUATION_ONLY_SOURCES",
    "TaskConfig",
    "UTTERANCE_SOURCES",
    "check_training_source",
    "target_candidates",
]

UTTERANCE_SOURCES = ("templates", "model", "mix", "free")
"""Where the simulated user's sentences come from (see ``textrec.language.speech``)."""
EVALUATION_ONLY_SOURCES = ("free",)
"""Sources that speak held-out phrasings: for evaluation only, never for training or logs."""


def check_training_source(source: str, use: str) -> None:
    """Refuse a held-out sentence source for ``use`` (training, collecting a training log)."""
    if source in EVALUATION_ONLY_SOURCES:
        raise InputError(
            f"--utterances {source} speaks the held-out phrasings, kept for evaluation only; "
            f"{use} would learn from them (use templates, model or mix)"
        )


@dataclass(frozen=True)
class TaskConfig:
    """Rules of the interactive recommendation task and the simulated user's habits.

    Reward of turn ``t`` (paper, "Environment and Dataset"; normalisations in
    :mod:`textrec.simulator.reward`)::

        r_t = 1 - (1 - λ)·½‖f(a_t) − f(a*)‖₂ − λ·‖g(a_t) − g(a*)‖₀ / |desired| + reward_offset
        r_T += failure_penalty   when turn T = max_turns fails

    Why ``reward_offset = -1`` by default: on raw ResNet-50 features, as in the paper, distances
    between items are much larger than 1, so the paper's ``1 − …`` is negative for every item but
    near-copies of the target: each turn costs, and finding the item sooner earns more. With the
    distances normalised to [0, 1] the literal formula is positive on every turn and pays a learner
    to fail slowly (measured on the built-in catalog: a random policy collects a mean return of
    10.4 per session, the slot-filler 4.5). Adding -1 restores the paper's incentive: each turn's
    reward lies in [-1, 0] and is 0 only for the target itself. ``reward_offset = 0`` gives the
    literal formula.
    """

    max_turns: int = 50
    """Turns before an unsuccessful session is truncated (paper: 50)."""
    failure_penalty: float = -3.0
    """Added to the reward of the last turn of a session that never succeeds (paper: -3)."""
    reward_lambda: float = 0.5
    """Weight λ of the attribute term against the image term of the reward (paper: 0.5)."""
    reward_offset: float = -1.0
    """Constant added to every turn's reward; -1 keeps the paper's incentive (see the class
    doc), 0 is literal."""
    repeat_prob: float = 0.5
    """Probability of asking again for a value asked before, when the item lacks one (Table 1)."""
    negate_prob: float = 0.1
    """Probability of phrasing a comment as a negation ("I do not need the shoes without flat")."""
    utterances: str = "templates"
    """Sentence source of the simulated user: 'templates', 'model' (utterance LM), 'mix' or
    'free' (held-out free-form phrasings in everyday words)."""

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise InputError(f"TaskConfig.max_turns must be >= 1, got {self.max_turns}")
        if not np.isfinite(self.failure_penalty) or self.failure_penalty > 0:
            raise InputError(
                f"TaskConfig.failure_penalty must be finite and <= 0, got {self.failure_penalty}"
            )
        if not -1.0 <= self.reward_offset <= 0.0:
            raise InputError(
                f"TaskConfig.reward_offset must be in [-1, 0], got {self.reward_offset}"
            )
        for name in ("reward_lambda", "repeat_prob", "negate_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"TaskConfig.{name} must be in [0, 1], got {value}")
        if self.utterances not in UTTERANCE_SOURCES:
            raise InputError(
                f"TaskConfig.utterances must be one of {UTTERANCE_SOURCES}, got {self.utterances!r}"
            )


def target_candidates(catalog: Catalog, pool: np.ndarray) -> np.ndarray:
    """Pool items (catalog indices) that can be targets: those with at least one label.

    Raises:
        ValueError: when no pool item has a label.
    """
    ok = (catalog.labels[pool] >= 0).any(axis=1)
    if not ok.any():
        raise InputError(
            f"catalog {catalog.name!r}: no item of the pool ({len(pool)} items) has any label, "
            "so no session can have a target"
        )
    return pool[ok]
