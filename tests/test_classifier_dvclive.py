"""dvclive in jobs that run side by side inside one DVC repository."""
from pathlib import Path

import dvclive.vscode

from archlab.train.classifier import _end, _live


def test_two_jobs_ending_together_do_not_fail_on_dvclives_shared_step_signal(tmp_path, monkeypatch):
    """dvclive checks that the VS Code step signal exists, then removes it; another job ending at the same
    moment removes it in between. Seen: a resnet_head failing under `dvc repro` with FileNotFoundError."""
    (tmp_path / ".dvc").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    live = _live(tmp_path / "run", resume=False)
    live.log_metric("acc", 0.5)
    live.next_step()
    signal = Path(dvclive.vscode._dvclive_step_completed_signal_file(str(tmp_path)))
    assert signal.exists()
    exists = dvclive.vscode.os.path.exists
    monkeypatch.setattr(dvclive.vscode.os.path, "exists",  # the other job removes it right after the check
                        lambda p: exists(p) and (Path(p) != signal or signal.unlink() is None))
    _end(live)
    assert (tmp_path / "run" / "dvclive" / "metrics.json").exists()
