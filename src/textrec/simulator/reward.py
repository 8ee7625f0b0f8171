"""Reward maths as pure array functions (paper, "Environment and Dataset").

The paper's reward::

    r_t = 1 − (1 − λ)·‖ResNet(a_t) − ResNet(a*)‖₂ − λ·‖AttrNet(a_t) − AttrNet(a*)‖₀

leaves both norms unscaled. textrec scales each term into [0, 1] so that λ really is the weight of
the attribute term, whatever the feature dimension or the number of attributes, and adds a constant
offset (``TaskConfig.reward_offset``, -1 by default, which restores the paper's per-turn cost; see
:class:`textrec.simulator.task.TaskConfig`):

* image term ``d_f = ½‖u(a_t) − u(a*)‖₂`` with ``u`` the features scaled to unit length
  (``Catalog.unit_features``); two unit vectors are at most 2 apart, hence the ½.
* attribute term ``d_g = |{k desired : a_t lacks the desired value}| / |desired|``: the L0 distance
  on the desired attribute values, divided by their number so that catalogs with 4 or 6 attributes
  (or targets with missing labels) give comparable scales. True label sets decide whether the
  item has a value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["feature_distance", "attribute_distance", "turn_reward", "add_failure_penalty"]


def feature_distance(shown_unit: np.ndarray, target_unit: np.ndarray) -> np.ndarray:
    """``d_f = ½‖u_shown − u_target‖₂`` per row, in [0, 1].

    Args:
        shown_unit: ``(B, D)`` unit-length features of the shown items.
        target_unit: ``(B, D)`` unit-length features of the targets.

    Returns:
        ``(B,) float32``.
    """
    diff = shown_unit - target_unit
    dist = 0.5 * np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return np.clip(dist, 0.0, 1.0).astype(np.float32)


def attribute_distance(missed: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """``d_g = Σ_k missed·desired / Σ_k desired`` per row, in [0, 1] (0 when nothing is desired).

    Args:
        missed: ``(B, K) bool`` the shown item lacks the desired value of attribute ``k``.
        desired: ``(B, K) bool`` attribute ``k`` has a desired value.

    Returns:
        ``(B,) float32``.
    """
    n_desired = desired.sum(axis=1)
    n_missed = (missed & desired).sum(axis=1)
    return (n_missed / np.maximum(n_desired, 1)).astype(np.float32)


def turn_reward(
    d_f: np.ndarray, d_g: np.ndarray, reward_lambda: float, offset: float = 0.0
) -> np.ndarray:
    """``r = 1 − (1 − λ)·d_f − λ·d_g + offset`` per row.

    In ``[offset, 1 + offset]`` when ``d_f, d_g`` ∈ [0, 1].

    Example:
        >>> turn_reward(np.array([0.5]), np.array([0.25]), 0.5).tolist()
        [0.625]
        >>> turn_reward(np.array([0.5]), np.array([0.25]), 0.5, offset=-1.0).tolist()
        [-0.375]
    """
    return (1.0 + offset - (1.0 - reward_lambda) * d_f - reward_lambda * d_g).astype(np.float32)


def add_failure_penalty(
    reward: np.ndarray, truncated: np.ndarray, failure_penalty: float
) -> np.ndarray:
    """The reward with ``failure_penalty`` added where the session failed its last turn.

    Example:
        >>> add_failure_penalty(np.array([0.5, 0.5]), np.array([False, True]), -3.0).tolist()
        [0.5, -2.5]
    """
    return (reward + np.where(truncated, failure_penalty, 0.0)).astype(np.float32)
