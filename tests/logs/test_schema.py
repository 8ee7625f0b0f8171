"""Row records of the experience log and the oracle sidecar: round trips and validation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from tests.logs.conftest import make_rows
from textrec.logs.schema import EXPERIENCE_SCHEMA, ORACLE_SCHEMA, ExperienceBatch, OracleBatch


def test_experience_round_trip(toy_catalog):
    exp, _ = make_rows(toy_catalog, 15)
    table = exp.to_table()
    assert table.schema.equals(EXPERIENCE_SCHEMA)
    back = ExperienceBatch.from_table(table)
    for name in (
        "session_id",
        "device_id",
        "turn",
        "item_id",
        "feedback",
        "reward",
        "terminated",
        "truncated",
    ):
        np.testing.assert_array_equal(getattr(back, name), getattr(exp, name))
    assert (
        back.turn.dtype == np.int16
        and back.device_id.dtype == np.int32
        and back.reward.dtype == np.float32
    )


def test_oracle_round_trip(toy_catalog):
    _, ora = make_rows(toy_catalog, 15)
    table = ora.to_table()
    assert table.schema.equals(ORACLE_SCHEMA)
    assert table.schema.field("log_probs").type == pa.list_(pa.float32())
    back = OracleBatch.from_table(table)
    np.testing.assert_array_equal(back.log_probs, ora.log_probs)
    assert back.log_probs.shape == (ora.n_rows, toy_catalog.schema.n_attributes)
    np.testing.assert_array_equal(back.target_id, ora.target_id)
    np.testing.assert_array_equal(back.violations, ora.violations)


def test_session_offsets_and_completeness(toy_catalog):
    exp, _ = make_rows(toy_catalog, 10)
    offsets = exp.check_complete()
    assert offsets[0] == 0 and offsets[-1] == exp.n_rows and len(offsets) == 11


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("reward", np.nan, "column 'reward'.*must be finite"),
        ("turn", -1, "column 'turn'.*must be >= 0"),
        ("device_id", -2, "column 'device_id'.*must be >= 0"),
        ("session_id", "", "column 'session_id'.*non-empty"),
        ("item_id", "", "column 'item_id'.*must name the shown item"),
    ],
)
def test_bad_cells_are_named(toy_catalog, column, value, match):
    exp, _ = make_rows(toy_catalog, 5)
    arr = getattr(exp, column).copy()
    arr[3] = value
    bad = replace(exp, **{column: arr})
    with pytest.raises(ValueError, match=f"shard-x: row 3, {match}"):
        bad.validate("shard-x")


def test_terminated_and_truncated_together_is_rejected(toy_catalog):
    exp, _ = make_rows(toy_catalog, 5)
    last = exp.check_complete()[1] - 1
    trunc = exp.truncated.copy()
    term = exp.terminated.copy()
    term[last], trunc[last] = True, True
    bad = replace(exp, terminated=term, truncated=trunc, feedback=np.full(exp.n_rows, ""))
    with pytest.raises(ValueError, match="column 'truncated'"):
        bad.validate()


def _rows(session_id, turn, terminated, truncated):
    n = len(session_id)
    return ExperienceBatch(
        session_id=np.array(session_id, dtype=object),
        device_id=np.zeros(n),
        turn=turn,
        item_id=np.full(n, "toy-0001", dtype=object),
        feedback=np.where(terminated, "", "more boots"),
        reward=np.zeros(n),
        terminated=terminated,
        truncated=truncated,
    )


@pytest.mark.parametrize(
    ("session_id", "turn", "terminated", "match"),
    [
        (
            ["a", "a", "b", "b"],
            [1, 2, 1, 2],
            [0, 0, 0, 1],
            "row 1: session 'a' has no terminated/truncated final row",
        ),
        (
            ["a", "a", "b", "b"],
            [1, 2, 1, 2],
            [1, 1, 0, 1],
            "row 0: session 'a' ends before its last row",
        ),
        (
            ["a", "b", "a", "b"],
            [1, 1, 2, 2],
            [0, 0, 1, 1],
            "row 2: rows of session 'a' are not contiguous",
        ),
        (
            ["a", "a", "b", "b"],
            [1, 3, 1, 2],
            [0, 1, 0, 1],
            "row 1, column 'turn': session 'a' goes from turn 1 to 3",
        ),
        (["a", "a", "b", "b"], [2, 3, 1, 2], [0, 1, 0, 1], "row 0: session 'a' starts at turn 2"),
    ],
)
def test_incomplete_or_disordered_sessions_are_rejected(session_id, turn, terminated, match):
    rows = _rows(session_id, turn, np.array(terminated, bool), np.zeros(4, bool))
    with pytest.raises(ValueError, match=f"shard-y: {match}"):
        rows.check_complete("shard-y")


def test_opening_utterance_row_is_a_whole_session_start():
    rows = _rows(["a", "a", "a"], [0, 1, 2], np.array([0, 0, 1], bool), np.zeros(3, bool))
    rows = replace(rows, item_id=np.array(["", "toy-0001", "toy-0002"], dtype=object))
    rows.validate()
    np.testing.assert_array_equal(rows.check_complete(), [0, 3])


def test_from_table_names_missing_columns_and_nulls(toy_catalog):
    exp, _ = make_rows(toy_catalog, 3)
    table = exp.to_table()
    with pytest.raises(ValueError, match=r"shard-z: missing columns \['reward'\]"):
        ExperienceBatch.from_table(table.drop_columns(["reward"]), "shard-z")
    nulls = table.set_column(
        table.schema.get_field_index("feedback"), "feedback", pa.nulls(len(table), pa.string())
    )
    with pytest.raises(ValueError, match="column 'feedback' holds"):
        ExperienceBatch.from_table(nulls, "shard-z")
    wrong = table.set_column(
        table.schema.get_field_index("schema_version"),
        "schema_version",
        pa.array(np.full(len(table), 7, np.int16)),
    )
    with pytest.raises(ValueError, match="column 'schema_version': value 7"):
        ExperienceBatch.from_table(wrong, "shard-z")


def test_oracle_rejects_positive_log_probs(toy_catalog):
    _, ora = make_rows(toy_catalog, 3)
    lp = ora.log_probs.copy()
    lp[1, 0] = 0.5
    with pytest.raises(ValueError, match="row 1, column 'log_probs'"):
        replace(ora, log_probs=lp).validate()
