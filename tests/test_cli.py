"""The command line: a clean -h with help on every option, and distinct documented exit codes."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from archlab import cli
from archlab.errors import EXIT_CODES, ArchlabError, CorruptResourceError, MissingResourceError, ParamsError, exit_code

from conftest import ROOT, copy_params


def _parsers(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_option_has_help_and_the_help_is_clean():
    for parser in _parsers(cli.build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                assert all(a.help for a in action._choices_actions), parser.prog
            else:
                assert action.help and action.help != argparse.SUPPRESS, f"{parser.prog}: {action.dest} has no help"
        text = parser.format_help()
        assert "``" not in text and ":mod:" not in text, parser.prog
        for code, what in EXIT_CODES.items():
            assert f"{code}  {what}" in text, parser.prog


def test_help_lists_the_exit_codes():
    proc = subprocess.run([sys.executable, "-m", "archlab", "-h"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0
    assert "exit codes:" in proc.stdout and "3  missing data or weights" in proc.stdout


def test_exit_codes_follow_the_error_class():
    assert [exit_code(e("x")) for e in (ArchlabError, ParamsError, MissingResourceError, CorruptResourceError)] == [1, 2, 3, 4]
    assert exit_code(RuntimeError("x")) == 1
    assert len(set(EXIT_CODES)) == 5


@pytest.mark.parametrize("error,code", [(ParamsError, 2), (MissingResourceError, 3), (CorruptResourceError, 4),
                                        (ArchlabError, 1)])
def test_main_returns_the_code_of_the_error(error, code, monkeypatch, capsys, tmp_path):
    def fail(args):
        raise error("what is wrong; what to do")

    monkeypatch.setattr(cli, "_validate", fail)
    assert cli.main(["validate", "--root", str(tmp_path)]) == code
    assert capsys.readouterr().err == "archlab validate: error: what is wrong; what to do\n"


def test_real_failures_have_their_codes(tmp_path, capsys):
    root = copy_params(tmp_path / "project")
    assert cli.main(["validate", "--profile", "nope", "--root", str(root)]) == 2  # bad params
    assert cli.main(["run", "data_prepare", "name", "--profile", "test", "--root", str(root)]) == 2  # bad wildcard
    # the report's inputs (the sections) were never built: missing data
    assert cli.main(["run", "report", "--profile", "test", "--root", str(root)]) == 3
    err = capsys.readouterr().err
    assert "unknown profile 'nope'" in err and "is not of the form key=value" in err and "is missing" in err


def test_validate_prints_the_params_hash(tmp_path, capsys):
    from archlab.commands.report import params_hash
    from archlab.config import load_params

    root = copy_params(tmp_path / "project")
    assert cli.main(["validate", "--profile", "test", "--root", str(root)]) == 0
    assert f"params hash {params_hash(load_params('test', str(root)))}" in capsys.readouterr().out
