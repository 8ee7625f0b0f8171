"""Start-up figures (issue 14): the policy is compared with the slot-filler a person is served,
the reader slot-filler reading with the served reader, not the simulator's structured one."""

from __future__ import annotations

from textrec.catalog.builtin import build_builtin
from textrec.language.reader import load_reader
from textrec.language.speech import build_sentence_bank
from textrec.serve.quality import SLOT_FILLER_SESSIONS, policy_quality
from textrec.serve.session import load_picker
from textrec.simulator.baselines import SlotFillerPolicy
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.ingredients import Ingredients
from textrec.simulator.rollout import evaluate
from textrec.simulator.task import TaskConfig


def _sr(result) -> tuple[float, ...]:
    return tuple(float(getattr(result, f"sr_at_{k}").mean) for k in (10, 20, 30))


def test_the_slot_filler_compared_with_is_the_served_one(tmp_path):
    catalog = build_builtin(n_items=600, seed=0, feature_dim=8)
    picker = load_picker("slot-filler", catalog)
    quality = policy_quality("slot-filler", Ingredients(catalog, seed=3), picker.reader)

    sim = BatchedSimulator(
        catalog, "test", build_sentence_bank(catalog.schema, seed=3), TaskConfig()
    )
    served = evaluate(picker.make_policy(), sim, SLOT_FILLER_SESSIONS, 3)
    structured = evaluate(SlotFillerPolicy(catalog), sim, SLOT_FILLER_SESSIONS, 3)
    assert quality.slot_filler == quality.policy == _sr(served)
    assert quality.slot_filler != _sr(structured)

    (tmp_path / "metrics.csv").write_text("eval/sr@10,eval/sr@20,eval/sr@30\n0.01,0.02,0.03\n")
    agent = policy_quality(
        str(tmp_path), Ingredients(catalog, seed=3), load_reader(catalog, "lexicon")
    )
    assert agent.policy == (0.01, 0.02, 0.03) and agent.slot_filler == _sr(served) and agent.below
