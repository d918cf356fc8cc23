"""The README is read in five minutes and every command in it runs: make targets exist, `python -m archlab`
subcommands parse, each Snakemake option is one Snakemake knows, each dvc command parses with dvc's own
parser, and every file it links to is in the repository."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text()
WORD_BUDGET = 1550  # the issue's ~1,500 words


def _commands(tool: str) -> list[list[str]]:
    """Every command line of the README that starts with ``tool``: code-block lines and inline code spans,
    split as a shell would, without trailing comments."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        lines += block.splitlines()
    lines += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", README, flags=re.S))
    out = []
    for line in lines:
        words = shlex.split(line, comments=True)
        for i in range(len(words)):  # also a command after "then", "or" in prose spans
            if words[i:i + len(tool.split())] == tool.split() and len(words) > i + len(tool.split()) - 1:
                out.append(words[i:])
                break
    return out


def test_readme_fits_its_word_budget():
    words = len(README.split())
    assert words <= WORD_BUDGET, f"README.md has {words} words (budget {WORD_BUDGET}): move detail to docs/"


def test_readme_defines_report_keys_and_study_names_before_using_them():
    for key in ("A", "B", "C", "M", "D"):
        assert re.search(rf"^\| {key} \| \*", README, re.M), f"report key {key} has no row in the sources table"
    defined = README.index("seven studies, S1–S7")
    for study in range(1, 8):
        assert re.search(rf"\bS{study}\b", README).start() >= defined, f"S{study} is used before the studies are introduced"
        assert re.search(rf"^\| S{study} `", README, re.M), f"S{study} has no row in the studies table"


def test_make_targets_in_the_readme_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", makefile, re.M))
    used = {c[1] for c in _commands("make") if len(c) > 1}
    assert {"demo", "test"} <= used
    assert used <= targets, f"README names make targets the Makefile lacks: {sorted(used - targets)}"


def test_archlab_subcommands_in_the_readme_exist():
    from archlab.cli import build_parser

    parser = build_parser()
    used = _commands("python -m archlab")
    assert used
    for words in used:
        argv = words[3:words.index("|")] if "|" in words else words[3:]
        if argv:  # a bare `python -m archlab` names the tool in prose
            parser.parse_args(argv)  # exits (SystemExit 2) on an unknown command or option


@pytest.fixture(scope="module")
def snakemake_help() -> str:
    exe = Path(sys.executable).with_name("snakemake")
    return subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_snakemake_options_in_the_readme_exist(snakemake_help):
    used = _commands("snakemake")
    assert used
    for words in used:
        for option in (w.split("=")[0] for w in words if w.startswith("--")):
            assert re.search(rf"(^|[\s,]){re.escape(option)}([\s,=]|$)", snakemake_help, re.M), \
                f"`{' '.join(words)}`: snakemake has no option {option}"
        for path in (w for w in words[1:] if w.startswith(("workflow/", "config/"))):
            assert (ROOT / path).exists(), f"`{' '.join(words)}`: {path} does not exist"


def test_dvc_commands_in_the_readme_parse():
    from dvc.cli.parser import get_main_parser

    parser = get_main_parser()
    used = _commands("dvc")
    assert len(used) >= 4
    for words in used:
        parser.parse_args(words[1:])  # exits (SystemExit 2) on an unknown command or option


def test_files_the_readme_links_exist():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    assert "LICENSE" in links and "CITATION.cff" in links and "docs/sources.md" in links
    missing = [link for link in links if not link.startswith("http") and not (ROOT / link).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def test_sources_are_cited_alike_in_the_docs_the_readme_and_the_report():
    import yaml

    from archlab.report.render import references

    sources = yaml.safe_load((ROOT / "src" / "archlab" / "report" / "sources.yaml").read_text())
    doc = (ROOT / "docs" / "sources.md").read_text()
    bibliography = {r["key"]: r["text"] for r in references()}
    for key, entry in sources.items():
        row = re.search(rf"^\| {key} \| \*(.+?)\* \| (.+?) \|", doc, re.M)
        assert row and row.groups() == (entry["title"], entry["author"]), f"docs/sources.md row {key}"
        assert re.search(rf"^\| {key} \| \*{re.escape(entry['title'])}\* \(", README, re.M), f"README row {key}"
        assert entry["title"] in bibliography[key] and entry["file"] in bibliography[key]
