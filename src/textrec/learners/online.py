"""On-policy actor-critic (PPO with GAE): the paper's "On-policy" upper bound, learned from reward.

Each update takes a batch of whole episodes just played on the train pool by the current policy
(one value sampled per attribute head, the item retrieved by those values), computes advantages with
GAE under the pre-update networks, then runs a few epochs of clipped policy-gradient steps on
minibatches of episodes, re-running the recurrent tracker over each episode (backpropagation
through the whole dialogue). With ``n_epochs = n_minibatches = 1`` it is exactly A2C.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from textrec.agent.policy import ValueHead, reset_parameters
from textrec.agent.recommender import Recommender, RecommenderPolicy
from textrec.learners.batches import DialogueBatch
from textrec.learners.configs import OnlineConfig
from textrec.learners.functional import (
    clipped_surrogate,
    gae,
    masked_mean,
    multi_head_entropy,
    multi_head_log_prob,
    normalise,
    request_tracking_loss,
)
from textrec.learners.state import learner_state, load_learner_state
from textrec.learners.step import adam, gradient_step

__all__ = ["OnlineLossParts", "OnlineLearner"]


@dataclass(frozen=True)
class OnlineLossParts:
    """The loss terms of one minibatch step (tensors; reported as floats)."""

    actor: torch.Tensor
    """Clipped surrogate loss (negated objective)."""
    critic: torch.Tensor
    """½ squared error of V(s) against the GAE returns."""
    entropy: torch.Tensor
    """Mean summed per-head entropy of the policy."""
    track: torch.Tensor
    """Request-tracking cross-entropy (mean over the heads with a request; 0 when not used)."""
    approx_kl: torch.Tensor
    """Estimate of KL(pi_old || pi): mean of (rho - 1) - log rho."""
    clip_fraction: torch.Tensor
    """Share of turns whose ratio left [1 - eps, 1 + eps]."""


class OnlineLearner:
    """PPO/A2C learner of a :class:`Recommender` on :class:`DialogueBatch` of fresh episodes.

    Trains the recommender's text (when ``finetune_text``), item, tracker and policy networks and a
    critic :class:`ValueHead` on the tracker state; the Q heads are not used.

    Args:
        recommender: The agent to train (its weights change in place).
        config: Hyperparameters.
        seed: Seed of the critic's initialisation and of the minibatch order.
    """

    name: ClassVar[str] = "online"

    def __init__(
        self, recommender: Recommender, config: OnlineConfig | None = None, seed: int = 0
    ) -> None:
        self.config = config or OnlineConfig()
        self.recommender = recommender
        self.generator = torch.Generator().manual_seed(seed)
        self.critic = ValueHead(recommender.state_dim, self.config.value_hidden)
        reset_parameters(self.critic, self.generator)
        self.trained = recommender.parameters_of("text", "items", "tracker", "actor") + list(
            self.critic.parameters()
        )
        self.optimiser = adam(self.trained, self.config)
        self.n_updates = 0

    def policy(self) -> RecommenderPolicy:
        """The greedy policy of the current recommender (for evaluation)."""
        return self.recommender.policy()

    def acting_policy(self) -> RecommenderPolicy:
        """The sampling policy that plays the training episodes."""
        return self.recommender.policy(sample=True)

    def update(self, batch: DialogueBatch) -> dict[str, float]:
        """One PPO update on a batch of episodes played by the current policy."""
        cfg, rec = self.config, self.recommender
        mask = torch.as_tensor(batch.dialogues.mask)
        actions = torch.as_tensor(batch.actions)
        rewards = torch.as_tensor(batch.rewards)
        # Targets under the networks that played the batch: old log-probs, values, GAE advantages.
        with torch.no_grad():
            codes = rec.sentence_codes(batch.dialogues)
            heard = rec.heard_requests(batch.dialogues, codes)
            states = rec.unroll(batch.dialogues, codes, heard)
            old_log_probs = multi_head_log_prob(rec.head_logits(states[:, :-1]), actions)
            values = self.critic(states)
            advantages, returns = gae(
                rewards, values, torch.as_tensor(batch.dones), mask, cfg.gamma, cfg.gae_lambda
            )
        frozen_codes = None if rec.config.finetune_text else codes
        parts: list[OnlineLossParts] = []
        n = len(batch.rewards)
        for _ in range(cfg.n_epochs):
            order = torch.randperm(n, generator=self.generator).numpy()
            for rows in np.array_split(order, cfg.n_minibatches):
                parts.append(
                    self._step(batch, rows, frozen_codes, old_log_probs, advantages, returns, heard)
                )
        self.n_updates += 1
        metrics = {
            f"loss/{k}": float(torch.stack([getattr(p, k) for p in parts]).mean())
            for k in ("actor", "critic", "entropy")
        }
        if cfg.track_coef > 0:
            metrics["loss/track"] = float(torch.stack([p.track for p in parts]).mean())
        metrics["policy/approx_kl"] = float(torch.stack([p.approx_kl for p in parts]).mean())
        metrics["policy/clip_fraction"] = float(
            torch.stack([p.clip_fraction for p in parts]).mean()
        )
        metrics["value/mean"] = float(masked_mean(values[:, :-1], mask))
        metrics["value/explained_variance"] = _explained_variance(values[:, :-1], returns, mask)
        metrics.update(_rollout_metrics(batch))
        return metrics

    def _step(
        self,
        batch: DialogueBatch,
        rows: np.ndarray,
        codes: torch.Tensor | None,
        old_log_probs: torch.Tensor,
        advantages: torch.Tensor,
        returns: torch.Tensor,
        heard: np.ndarray,
    ) -> OnlineLossParts:
        """One gradient step on the episodes ``rows`` (``heard``: the batch's latest requests
        ``(B, T + 1, K)``, :meth:`Recommender.heard_requests`)."""
        cfg, rec = self.config, self.recommender
        dialogues = batch.dialogues.take(rows)
        t = dialogues.items.shape[1]
        idx = torch.as_tensor(rows)
        mask = torch.as_tensor(dialogues.mask)
        requests = heard[rows, : t + 1]
        states = rec.unroll(dialogues, codes, requests)[:, :-1]
        out = rec.heads(states)
        logits = out.logits
        log_probs = multi_head_log_prob(logits, torch.as_tensor(batch.actions[rows, :t]))
        old = old_log_probs[idx, :t]
        adv = normalise(advantages[idx, :t], mask)
        # Actor: clipped surrogate, so a batch serves several steps without overshooting.
        actor = -masked_mean(clipped_surrogate(log_probs, old, adv, cfg.clip), mask)
        # Critic: regress V(s_t) on the GAE return. It reads a detached state: it is only the
        # advantage baseline, and its large squared errors would otherwise drown the actor's
        # gradient in the shared tracker.
        critic = 0.5 * masked_mean((self.critic(states.detach()) - returns[idx, :t]) ** 2, mask)
        # Entropy bonus: keeps every head exploring values until the reward says otherwise.
        entropy = masked_mean(multi_head_entropy(logits), mask)
        loss = actor + cfg.value_coef * critic - cfg.entropy_coef * entropy
        # Optional request tracking: the heads name what the user asked for, as the text encoder
        # reads it, and the asked logits say which attributes the user has asked about.
        track = torch.zeros(())
        if cfg.track_coef > 0:
            track = request_tracking_loss(
                logits, out.asked, torch.as_tensor(requests[:, :-1]), mask
            )
            loss = loss + cfg.track_coef * track
        gradient_step(self.optimiser, loss, self.trained, cfg)
        with torch.no_grad():
            log_ratio = log_probs - old
            approx_kl = masked_mean(log_ratio.exp() - 1.0 - log_ratio, mask)
            clipped = masked_mean(((log_ratio.exp() - 1.0).abs() > cfg.clip).float(), mask)
        return OnlineLossParts(
            actor.detach(), critic.detach(), entropy.detach(), track.detach(), approx_kl, clipped
        )

    def state_dict(self) -> dict[str, Any]:
        """Recommender (and its config), critic, optimiser, minibatch generator, update count."""
        return learner_state(
            self.recommender, self.critic, self.optimiser, self.generator, self.n_updates
        )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (of a learner whose recommender has the same config)."""
        self.n_updates = load_learner_state(
            state, self.recommender, self.critic, self.optimiser, self.generator
        )


def _explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """``1 - Var(R - V) / Var(R)`` over the turns in ``mask`` (1: perfect critic, 0: a constant)."""
    var_r = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
    resid = returns - values
    var_e = masked_mean((resid - masked_mean(resid, mask)) ** 2, mask)
    return float(1.0 - var_e / var_r.clamp_min(1e-8))


def _rollout_metrics(batch: DialogueBatch) -> dict[str, float]:
    """Success rate, turns and undiscounted return of the batch's episodes."""
    return {
        "rollout/success": float(batch.terminated.any(axis=1).mean()),
        "rollout/turns": float(batch.dialogues.n_turns.mean()),
        "rollout/return": float(batch.rewards.sum(axis=1).mean()),
    }
