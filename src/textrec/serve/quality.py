"""How good the served policy is, said at start-up: its saved test-pool SR@10/20/30 beside the
served slot-filler's on the same catalog, and a warning when it is below.

A ``textrec train --out`` run directory keeps its evaluations in ``metrics.csv`` (the last row is
the final one, on the run's ``--eval-pool``, ``test`` by default); a bare ``final/`` directory
has none ("not evaluated"). The slot-filler compared with is the one a person would talk to with
``--policy slot-filler``: :class:`~textrec.simulator.baselines.ReaderSlotFillerPolicy` reading the
users' sentences with the served reader (``--reader``), not the simulator's structured feedback. It
is evaluated here, on :data:`SLOT_FILLER_SESSIONS` simulated test-pool sessions with the given
seed (a few seconds): same seed, same figures.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from textrec.language.reader import Reader
from textrec.simulator.ingredients import Ingredients

__all__ = ["SLOT_FILLER_SESSIONS", "PolicyQuality", "saved_success", "policy_quality"]

SLOT_FILLER_SESSIONS = 200
"""Simulated test-pool sessions the slot-filler is evaluated on at start-up."""
_KS = (10, 20, 30)


@dataclass(frozen=True)
class PolicyQuality:
    """The served policy's success rates and the slot-filler's, at 10, 20 and 30 turns."""

    policy: tuple[float, ...] | None
    """SR@10/20/30 of the served policy (None: not evaluated)."""
    slot_filler: tuple[float, ...]
    """SR@10/20/30 of the slot-filler on the same catalog."""
    source: str
    """Where the policy's figures come from."""

    @property
    def below(self) -> bool:
        """The policy is below the slot-filler at any of the three turn budgets."""
        return self.policy is not None and any(
            p < s for p, s in zip(self.policy, self.slot_filler, strict=True)
        )

    def lines(self, name: str) -> list[str]:
        """What start-up prints: the figures, and the warning when below."""

        def fmt(sr: tuple[float, ...]) -> str:
            return " / ".join(f"{v:.2f}" for v in sr)

        ours = "not evaluated" if self.policy is None else f"{fmt(self.policy)} ({self.source})"
        out = [
            f"policy {name}: test-pool SR@10/20/30 {ours}",
            f"slot-filler on this catalog: SR@10/20/30 {fmt(self.slot_filler)} "
            f"({SLOT_FILLER_SESSIONS} simulated sessions)",
        ]
        if self.below:
            out.append(
                f"warning: {name} finds fewer shoes than the slot-filler; people will be served "
                "a weaker recommender (--policy slot-filler serves the stronger one)"
            )
        return out


def saved_success(spec: str) -> tuple[tuple[float, ...], str] | None:
    """SR@10/20/30 of the last evaluation saved in the run directory ``spec`` (or the run
    holding a ``final/`` directory ``spec``), and the file; None when there is none."""
    root = Path(spec)
    for run in (root, root.parent):
        path = run / "metrics.csv"
        if path.is_file():
            with open(path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if r.get("eval/sr@10")]
            if rows:
                return tuple(float(rows[-1][f"eval/sr@{k}"]) for k in _KS), str(path)
    return None


def policy_quality(spec: str, parts: Ingredients, reader: Reader) -> PolicyQuality:
    """The served policy's saved figures (``spec``: ``--policy``) and the served slot-filler's
    (reading with ``reader``), measured on :data:`SLOT_FILLER_SESSIONS` sessions of the test-pool
    users of ``parts`` with its seed."""
    from textrec.evaluation import evaluate
    from textrec.serve.session import SLOT_FILLER
    from textrec.simulator.baselines import ReaderSlotFillerPolicy

    served = ReaderSlotFillerPolicy(parts.catalog, reader=reader)
    result = evaluate(served, parts.users("test"), SLOT_FILLER_SESSIONS, parts.seed)
    slot = tuple(float(getattr(result, f"sr_at_{k}").mean) for k in _KS)
    if spec == SLOT_FILLER:
        return PolicyQuality(slot, slot, "measured now")
    saved = saved_success(spec)
    if saved is None:
        return PolicyQuality(None, slot, "")
    return PolicyQuality(saved[0], slot, saved[1])
