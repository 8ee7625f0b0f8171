"""Evaluation in the simulator: SR@K, NI, NV (mean ± s.e.) and the success-by-turn curve.

The metrics and their records live in :mod:`textrec.metrics`, the rollout and :func:`evaluate` in
:mod:`textrec.simulator.rollout` (the learners evaluate through them while training); this module
names the policy and the users to evaluate (:func:`load_policy`, :func:`make_simulator`) and
offers :func:`evaluate` and :func:`rollout` beside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textrec.catalog import Catalog
from textrec.errors import InputError
from textrec.simulator.baselines import POLICIES, make_policy
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.policy import Policy
from textrec.simulator.rollout import evaluate, rollout
from textrec.simulator.task import UTTERANCE_SOURCES, TaskConfig

__all__ = ["rollout", "evaluate", "load_policy", "make_simulator", "POOLS"]

POOLS = ("test", "train")
"""Item pools a policy can be evaluated on: 'test' (unlabeled items, AttrNet's predictions) or
'train' (labeled items)."""


def make_simulator(
    catalog: Catalog, pool: str = "test", utterances: str = "templates", seed: int = 0
) -> BatchedSimulator:
    """Simulated users of ``catalog``'s ``pool`` speaking sentences from ``utterances``.

    The sentence bank is built with ``seed`` (the same bank ``textrec train`` and ``collect`` use).
    """
    if pool not in POOLS:
        raise InputError(f"--pool must be one of {list(POOLS)}, got {pool!r}")
    if utterances not in UTTERANCE_SOURCES:
        raise InputError(
            f"--utterances must be one of {list(UTTERANCE_SOURCES)}, got {utterances!r}"
        )
    from textrec.language.speech import build_sentence_bank

    bank = build_sentence_bank(catalog.schema, source=utterances, seed=seed)
    return BatchedSimulator(catalog, pool, bank, TaskConfig(utterances=utterances))


def load_policy(spec: str | Path, catalog: Catalog, **acting: Any) -> Policy:
    """The greedy policy named by ``spec``: a baseline name or a saved recommender.

    Args:
        spec: ``"slot-filler"`` or ``"random"``; or the directory of a saved
            :class:`~textrec.agent.Recommender` (``textrec train``'s ``OUT/final``), or a train run
            directory holding one as ``final/``.
        catalog: the catalog the recommender was trained on (checked by its fingerprint).
        acting: how a recommender acts (``Recommender.policy``'s ``heads``, ``greedy``,
            ``threshold``); an option not given is the saved agent's own (as the learner that
            trained it evaluated it: a ``bcq`` agent its masked Q heads, the others their actor
            heads with retrieval by their distributions).

    Raises:
        InputError: naming ``spec`` when it is neither a baseline nor a saved recommender.
    """
    if str(spec) in POLICIES:
        if acting:
            raise InputError(
                f"--policy {spec}: a baseline takes no acting options {sorted(acting)}"
            )
        return make_policy(str(spec), catalog)
    path = Path(spec)
    if not path.is_dir():
        raise InputError(
            f"unknown policy {str(spec)!r}: not one of {sorted(POLICIES)} and not a directory "
            "(give a saved agent, e.g. a train run's final/)"
        )
    from textrec.agent import Recommender

    agent_dir = path / "final" if (path / "final").is_dir() else path
    return Recommender.load(agent_dir, catalog).policy(**acting)
