r"""The supervised slot reader (``slot-reader``): Table 2's "Supervised slot reader (no RL)" row.

No reinforcement learning and no imitation: the policy heads learn only the request-tracking loss
(:func:`~textrec.learners.functional.request_tracking_loss`), the cross-entropy of head ``k`` on
the latest value the user asked for on attribute ``k`` as the frozen text reader heard it, plus
the binary cross-entropy of the asked head on whether attribute ``k`` was asked for,

.. math::
    L = \mathbb{E}_{t,k:\,u_{tk} \ne -1}[-\log\pi_k(u_{tk}|s_t)]
        + \mathbb{E}_{t,k}[\mathrm{BCE}(a_k(s_t), \mathbb{1}(u_{tk} \ne -1))].

Retrieval weighs head ``k`` by the asked head (``Acting.weights = 'asked'``), so the values asked
for outrank the heads' guesses: a learned slot-filler, what every learner was before the
learners' own losses decided their policies (issue 15). The rewards and logged actions are unused.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from textrec.agent.recommender import Recommender
from textrec.learners.configs import ReaderConfig
from textrec.learners.offline import Forward, OfflineLearner, tracking_loss

__all__ = ["ReaderLearner"]


class ReaderLearner(OfflineLearner):
    """Request tracking alone, of a :class:`~textrec.agent.Recommender` on logged dialogues."""

    name: ClassVar[str] = "slot-reader"

    def __init__(
        self, recommender: Recommender, config: ReaderConfig | None = None, seed: int = 0
    ) -> None:
        super().__init__(recommender, config or ReaderConfig(), seed)

    def acting(self) -> dict[str, Any]:
        """The policy heads, weighed by the asked head."""
        return {"weights": "asked"}

    def loss(self, fwd: Forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The request-tracking loss of the pass."""
        track = tracking_loss(fwd)
        return track, {"loss/reader": track}
