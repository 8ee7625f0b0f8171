"""Gymnasium vector environment over the batched engine: thousands of sessions in one step call.

Unlike ``SyncVectorEnv`` (one Python env per session), :class:`TextRecVectorEnv` drives a single
:class:`~textrec.simulator.engine.BatchedSimulator`, so a step costs a few array operations
whatever ``num_envs`` is. Spaces and ``info`` keys are those of
:class:`~textrec.simulator.env.TextRecEnv`, batched; ``info`` values are ``(num_envs,)`` arrays.

Autoreset mode: ``AutoresetMode.NEXT_STEP`` (Gymnasium's default). The step that ends a session
returns its final observation with ``terminated`` or ``truncated`` set; at the next ``step`` call
that session's action is ignored and it starts a new session, returning the turn-0 observation
with reward 0 and both flags False.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from textrec.catalog.catalog import Catalog, Pool
from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.language.bank import SentenceBank
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.env import info_batch, observation_batch, observation_space, resolve_setup
from textrec.simulator.task import TaskConfig

__all__ = ["TextRecVectorEnv"]


class TextRecVectorEnv(VectorEnv):
    """``num_envs`` simulated sessions stepped together (Gymnasium ``VectorEnv``).

    Args:
        catalog: a :class:`Catalog` or a spec for ``textrec.catalog.build.open_catalog``.
        num_envs: number of parallel sessions.
        pool: items that may be shown and targets come from.
        bank: the user's sentences (default: built from templates for ``config.utterances``).
        config: task rules and user habits.
        bank_seed: seed of the default sentence bank.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        catalog: Catalog | str,
        num_envs: int = 1024,
        pool: Pool | Sequence[int] | np.ndarray = "test",
        bank: SentenceBank | None = None,
        config: TaskConfig | None = None,
        bank_seed: int = 0,
    ) -> None:
        if num_envs < 1:
            raise InputError(f"num_envs must be >= 1, got {num_envs}")
        self.catalog, self.bank, self.config = resolve_setup(catalog, bank, config, bank_seed)
        self.num_envs = int(num_envs)
        self.simulator = BatchedSimulator(self.catalog, pool, self.bank, self.config)
        self.retriever = Retriever(self.catalog, self.simulator.pool)
        self.single_observation_space = observation_space(self.catalog, self.bank)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = spaces.MultiDiscrete(
            np.asarray(self.catalog.schema.sizes, dtype=np.int64)
        )
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start ``num_envs`` sessions; ``options={"targets": indices}`` fixes the targets."""
        super().reset(seed=seed)
        targets = (options or {}).get("targets")
        result = self.simulator.reset(self.num_envs, self.np_random, targets=targets)
        self._autoreset[:] = False
        self._started = True
        return observation_batch(result, self.catalog), info_batch(result)

    def step(
        self, actions: np.ndarray
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every running session; restart those that ended at the previous step."""
        if not self._started:
            raise InputError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != self.action_space.shape or not self.action_space.contains(
            actions.astype(np.int64)
        ):
            raise InputError(f"actions of shape {actions.shape} are not in {self.action_space}")
        running = np.flatnonzero(~self._autoreset)
        items = np.full(self.num_envs, -1, dtype=np.int64)
        if running.size:
            items[running] = self.retriever.by_values(
                actions[running].astype(np.int64), self.simulator.shown[running]
            )
            result = self.simulator.step(items)
        else:  # every session is restarting
            result = self.simulator.blank_result()
        obs, info = observation_batch(result, self.catalog), info_batch(result)
        if self._autoreset.any():  # they took no step: blank feedback, no item; now turn 0
            self.simulator.reset_sessions(self._autoreset)
            info["turn"] = np.where(self._autoreset, 0, info["turn"]).astype(info["turn"].dtype)
        self._autoreset = result.terminated | result.truncated
        return obs, result.reward, result.terminated, result.truncated, info
