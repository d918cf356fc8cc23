"""The conda environments (`snakemake --use-conda`) pin exactly what the pip lock pins.

conda cannot be tested here, so this keeps workflow/envs/*.yaml from drifting away from
requirements.lock (what `make demo` and CI install) and from pyproject.toml's dependencies.
"""
import re
import tomllib

import pytest
import yaml

from conftest import ROOT

ENV_FILES = sorted((ROOT / "workflow" / "envs").glob("*.yaml"))


def _name(requirement: str) -> str:
    """PEP 503 normalised project name of a requirement string."""
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[; ]", requirement.strip(), maxsplit=1)[0]).lower()


def _pins(lines) -> dict[str, str]:
    return {_name(line): line.split("==", 1)[1].strip() for line in lines if "==" in line}


LOCK = _pins(l for l in (ROOT / "requirements.lock").read_text().splitlines() if l and not l.startswith("#"))


def _pip_section(env: dict) -> list[str]:
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "one `pip:` list per environment"
    return pip[0]


def test_there_is_an_environment():
    assert ENV_FILES, "workflow/envs/ holds no environment"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_every_pip_requirement_is_pinned_to_the_lock(path):
    requirements = [r for r in _pip_section(yaml.safe_load(path.read_text())) if not r.startswith("-e")]
    unpinned = [r for r in requirements if "==" not in r]
    assert not unpinned, f"{path.name}: pin these with == as in requirements.lock: {unpinned}"
    wrong = {n: (v, LOCK.get(n)) for n, v in _pins(requirements).items() if LOCK.get(n) != v}
    assert not wrong, f"{path.name} disagrees with requirements.lock (env, lock): {wrong}"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_environment_covers_the_project_dependencies(path):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    wanted |= {_name(r) for extra in project.get("optional-dependencies", {}).values() for r in extra}
    env = yaml.safe_load(path.read_text())
    pinned = set(_pins(_pip_section(env)))
    assert wanted <= pinned, f"{path.name} lacks {sorted(wanted - pinned)} (direct dependencies in pyproject.toml)"
    assert any(_name(r) == "archlab" or r.startswith("-e") for r in _pip_section(env)), "the env must install archlab itself"


def test_python_version_matches_pyproject():
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"].lstrip(">=")
    for path in ENV_FILES:
        deps = yaml.safe_load(path.read_text())["dependencies"]
        python = [d for d in deps if isinstance(d, str) and d.startswith("python")]
        assert python, f"{path.name} does not pin python"
        version = tuple(int(x) for x in python[0].split("=")[-1].split(".")[:2])
        assert version >= tuple(int(x) for x in floor.split(".")[:2]), f"{path.name}: {python[0]} < {floor}"


def test_constraints_agree_with_the_lock():
    constraints = _pins(l for l in (ROOT / "constraints.txt").read_text().splitlines() if l and not l.startswith("#"))
    assert constraints and all(LOCK.get(n) == v for n, v in constraints.items()), (constraints, LOCK)
