"""A run directory's life (experiments/harness/rundir.py): a finished run's results are
found again for the same configuration and refused for another; unreadable
results are redone or refused; a refused first run leaves no directory behind,
and nothing outside the default output roots is removed."""

from __future__ import annotations

import json
import logging

import pytest

from experiments.harness import rundir
from marl.fields import ConfigError


def test_finished_results_are_found_for_the_same_config_only(tmp_path):
    assert (
        rundir.finished_results(tmp_path, lambda c: True, refuse_unreadable=True)
        is None
    )
    (tmp_path / "results.json").write_text(json.dumps({"config": {"seeds": 8}}))
    same = rundir.finished_results(
        tmp_path, lambda c: c == {"seeds": 8}, refuse_unreadable=True
    )
    assert same == {"config": {"seeds": 8}}
    with pytest.raises(ConfigError, match="different configuration"):
        rundir.finished_results(tmp_path, lambda c: False, refuse_unreadable=True)


def test_unreadable_results_are_redone_or_refused_in_one_line(tmp_path):
    (tmp_path / "results.json").write_text('{"config": ')
    # A tabular run redoes them; an IPPO run, whose checkpoints it would reuse,
    # refuses them, naming the file.
    assert (
        rundir.finished_results(tmp_path, lambda c: True, refuse_unreadable=False)
        is None
    )
    with pytest.raises(
        ConfigError, match=r"results\.json cannot be read back"
    ) as refused:
        rundir.finished_results(tmp_path, lambda c: True, refuse_unreadable=True)
    assert "\n" not in str(refused.value)


def test_an_empty_run_directory_goes_with_its_empty_default_parents(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "outputs" / "2026-11-27" / "00-00-00"
    run_dir.mkdir(parents=True)
    (tmp_path / "outputs" / "2026-11-26").mkdir()  # an earlier day stays
    rundir.remove_if_empty(run_dir)
    assert not (tmp_path / "outputs" / "2026-11-27").exists()
    assert (tmp_path / "outputs" / "2026-11-26").is_dir()
    mine = tmp_path / "mine" / "run"  # the user's own directory: only the run goes
    mine.mkdir(parents=True)
    rundir.remove_if_empty(mine)
    assert not mine.exists() and (tmp_path / "mine").is_dir()
    kept = tmp_path / "kept"
    (kept / "results.json").parent.mkdir()
    (kept / "results.json").write_text("{}")
    rundir.remove_if_empty(kept)
    assert (kept / "results.json").is_file()


def test_a_job_records_its_files_once_holds_the_lock_until_closed(tmp_path):
    from omegaconf import OmegaConf

    from marl.files import DirectoryLockedError

    files = {"config.yaml": OmegaConf.create({"seeds": 8})}
    with rundir.Job(tmp_path / "run", files, "job.log") as job:
        assert not (tmp_path / "run").exists()  # nothing before it is accepted
        job.accept()
        job.accept()  # a second acceptance (a resubmission) changes nothing
        stored = OmegaConf.load(tmp_path / "run" / ".hydra" / "config.yaml")
        assert stored == {"seeds": 8}
        assert (tmp_path / "run" / "job.log").is_file()
        with pytest.raises(DirectoryLockedError, match="another run"):
            rundir.Job(tmp_path / "run", files).accept()
    again = rundir.Job(tmp_path / "run", files)  # released when the job closed
    again.accept()
    again.close()
    bare = rundir.Job.at(tmp_path / "bare")  # outside hydra: nothing written
    bare.accept()
    assert bare.accepted and not (tmp_path / "bare").exists()
    assert rundir.Job.at(job) is job
    root = logging.getLogger()
    assert not any(  # the job's log file closed with it
        getattr(h, "baseFilename", "").startswith(str(tmp_path)) for h in root.handlers
    )


def test_jobs_run_one_after_another_in_one_process_each_log_their_own_lines(
    tmp_path,
):
    """A joblib worker runs several jobs of a sweep: each job's log file holds
    its lines only (once, the first job's file took every later job's)."""
    from omegaconf import OmegaConf

    log = logging.getLogger("experiments.tabular")
    log.setLevel(logging.INFO)
    for name in ("first", "second"):
        files = {"config.yaml": OmegaConf.create({"game": name})}
        with rundir.Job(tmp_path / name, files, "job.log") as job:
            job.accept()
            log.info("%s: a line", name)
    assert "first" in (tmp_path / "first" / "job.log").read_text()
    assert "second" not in (tmp_path / "first" / "job.log").read_text()
    assert "second" in (tmp_path / "second" / "job.log").read_text()
