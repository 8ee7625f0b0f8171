"""The known-answer checks bite: each mutation of the losses below, applied by monkeypatching,
makes at least one check of :mod:`tests.learners.test_known_answers` fail, and with no mutation
every check passes.

``python -m tests.learners.test_mutations`` (from the repository root, ``src`` on the path) prints
the table mutation -> the checks that caught it.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch

from tests.learners.test_known_answers import CHECKS
from textrec.learners import bcq, configs, cql, functional, iql, offline
from textrec.learners.functional import (
    cql_penalty,
    distilled_actor_loss,
    item_penalty,
    masked_mean,
    policy_penalty,
    soft_actor_loss,
    soft_values,
    td_target,
    temperature_loss,
)

LOSS_MODULES = (functional, cql, bcq, iql, offline)
"""Where the losses look their functions up (each imported module binds its own name)."""


def _replace(mp: pytest.MonkeyPatch, original: Callable[..., Any], new: Callable[..., Any]) -> None:
    """Rebind ``original`` to ``new`` in every loss module that holds it."""
    bound = [m for m in LOSS_MODULES if getattr(m, original.__name__, None) is original]
    assert bound, f"no loss module uses {original.__name__}"
    for module in bound:
        mp.setattr(module, original.__name__, new)


def _no_bootstrap(mp: pytest.MonkeyPatch) -> None:
    _replace(mp, td_target, lambda rewards, next_values, dones, gamma: rewards)


def _dones_ignored(mp: pytest.MonkeyPatch) -> None:
    _replace(
        mp,
        td_target,
        lambda rewards, next_values, dones, gamma: td_target(
            rewards, next_values, torch.zeros_like(dones), gamma
        ),
    )


def _gamma_zero(mp: pytest.MonkeyPatch) -> None:
    """Every Q learner's config reads gamma = 0, whatever it was given."""
    post_init = configs.QConfig.__post_init__

    def zero(self: Any) -> None:
        post_init(self)
        object.__setattr__(self, "gamma", 0.0)

    mp.setattr(configs.QConfig, "__post_init__", zero)


def _entropy_sign(mp: pytest.MonkeyPatch) -> None:
    _replace(mp, soft_values, lambda q, logits, tau: soft_values(q, logits, -tau))


def _online_q_as_target(mp: pytest.MonkeyPatch) -> None:
    def online(self: Any, fwd: Any, rows: torch.Tensor) -> list[torch.Tensor]:
        with torch.no_grad():
            return self.recommender.q(fwd.states[rows])

    mp.setattr(offline.QLearner, "target_q", online)


def _penalty_sign(mp: pytest.MonkeyPatch) -> None:
    _replace(mp, cql_penalty, lambda *args: -cql_penalty(*args))
    _replace(mp, policy_penalty, lambda *args: -policy_penalty(*args))
    _replace(mp, item_penalty, lambda *args: -item_penalty(*args))


def _items_penalty_over_every_combination(mp: pytest.MonkeyPatch) -> None:
    """The items penalty's logsumexp taken over every combination of head values (the product
    of the heads, i.e. the per-head ``logsumexp`` form), not over the catalog's items."""
    _replace(mp, item_penalty, lambda q, actions, feasible, mask: cql_penalty(q, actions, mask))


def _actor_gradient_into_q(mp: pytest.MonkeyPatch) -> None:
    _replace(
        mp,
        soft_actor_loss,
        lambda q, logits, tau, mask: -masked_mean(soft_values(q, logits, tau), mask),
    )


def _actor_temperature_ignored(mp: pytest.MonkeyPatch) -> None:
    """Both actor losses improve towards softmax(Q) (tau = 1), not softmax(Q / tau)."""
    for actor in (soft_actor_loss, distilled_actor_loss):
        _replace(mp, actor, lambda q, logits, tau, mask, actor=actor: actor(q, logits, 1.0, mask))


def _temperature_sign(mp: pytest.MonkeyPatch) -> None:
    _replace(mp, temperature_loss, lambda *args: -temperature_loss(*args))


def _next_policy_from_s_t(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(offline.Forward, "next_logits", property(lambda f: [x.detach() for x in f.logits]))


MUTATIONS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "no bootstrap (y = r)": _no_bootstrap,
    "entropy sign flipped": _entropy_sign,
    "online Q as target": _online_q_as_target,
    "penalty sign flipped": _penalty_sign,
    "gamma = 0": _gamma_zero,
    "actor gradient into Q": _actor_gradient_into_q,
    "dones ignored (bootstrap past the end)": _dones_ignored,
    "temperature loss sign flipped": _temperature_sign,
    "bootstrap policy read in s_t, not s_{t+1}": _next_policy_from_s_t,
    "actor's temperature ignored (tau = 1)": _actor_temperature_ignored,
    "items penalty over every combination of head values": _items_penalty_over_every_combination,
}
"""The fixed list of mutations: the issue's six, then five more."""


@contextmanager
def _mutated(name: str) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    try:
        MUTATIONS[name](mp)
        yield
    finally:
        mp.undo()


def _failing(make_recommender: Callable[..., Any]) -> list[str]:
    """The checks whose assertions fail as the code now stands (any other error propagates: a
    mutation that merely crashes the code proves nothing about the checks)."""
    failed = []
    for check in CHECKS:
        try:
            check(make_recommender)
        except AssertionError:
            failed.append(check.__name__.removeprefix("check_"))
    return failed


def mutation_table(make_recommender: Callable[..., Any]) -> dict[str, list[str]]:
    """Mutation -> the known-answer checks that caught it."""
    table = {}
    for name in MUTATIONS:
        with _mutated(name):
            table[name] = _failing(make_recommender)
    return table


def test_every_check_passes_unmutated(make_recommender):
    assert _failing(make_recommender) == []


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_is_caught(name, make_recommender):
    with _mutated(name):
        caught = _failing(make_recommender)
    assert caught, f"no known-answer check notices the mutation {name!r}"
    assert _failing(make_recommender) == [], "the mutation must be undone"


def _main() -> None:
    """Print the mutation table as Markdown (what the note records)."""
    from tests.conftest import make_toy_catalog
    from textrec.agent import Recommender, RecommenderConfig
    from textrec.language.corpus import build_corpus
    from textrec.language.encoder import EncoderConfig, pretrain_encoder

    catalog = make_toy_catalog()
    encoder, _ = pretrain_encoder(build_corpus(catalog.schema), EncoderConfig(steps=150), seed=0)

    def make(seed: int = 0, **config: Any) -> Recommender:  # tests/agent/conftest.py's fixture
        return Recommender(catalog, copy.deepcopy(encoder), RecommenderConfig(**config), seed=seed)

    table = mutation_table(make)
    sys.stdout.write("| mutation | caught by |\n|---|---|\n")
    for name, caught in table.items():
        sys.stdout.write(f"| {name} | {', '.join(caught) or '**none**'} |\n")


if __name__ == "__main__":
    _main()
