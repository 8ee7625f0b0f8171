"""The CLI's start-up and vocabulary: stages load on use; one name per option everywhere."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console

from textrec.cli import COMMANDS, common, load_command

HEAVY = ("torch", "pandas", "textrec.learners", "textrec.cli.train", "textrec.cli.catalog")


def _imported_after(code: str) -> list[str]:
    """The modules of :data:`HEAVY` imported by running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300
    )
    return eval(done.stdout.strip().splitlines()[-1])  # noqa: S307 -- our own print of a list


def test_importing_the_cli_imports_no_stage():
    assert _imported_after("import textrec.cli") == []


@pytest.mark.parametrize("argv", [["--help"], ["version"]])
def test_help_and_version_import_no_stage(argv):
    run = f"from textrec.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert _imported_after(run) == []


def _help_of(stage: str) -> str:
    """Code that prints ``textrec STAGE --help`` in-process."""
    return (
        f"from textrec.cli import main\ntry:\n    main([{stage!r}, '--help'])\n"
        "except SystemExit:\n    pass"
    )


@pytest.mark.parametrize("stage", sorted(COMMANDS))
def test_a_stages_help_does_not_import_torch(stage):
    # 'train' too: its learner options come from the torch-free textrec.learners.configs
    assert "torch" not in _imported_after(_help_of(stage))


def test_a_stages_help_comes_from_its_own_module():
    assert "textrec.cli.catalog" in _imported_after(_help_of("catalog"))


def test_a_stage_that_runs_imports_torch_with_the_threads_asked_for():
    code = (
        "from textrec.cli import main\ntry:\n    main(['--threads-torch', '2', 'train', '--algo',"
        " 'nope'])\nexcept SystemExit:\n    pass\nimport torch\nprint(torch.get_num_threads())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.split()[-1] == "2", done.stderr


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


def _leaves():
    """``(path, command)`` of every runnable stage command (a group's subcommands)."""
    for name in COMMANDS:
        command = load_command(name)
        for sub, leaf in getattr(command, "commands", {name: command}).items():
            yield (name if sub == name else f"{name} {sub}"), leaf


def _options(command) -> set[str]:
    return {o for p in command.params if not getattr(p, "hidden", False) for o in p.opts}


def test_the_listed_summary_is_the_commands_own_help():
    for name, (_, summary) in COMMANDS.items():
        assert summary == _first_paragraph(load_command(name).help), name


SEEDLESS = {"logs compact"}
"""Commands that draw nothing at random and read no catalog: a --seed would change nothing."""


def test_every_stage_takes_seed_json_and_no_progress():
    missing = {
        path: sorted(
            ({"--json", "--progress"} | (set() if path in SEEDLESS else {"--seed"}))
            - _options(command)
        )
        for path, command in _leaves()
    }
    assert {path: flags for path, flags in missing.items() if flags} == {}


def test_one_name_for_each_option():
    options = {path: _options(command) for path, command in _leaves()}
    old = {"--log-dir", "--steps-per-round", "--sessions-per-round", "--train-steps"}
    assert {path: sorted(o & old) for path, o in options.items() if o & old} == {}
    # --threshold is BCQ's mask wherever it appears; the reader's is --min-confidence
    assert {path for path, o in options.items() if "--threshold" in o} == {"train", "evaluate"}
    assert {path for path, o in options.items() if "--logs" in o} == {
        "train",
        "iterative",
        "ope",
        "chat",
        "serve",
    }


def test_tables_fit_80_columns_without_splitting_words(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(common, "console", Console(file=out, width=80, highlight=False))
    rows = [
        ["behaviour_logged", "0.823 ±0.006", "0.920 ±0.004", "0.941 ±0.004", "8.957 ±0.162"],
        ["slot_filler", "0.730 ±0.026", "0.877 ±0.019", "0.950 ±0.013", "10.412 ±0.441"],
    ]
    common.print_table("Table 2 on builtin (test pool; 1 seed(s))", ["row", *"abcd"], rows)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    words = {word for line in lines for word in line.replace("│", " ").split()}
    assert {w for row in rows for cell in row for w in cell.split()} <= words


def test_python_dash_m_textrec_is_the_console_script():
    """``python -m textrec`` runs the same CLI: the version line, and a mistyped command exits 2."""
    from textrec import __version__

    version = subprocess.run(
        [sys.executable, "-m", "textrec", "version"], capture_output=True, text=True, timeout=300
    )
    assert version.returncode == 0, version.stderr
    assert __version__ in version.stdout
    typo = subprocess.run(
        [sys.executable, "-m", "textrec", "trian"], capture_output=True, text=True, timeout=300
    )
    assert typo.returncode == 2
    assert "Traceback" not in typo.stderr
