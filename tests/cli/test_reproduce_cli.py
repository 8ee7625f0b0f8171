"""``textrec reproduce`` / ``textrec iterative`` refuse bad input before any work (exit 2)."""

from __future__ import annotations

import pytest

from textrec.cli import main


def _run(capsys, *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--study", "ablation"], "study"),
        (["--learners", "cql,dqn"], "dqn"),
        (["--rounds", "-1"], "rounds"),
        (["--coverage-alphas", "0.1,big"], "--coverage-alphas"),
        (["--coverage-learners", "bc,dqn"], "dqn"),
        (["--eval-utterances", "model,templates"], "eval_utterances"),
        (["--ope-estimators", "cql,magic"], "ope_estimators"),
        (["--ope-fqe-steps", "0"], "ope-fqe-steps"),
    ],
)
def test_reproduce_bad_options_exit_2(capsys, tmp_path, args, message):
    code, err = _run(capsys, "reproduce", "--quick", "--out", str(tmp_path / "r"), *args)
    assert code == 2 and message in err
    assert not (tmp_path / "r").exists()


def test_reproduce_refuses_a_foreign_directory(capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    code, err = _run(capsys, "reproduce", "--quick", "--out", str(tmp_path))
    assert code == 2 and "not made by textrec" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_iterative_needs_an_existing_log(capsys, tmp_path):
    code, err = _run(
        capsys,
        "iterative",
        "--logs",
        str(tmp_path / "no-log"),
        "--out",
        str(tmp_path / "it"),
        "--algo",
        "bc",
        "--items",
        "300",
        "--no-progress",
    )
    assert code == 2 and "no-log" in err and "manifest.json" in err
    assert not (tmp_path / "it").exists()
