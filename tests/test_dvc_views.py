"""Issue 29: the DVC views work offline and read well. The README's `dvc metrics show` and `dvc plots show` lines
are run in a scratch checkout holding demo results only: no error, no rows for the full profile's missing
files, and a plots page that draws in headless Chromium with the network blocked (its chart library inlined).
A plain `dvc metrics show` / `dvc plots show` shows the headline metrics and curves (dvc.yaml's top-level
`metrics` and `plots` folders) of the profiles that were run, and nothing, without an error, in a fresh clone."""
from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text()
TEMPLATE = ROOT / ".dvc" / "plots" / "offline.html"
BIN = Path(sys.executable).parent


def _readme_line(start: str) -> str:
    """The README's command line that starts with ``start``, without its comment."""
    line = next(line for line in README.splitlines() if line.startswith(start))
    return line.split("  #", 1)[0].strip()


def test_offline_template_inlines_the_chart_library():
    page = TEMPLATE.read_text()
    assert "{plot_divs}" in page and "{refresh_tag}" in page and "{scripts}" not in page  # no CDN scripts added
    assert not re.findall(r"<script[^>]+src=", page), "the page loads a script from elsewhere"
    for library in ("vega-5.", "vega-lite-5.", "vega-embed-6."):
        assert f"<script>/* {library}" in page
    assert "sourceMappingURL" not in page and "BSD" in page


def test_runs_template_colours_settings_and_draws_each_seed():
    spec = json.loads((ROOT / ".dvc" / "plots" / "runs.json").read_text())
    assert spec["encoding"]["color"]["field"] == "setting" and spec["encoding"]["detail"]["field"] == "run"
    assert "replace(datum.run, / seed \\d+$/, '')" in spec["transform"][0]["calculate"]
    assert spec["params"][0]["bind"] == "scales"  # zoom and pan: a spike need not flatten the rest


DECLARED = (ROOT / "dvc.yaml").read_text()
METRICS = sorted(set(re.findall(r"metrics/\$\{item\}/\w+\.json", DECLARED)))  # each stage's headline numbers
CURVES = sorted(set(re.findall(r"plots/\$\{item\}/\w+/\w+\.csv", DECLARED)))  # each study's learning curves


def _checkout(repo: Path, files: list[str]) -> Path:
    """A git checkout of the project's DVC files (its metrics and plots folders: the tracked READMEs) with ``files``
    written."""
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", "metrics/README.md", "plots/README.md"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "config", repo / "config")
    shutil.copytree(ROOT / ".dvc", repo / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp"))
    for path in files:
        out = repo / path
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".json":
            out.write_text(json.dumps({f"{out.stem}_acc": 0.5}))
        else:  # two settings, two seeds each; one value spikes
            rows = [f"{e},{s} seed {k},{v}" for s, v0 in (("baseline", 0.5), ("collapse", 0.1)) for k in (0, 1)
                    for e, v in ((1, v0), (2, v0 * 40 if (s, k) == ("collapse", 1) else v0 + 0.1))]
            out.write_text("epoch,run,{}\n{}\n".format(out.stem, "\n".join(rows)))
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "checkout"]):
        subprocess.run(cmd, cwd=repo, check=True, env={**env, "PATH": "/usr/bin:/bin"})
    return repo


@pytest.fixture(scope="module")
def demo_checkout(tmp_path_factory) -> Path:
    """A git checkout of the project's DVC files with every demo metrics and curve file written, none of full."""
    assert len(METRICS) >= 8 and CURVES  # the studies and the claims
    return _checkout(tmp_path_factory.mktemp("checkout"), [p.replace("${item}", "demo") for p in METRICS + CURVES])


def _run(line: str, repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", line], cwd=repo, capture_output=True, text=True, timeout=300,
                          env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(repo), "DVC_NO_ANALYTICS": "1"})


def _shows_the_demo_only(proc: subprocess.CompletedProcess) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "failed" not in out.lower() and "full" not in out and ".csv" not in out and "README" not in out, out
    for path in METRICS:  # one row per stage, its value shown
        name = Path(path).stem
        assert re.search(rf"^metrics/demo/{name}\.json\s[-\s]*0\.5\b", out, re.M), out


def test_readme_metrics_command_shows_the_demo_without_errors(demo_checkout):
    _shows_the_demo_only(_run(_readme_line("dvc metrics show"), demo_checkout))


def test_plain_metrics_show_lists_the_profiles_run_and_nothing_else(demo_checkout):
    """No phantom rows for the full profile's stages: dvc.yaml names the metrics folder (top level), and the
    files in it are git-tracked outputs (`cache: false`), which DVC does not list before they exist."""
    _shows_the_demo_only(_run("dvc metrics show", demo_checkout))
    shown = json.loads(_run("dvc metrics show --json", demo_checkout).stdout)[""]
    assert "error" not in shown and set(shown["data"]) == {p.replace("${item}", "demo") for p in METRICS}, shown
    assert all("error" not in result for result in shown["data"].values()), shown


@pytest.mark.parametrize("line", ["dvc metrics show", "dvc metrics show --json", "dvc plots show",
                                  "dvc plots show --json"])
def test_plain_views_in_a_fresh_clone_show_nothing_without_errors(tmp_path, line):
    """Nothing run yet: the metrics and plots folders hold only their (dvc-ignored) READMEs: nothing to show."""
    proc = _run(line, _checkout(tmp_path, []))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "failed" not in out.lower() and "error" not in out.lower(), out
    assert "metrics/" not in out and "plots/" not in out and "README" not in out, out


def _renders_offline(line: str, repo: Path) -> str:
    """Runs ``line`` (a `dvc plots show`) in ``repo``: no error, and a page that loads nothing from elsewhere and
    draws every plot in headless Chromium with the network blocked. Returns the page."""
    proc = _run(line, repo)
    assert proc.returncode == 0 and "failed" not in (proc.stdout + proc.stderr).lower(), proc.stdout + proc.stderr
    page = repo / "dvc_plots" / "index.html"
    text = page.read_text()
    assert not re.findall(r"<script[^>]+src=", text), "the page loads a script from elsewhere"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no headless Chromium (apt-get install chromium) to load the page")
    # the proxy points nowhere, so nothing can load from the network; vega-embed draws each plot on a canvas
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
                          "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    n_plots, drawn = text.count("vegaEmbed('#"), len(re.findall(r"<canvas[^>]*class=\"marks\"", dom))
    assert drawn >= n_plots > 0, f"{drawn} of {n_plots} plots drawn"
    return text


def test_readme_plots_command_renders_offline(demo_checkout):
    _renders_offline(_readme_line("dvc plots show"), demo_checkout)


def test_plain_plots_show_draws_every_demo_curve_offline_and_nothing_for_full(demo_checkout):
    """dvc.yaml names the plots folder (top level) and the curve files in it are git-tracked outputs (`cache:
    false`): the full profile's missing files are neither listed nor read. `.dvc/config` sets the offline page."""
    page = _renders_offline("dvc plots show", demo_checkout)
    demo = sorted(p.replace("${item}", "demo") for p in CURVES)
    assert page.count("vegaEmbed('#") == len(demo) and "plots_full_" not in page, page[-2000:]
    shown = json.loads(_run("dvc plots show --json", demo_checkout).stdout)
    assert "errors" not in shown and sorted(shown["data"]) == demo, shown.get("errors", sorted(shown["data"]))
    for path, (plot,) in shown["data"].items():  # one plot per file: its value column against epoch, per run
        encoding = plot["content"]["encoding"]
        assert encoding["x"]["field"] == "epoch" and encoding["y"]["field"] == Path(path).stem, (path, encoding)
        assert encoding["color"]["field"] == "setting" and encoding["detail"]["field"] == "run", (path, encoding)
        assert {row["run"] for row in plot["content"]["data"]["values"]} == {
            f"{s} seed {k}" for s in ("baseline", "collapse") for k in (0, 1)}, path


def test_readme_exp_show_command_runs(demo_checkout):
    proc = _run(_readme_line("dvc exp show"), demo_checkout)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_metrics_and_plots_folders_hold_headline_and_curve_files_only():
    """DVC reads every file in dvc.yaml's top-level metrics and plots folders as metrics and plots: no job may
    write anything else there, and every file written there is a declared (git-tracked) output."""
    from archlab.config import load_params
    from archlab.workflow.pipeline import STUDIES, Paths, Pipeline

    for profile in ("demo", "full"):
        pipeline = Pipeline({**load_params(profile, ROOT), "studies": list(STUDIES)}, Paths(profile))
        outputs = [(job.rule.study, path) for job in pipeline.jobs for path in job.output.values()]
        metrics = [(study, path) for study, path in outputs if path.startswith(pipeline.paths.metrics_root + "/")]
        assert all(path == pipeline.paths.metrics(study) for study, path in metrics), metrics
        assert sorted(path for _, path in metrics) == sorted(p.replace("${item}", profile) for p in METRICS)
        curves = [(study, path) for study, path in outputs if path.startswith(pipeline.paths.plots_root + "/")]
        assert all(path == pipeline.paths.curve(study, Path(path).stem) for study, path in curves), curves
        assert sorted(path for _, path in curves) == sorted(p.replace("${item}", profile) for p in CURVES)


def test_every_rule_with_report_outputs_has_a_caption():
    """`snakemake --report` shows each tagged output with its rule's caption, workflow/report/<rule>.rst, which
    names each file the rule draws."""
    from archlab.config import load_params
    from archlab.workflow.pipeline import Paths, Pipeline

    rules = {r.name: r for r in Pipeline(load_params("demo", ROOT), Paths("demo")).rules.values() if r.report_outputs}
    captions = {p.stem for p in (ROOT / "workflow" / "report").glob("*.rst")}
    assert set(rules) == captions, sorted(set(rules) ^ captions)
    for name, rule in rules.items():
        text = (ROOT / "workflow" / "report" / f"{name}.rst").read_text()
        figures = [Path(rule.output[k]).name for k in rule.report_outputs if rule.output[k].endswith(".png")]
        named = re.findall(r"``([^`]+\.png)``", text)
        if len(figures) > 1:  # a caption shared by several files says which is which (a name or a pattern)
            unnamed = [f for f in figures if not any(fnmatch.fnmatch(f, pattern) for pattern in named)]
            assert not unnamed, f"workflow/report/{name}.rst does not say what {unnamed} show"
