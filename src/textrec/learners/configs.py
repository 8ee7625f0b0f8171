r"""Every learner's settings: frozen config dataclasses, each field documented by the docstring
under it (``textrec train``'s learner options are generated from them, see
:mod:`textrec.learners.algorithms`).

Torch-free, so that ``textrec train --help`` lists the options without loading torch. Each learner
module (:mod:`~textrec.learners.bc`, :mod:`~textrec.learners.cql`, ...) holds the loss and update
its config parameterises; the maths of each config is in its docstring.

The hierarchy: :class:`StepConfig` (the update step, every learner) < :class:`OfflineConfig`
(learners of a log) < :class:`QConfig` (learners with Q heads and a target network);
:class:`OnlineConfig` extends :class:`StepConfig` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from textrec.errors import InputError

__all__ = [
    "StepConfig",
    "OfflineConfig",
    "QConfig",
    "OnlineConfig",
    "BCConfig",
    "ReaderConfig",
    "CQLConfig",
    "BCQConfig",
    "IQLConfig",
    "PENALTIES",
    "ACTOR_LOSSES",
]


@dataclass(frozen=True)
class StepConfig:
    """Settings of the update step of every learner (a learner's config extends it)."""

    lr: float = 1e-3
    """Adam learning rate."""
    track_coef: float = 0.0
    """Weight of the request-tracking auxiliary loss, which trains the policy heads to name the
    latest requested value (0, the default: none, the learner's own loss decides the policy)."""
    max_grad_norm: float = 10.0
    """Gradient norm clip per step."""

    def __post_init__(self) -> None:
        self.check_positive("lr", "max_grad_norm", strict=True)
        self.check_positive("track_coef")

    def check_unit(self, *keys: str, closed: bool = True) -> None:
        """Raise unless each field of ``keys`` lies in [0, 1] (``closed``) or (0, 1)."""
        for key in keys:
            v = getattr(self, key)
            ok = 0.0 <= v <= 1.0 if closed else 0.0 < v < 1.0
            if not ok:
                span = "[0, 1]" if closed else "(0, 1)"
                raise InputError(f"{type(self).__name__}.{key} must be in {span}, got {v}")

    def check_positive(self, *keys: str, strict: bool = False) -> None:
        """Raise unless each field of ``keys`` is >= 0 (``strict``: > 0)."""
        for key in keys:
            v = getattr(self, key)
            if not (v > 0 if strict else v >= 0):
                bound = "> 0" if strict else ">= 0"
                raise InputError(f"{type(self).__name__}.{key} must be {bound}, got {v}")

    def check_count(self, *keys: str) -> None:
        """Raise unless each (integer) field of ``keys`` is >= 1."""
        for key in keys:
            if getattr(self, key) < 1:
                raise InputError(
                    f"{type(self).__name__}.{key} must be >= 1, got {getattr(self, key)}"
                )


@dataclass(frozen=True)
class OfflineConfig(StepConfig):
    """Settings every offline learner shares (a learner's config extends it)."""

    n_dialogues: int = 128
    """Logged dialogues per update (drawn with replacement from the log)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_count("n_dialogues")


@dataclass(frozen=True)
class QConfig(OfflineConfig):
    """Settings of the learners with Q heads and a target network (cql, offpolicy, bcq, iql)."""

    gamma: float = 0.99
    """Discount factor (paper: 0.99)."""
    target_update: float = 0.005
    """Polyak rate of the target Q heads per step (1: copy every step)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_unit("gamma")
        if not 0.0 < self.target_update <= 1.0:
            raise InputError(
                f"{type(self).__name__}.target_update must be in (0, 1], got {self.target_update}"
            )


@dataclass(frozen=True)
class OnlineConfig(StepConfig):
    r"""PPO on simulated episodes (Schulman et al. 2017) with GAE (Schulman et al. 2016).

    Per turn ``t`` with state ``s_t`` (the tracker state) and multi-head action ``a_t``,
    :math:`\rho_t = \pi(a_t|s_t) / \pi_{old}(a_t|s_t)`, :math:`\log\pi = \sum_k \log\pi_k`:

    .. math::
        L = -\mathbb{E}_t[\min(\rho_t \hat A_t, \mathrm{clip}(\rho_t, 1 \pm \epsilon) \hat A_t)]
            + c_V\,\mathbb{E}_t[\tfrac12 (V(s_t) - \hat R_t)^2]
            - c_H\,\mathbb{E}_t[\textstyle\sum_k H(\pi_k(\cdot|s_t))]
            + c_T\,\mathbb{E}_{t,k: u_{tk}}[-\log\pi_k(u_{tk}|s_t)]

    with :math:`\hat A` the GAE(:math:`\gamma, \lambda`) advantages (normalised per minibatch) and
    :math:`\hat R = \hat A + V_{old}`. Paper: Adam, learning rate 5e-4, :math:`\gamma = 0.99`
    (``lr`` 1e-3 here reaches the same success rate in fewer updates); ``track_coef`` is
    :math:`c_T` (0, the default: pure PPO, the reward alone decides the policy).

    The last term is *request tracking*, an optional auxiliary cross-entropy: :math:`u_{tk}` is
    the latest value the user asked for on attribute :math:`k` before turn :math:`t`, as the
    agent's own pretrained text encoder reads the sentences (no simulator labels); the policy's
    asked logits learn, by binary cross-entropy, whether :math:`u_{tk}` exists. What was asked
    reaches the policy as state instead (``RecommenderConfig.slot_features``).
    """

    gamma: float = 0.99
    """Discount factor (paper: 0.99)."""
    gae_lambda: float = 0.2
    """GAE lambda: 1 = Monte-Carlo returns, 0 = one-step TD (0.2: see docs/learners/online.md)."""
    clip: float = 0.2
    """PPO ratio clip epsilon."""
    n_epochs: int = 4
    """Passes over each batch of episodes."""
    n_minibatches: int = 4
    """Minibatches (of whole episodes) per pass."""
    value_coef: float = 0.5
    """Weight c_V of the critic loss."""
    entropy_coef: float = 0.01
    """Weight c_H of the entropy bonus (summed over heads)."""
    value_hidden: int = 128
    """Hidden units of the critic's value MLP."""
    n_sessions: int = 128
    """Episodes played per update (the batch source's size)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_positive("clip", strict=True)
        self.check_unit("gamma", "gae_lambda")
        self.check_positive("value_coef", "entropy_coef")
        self.check_count("n_epochs", "n_minibatches", "value_hidden", "n_sessions")
        if self.n_minibatches > self.n_sessions:
            raise InputError(
                f"OnlineConfig.n_minibatches ({self.n_minibatches}) must be <= n_sessions "
                f"({self.n_sessions})"
            )


@dataclass(frozen=True)
class BCConfig(OfflineConfig):
    r"""Behaviour cloning of the logged actions.

    .. math::
        L = \mathbb{E}_{t,k:\,a_{tk} \ne -1}[-\log\pi_k(a_{tk}|s_t)] + c_T L_{track}
    """

    successful_only: bool = False
    """Imitate only the dialogues that found the target (the paper's IL row) instead of all."""


@dataclass(frozen=True)
class ReaderConfig(OfflineConfig):
    """The supervised slot reader: request tracking is its whole loss (``track_coef`` adds more
    of the same term)."""


PENALTIES = ("logsumexp", "policy", "items")
"""The forms of the conservative penalty (:attr:`CQLConfig.penalty`)."""

ACTOR_LOSSES = ("reverse_kl", "forward_kl")
"""The forms of soft policy improvement (:attr:`CQLConfig.actor_loss`)."""


@dataclass(frozen=True)
class CQLConfig(QConfig):
    """Conservative soft actor-critic over the attribute heads."""

    alpha: float = 0.01
    """Weight of the conservative penalty (0: plain off-policy soft actor-critic). 0.01 with the
    'items' penalty: validation SR@10 1.000 at the full budget (1,500 updates, 40k built-in log),
    where the per-head logsumexp form gave 0.718 (α 0.01) down to 0.068 (α 0.1); see
    docs/learners/offline.md."""
    penalty: str = "items"
    """Form of the conservative penalty: 'logsumexp' (CQL(H) per head: logsumexp_v Q_k -
    Q_k(data), summed), 'policy' (the paper's Eq. 6: E_pi Q - Q(data), pi the actor's
    distribution, held fixed) or 'items' (CQL(H) over the joint actions of the catalog's items:
    logsumexp_item Q(s, item) - Q(data); the default: the per-head form drives the heads to
    combinations no item has, see docs/learners/offline.md)."""
    tau: float = 0.05
    """Entropy temperature of the soft policy and of the soft Bellman target (with --auto-tau:
    every head's initial temperature)."""
    auto_tau: bool = True
    """Learn one temperature per head towards the target entropy (SAC-discrete); --no-auto-tau:
    the fixed tau. Learned by default: with tau fixed at 0.05 the entropy bonus stays about a
    turn's cost (the soft return per turn near 0), see docs/learners/offline.md."""
    target_entropy: float = 0.2
    """With --auto-tau: head k's target entropy as a share of its largest, log V_k (0.2: the best
    of {0.2, 0.5} on the validation pool, see docs/learners/offline.md)."""
    actor_loss: str = "forward_kl"
    """Soft policy improvement towards softmax(Q_k / tau_k) per head: 'forward_kl' (distil it:
    KL(softmax(Q/tau) || pi), whose gradient does not vanish at a saturated actor) or 'reverse_kl'
    (the paper's Eq. 7, E_pi[tau log pi - Q]; its actor saturates early and stops following the
    critic: validation SR@20 of cql alpha 1's actor 0.067 against 0.423 distilled, its Q-greedy
    0.52; see docs/learners/offline.md)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_positive("alpha")
        self.check_positive("tau", strict=True)
        self.check_unit("target_entropy", closed=False)
        if self.penalty not in PENALTIES:
            raise InputError(
                f"CQLConfig.penalty must be one of {list(PENALTIES)}, got {self.penalty!r}"
            )
        if self.actor_loss not in ACTOR_LOSSES:
            raise InputError(
                f"CQLConfig.actor_loss must be one of {list(ACTOR_LOSSES)}, got {self.actor_loss!r}"
            )


@dataclass(frozen=True)
class BCQConfig(QConfig):
    """Discrete BCQ: Q-learning restricted to values the behaviour clone finds likely."""

    threshold: float = 0.3
    """A value is allowed when its cloned probability is at least this share of the head's most
    probable value's (0: plain Q-learning, towards 1: imitation)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_unit("threshold", closed=False)


@dataclass(frozen=True)
class IQLConfig(QConfig):
    """Implicit Q-learning with an expectile value and advantage-weighted heads."""

    expectile: float = 0.7
    """Expectile of the value regression (0.5: the mean, SARSA-like; towards 1: a max)."""
    beta: float = 3.0
    """Inverse temperature of the advantage weights."""
    max_weight: float = 100.0
    """Upper clip of the advantage weights."""
    value_hidden: int = 128
    """Hidden units of the state-value MLP."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_unit("expectile", closed=False)
        self.check_positive("beta")
        self.check_positive("max_weight", strict=True)
        if self.value_hidden < 1:
            raise InputError(f"IQLConfig.value_hidden must be >= 1, got {self.value_hidden}")
