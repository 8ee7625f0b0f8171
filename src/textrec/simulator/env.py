"""Gymnasium environment for one session: ``textrec/TextRec-v0``.

* Observation (``Dict``): ``text`` the user's last sentence (``""`` before the first turn and
  after success), ``tokens`` its token ids (``(L,) int32``, right-padded with ``<pad>``) and
  ``features`` the image features of the item just shown (``(D,) float32``, zeros before the
  first turn).
* Action: ``MultiDiscrete(schema.sizes)``, one value per attribute; the environment shows the unseen
  pool item that best matches it (:meth:`Retriever.by_values`).
* ``terminated`` = success, ``truncated`` = ``max_turns`` failed turns; all randomness comes from
  ``self.np_random``. ``info`` holds the structured feedback (attribute, global value, mode), the
  shown item, the turn and the violations of the step.

Example:
    >>> import gymnasium, textrec.simulator                        # doctest: +SKIP
    >>> env = gymnasium.make("textrec/TextRec-v0", catalog="builtin")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from textrec.catalog.catalog import Catalog, Pool
from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.language.bank import SentenceBank
from textrec.simulator.engine import BatchedSimulator, StepResult
from textrec.simulator.task import TaskConfig

__all__ = ["TextRecEnv", "observation_space", "observation_batch", "info_batch", "resolve_setup"]

Obs = dict[str, Any]


def resolve_setup(
    catalog: Catalog | str, bank: SentenceBank | None, config: TaskConfig | None, bank_seed: int
) -> tuple[Catalog, SentenceBank, TaskConfig]:
    """Fill the environments' defaults: open a catalog spec, build the sentence bank."""
    config = config or TaskConfig()
    if isinstance(catalog, str):
        from textrec.catalog.build import open_catalog

        catalog = open_catalog(catalog, progress=False)
    if not isinstance(catalog, Catalog):
        raise InputError(
            f"catalog must be a Catalog or a catalog spec string, got {type(catalog).__name__}"
        )
    if bank is None:
        from textrec.language.speech import build_sentence_bank

        bank = build_sentence_bank(catalog.schema, source=config.utterances, seed=bank_seed)
    return catalog, bank, config


def observation_space(catalog: Catalog, bank: SentenceBank) -> spaces.Dict:
    """The observation space of one session (see the module docstring)."""
    texts = [str(t) for t in bank.texts]
    charset = frozenset("".join(texts)) or frozenset("a")
    # Shown features are catalog rows, zeros before the first turn: the catalog's range bounds them.
    low = np.float32(min(float(catalog.features.min()), 0.0))
    high = np.float32(max(float(catalog.features.max()), 0.0))
    return spaces.Dict(
        {
            "text": spaces.Text(
                max_length=max(1, max(map(len, texts), default=1)), min_length=0, charset=charset
            ),
            "tokens": spaces.Box(
                0, len(bank.vocab) - 1, shape=(bank.tokens.shape[1],), dtype=np.int32
            ),
            "features": spaces.Box(low, high, shape=(catalog.feature_dim,), dtype=np.float32),
        }
    )


def observation_batch(result: StepResult, catalog: Catalog) -> Obs:
    """Observations of a batch.

    ``text`` a tuple of ``B`` str, ``tokens`` ``(B, L)``, ``features`` ``(B, D)``.
    """
    shown = result.items >= 0
    features = np.zeros((result.n_sessions, catalog.feature_dim), dtype=np.float32)
    features[shown] = catalog.features[result.items[shown]]
    return {
        "text": tuple(str(t) for t in result.texts),
        "tokens": result.tokens.astype(np.int32),
        "features": features,
    }


def info_batch(result: StepResult) -> dict[str, np.ndarray]:
    """Structured facts of a step, ``(B,)`` arrays: what the user said and what was shown."""
    return {
        "item": result.items,
        "turn": result.turn,
        "feedback_attribute": result.feedback_attribute,
        "feedback_value": result.feedback_value,
        "feedback_mode": result.feedback_mode,
        "violations": result.violations,
    }


class TextRecEnv(gym.Env[Obs, np.ndarray]):
    """One simulated user looking for one item (Gymnasium API).

    Args:
        catalog: a :class:`Catalog` or a spec for ``textrec.catalog.build.open_catalog``.
        pool: items that may be shown and targets come from (default: the unlabeled test pool).
        bank: the user's sentences (default: built from templates for ``config.utterances``).
        config: task rules and user habits.
        bank_seed: seed of the default sentence bank.
        render_mode: ``None`` or ``"ansi"`` (a text line per turn).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self,
        catalog: Catalog | str,
        pool: Pool | Sequence[int] | np.ndarray = "test",
        bank: SentenceBank | None = None,
        config: TaskConfig | None = None,
        bank_seed: int = 0,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InputError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.catalog, self.bank, self.config = resolve_setup(catalog, bank, config, bank_seed)
        self.render_mode = render_mode
        self.simulator = BatchedSimulator(self.catalog, pool, self.bank, self.config)
        self.retriever = Retriever(self.catalog, self.simulator.pool)
        self.observation_space = observation_space(self.catalog, self.bank)
        self.action_space = spaces.MultiDiscrete(
            np.asarray(self.catalog.schema.sizes, dtype=np.int64)
        )
        self._last: StepResult | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        """Start a session; ``options={"target": i}`` fixes the target's catalog index."""
        super().reset(seed=seed)
        target = (options or {}).get("target")
        targets = None if target is None else np.array([int(target)])
        self._last = self.simulator.reset(1, self.np_random, targets=targets)
        return self._single(self._last)

    def step(self, action: np.ndarray) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        """Show the best unseen item for the chosen values; return the user's reaction."""
        if self._last is None or not self._last.active[0]:
            raise InputError("the episode has ended (or never started): call reset() first")
        values = np.asarray(action)
        if values.shape != self.action_space.shape or not self.action_space.contains(
            values.astype(np.int64)
        ):
            raise InputError(f"action {values.tolist()} is not in {self.action_space}")
        item = self.retriever.by_values(values.astype(np.int64)[None], self.simulator.shown)
        self._last = self.simulator.step(item)
        obs, info = self._single(self._last)
        return (
            obs,
            float(self._last.reward[0]),
            bool(self._last.terminated[0]),
            bool(self._last.truncated[0]),
            info,
        )

    def render(self) -> str | None:
        """``"ansi"``: the last turn as one line of text."""
        if self.render_mode != "ansi" or self._last is None:
            return None
        r = self._last
        if r.items[0] < 0:
            return "turn 0: nothing shown yet"
        labels = ", ".join(
            f"{k}={v or '?'}" for k, v in self.catalog.label_text(int(r.items[0])).items()
        )
        said = "found it!" if r.terminated[0] else repr(str(r.texts[0]))
        item = self.catalog.item_ids[r.items[0]]
        return f"turn {int(r.turn[0])}: shown {item} ({labels}) -> user: {said}"

    def _single(self, result: StepResult) -> tuple[Obs, dict[str, Any]]:
        obs = observation_batch(result, self.catalog)
        single = {
            "text": obs["text"][0],
            "tokens": obs["tokens"][0],
            "features": obs["features"][0],
        }
        return single, {k: int(v[0]) for k, v in info_batch(result).items()}
