"""DualDICE (Nachum et al. 2019) with linear features, solved in closed form, for episodic logs.

DICE estimators need no behaviour probabilities: they estimate the *correction ratio*
``ζ(s, a) = d^π(s, a) / d^D(s, a)`` between the target policy's state-action visitations and the
log's directly from the transitions, and value the policy as ``V = (1/N) Σ_rows ζ(s, a) r``.

**Episodic, undiscounted form.** With ``N`` logged sessions and ``d_t = 1`` on a session's last
row (then the absorbing state, value 0), let ``ρ^π(s, a)`` be ``π``'s expected visits per session.
It is the one solution of the Bellman flow: for every function ``ν``::

    Σ_{s,a} ρ^π(s, a) [ ν(s, a) − (1 − d) E_{s'|s,a} E_{a'~π} ν(s', a') ] = E_{s0} E_{a~π} ν(s0, a)

Writing ``ρ^π = N · d̂^D · ζ`` with ``d̂^D`` the empirical row counts turns it into an equation on
the logged rows, which DualDICE's saddle point ``min_ν max_ζ`` solves. **Linear features**
``ν = φᵀθ``, ``ζ = φᵀη``: the saddle point's condition on ``θ`` alone fixes ``η``::

    Âᵀ η = b̂,   Â = (1/N) Σ_rows φ(s_t, a_t) [φ(s_t, a_t) − (1 − d_t) E_{a'~π} φ(s_{t+1}, a')]ᵀ,
                b̂ = (1/N) Σ_sessions E_{a~π} φ(s_0, a)

solved by least squares with a ridge ``λ``: ``η = (Â Âᵀ + λI)⁻¹ Â b̂``. With one-hot (tabular)
features this is exactly the empirical visitation ratio, and ``V̂`` the certainty-equivalent
model's value of ``π``. ``E_{a~π} φ`` must be exact: with the multi-discrete action the features
are factorised over heads (:func:`dice_features`), so it costs one dot product per head.

The interval (:func:`~textrec.ope.offpolicy.estimate`'s session bootstrap) holds ``ζ`` fixed: it
leaves out the solve's own variance.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dualdice_ratios", "dice_features"]


def dualdice_ratios(
    phi: np.ndarray, phi_next: np.ndarray, phi_start: np.ndarray, ridge: float
) -> np.ndarray:
    """``(R,)`` correction ratios ``ζ = φ η`` of the linear DualDICE saddle point.

    Args:
        phi: ``(R, D)`` features ``φ(s_t, a_t)`` of the logged rows.
        phi_next: ``(R, D)`` ``(1 − d_t) E_{a'~π} φ(s_{t+1}, a')`` (0 on a session's last row).
        phi_start: ``(N, D)`` ``E_{a~π} φ(s_0, a)`` of each session's first state.
        ridge: ``λ >= 0`` added to ``Â Âᵀ``.
    """
    n = len(phi_start)
    a = phi.T @ (phi - phi_next) / n
    b = phi_start.mean(axis=0)
    eta = np.linalg.solve(a @ a.T + ridge * np.eye(len(a)), a @ b)
    return phi @ eta


def dice_features(
    base: np.ndarray,
    known: np.ndarray,
    turn: np.ndarray,
    actions: np.ndarray,
    target: np.ndarray,
    offsets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Factorised features of the logged actions and their expectation under ``π``.

    ``φ(s, a) = [ψ(s), e_a, p_k(a_k), known_k · p_k(a_k)]`` with ``ψ(s) = [1, known, turn,
    turn², mean known]``, ``e_a`` the ``V`` one-hots of the ``K`` chosen values and ``p_k`` the
    reader slot-filler's head distributions; ``E_{a~π} φ(s, a) = [ψ(s), π, Σ_v π_k(v) p_k(v),
    known_k · Σ_v π_k(v) p_k(v)]``.

    Args:
        base: ``(R, V)`` the slot-filler's ``p_k``, heads side by side.
        known: ``(R, K)`` the user named head ``k``'s value.
        turn: ``(R,)`` turn, scaled to [0, 1].
        actions: ``(R, K)`` logged values, global indices.
        target: ``(R, V)`` the target's ``π_k``, heads side by side.
        offsets: ``(K + 1,)`` where each head starts in ``V``.

    Returns:
        ``(φ(s_t, a_t), E_π φ(s_t, ·))``, each ``(R, D) float64``.
    """
    r = len(base)
    known = known.astype(np.float64)
    psi = np.column_stack([np.ones(r), known, turn, turn**2, known.mean(axis=1)])
    onehot = np.zeros((r, base.shape[1]))
    np.put_along_axis(onehot, actions, 1.0, axis=1)
    p_logged = np.take_along_axis(base, actions, axis=1).astype(np.float64)
    bounds = zip(offsets[:-1], offsets[1:], strict=True)
    p_target = np.stack(
        [(target[:, lo:hi] * base[:, lo:hi]).sum(axis=1) for lo, hi in bounds], axis=1
    ).astype(np.float64)
    logged = np.column_stack([psi, onehot, p_logged, known * p_logged])
    expected = np.column_stack([psi, target.astype(np.float64), p_target, known * p_target])
    return logged, expected
