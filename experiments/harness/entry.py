"""The one entrance of every entry point: exit codes, one-line errors, help,
Ctrl-C and SIGTERM, and a sweep's failed jobs.

An argparse entry point is `@entry_point def main(argv) -> int` and parses with
`experiments.harness.arguments.ArgumentParser`; a hydra entry point is `main =
hydra_entry_point(config_name, schema, run, user_errors, help_text)`, whose
every job runs `run(config, job)` (`experiments.harness.rundir.Job`). Either
is a `Program`: called, it runs in-process and returns its exit status (tests,
notebooks); `.cli()` is the program itself (`python -m`, the console
scripts), which installs the interrupt hooks (`experiments.install_hooks`),
takes SIGTERM as Ctrl-C and exits with the status. Nothing here runs at import.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pathlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from experiments import install_hooks
from experiments.harness import processes, rundir
from experiments.harness.compose import is_config_error, one_line, to_config
from experiments.harness.logs import console_log
from experiments.harness.results import git_revision
from marl.files import OutputDirError, check_writable

T = TypeVar("T")


def program_name(module: str) -> str:
    """The entry point as the user ran it: `experiments.crossplay`, also when
    Python runs it as `__main__` (`python -m experiments.crossplay`)."""
    spec = getattr(sys.modules.get(module), "__spec__", None)
    return spec.name if spec is not None else module


def _interruptible(main: Callable[..., int]) -> Callable[..., int]:
    """An argparse entry point's `main` that ends Ctrl-C with one line on stderr
    and status 130 (the shell's for SIGINT) instead of a traceback."""

    @functools.wraps(main)
    def wrapped(*args: Any, **kwargs: Any) -> int:
        git_revision()  # the code this process loaded, read before the run
        try:
            return main(*args, **kwargs)
        except KeyboardInterrupt:
            name = program_name(main.__module__)
            print(f"interrupted: stopped {name}", file=sys.stderr)
            return 130

    return wrapped


_TERMINATED = threading.Event()
"""Set when SIGTERM arrived: the interrupted program exits 143, not 130."""


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM (a scheduler's or `kill`'s stop) as Ctrl-C: every entry point then
    saves what it saves on an interrupt; `_as_program` exits 143."""
    _TERMINATED.set()
    raise KeyboardInterrupt


def _as_program(main: Callable[[], int | None]) -> Callable[[], NoReturn]:
    """An entry point's `main` as the program itself (`python -m`, the console
    scripts): it exits with main's status. An interrupted run (130, its one line
    already printed and its work saved) leaves through `os._exit` once the
    streams and logs are flushed, because Python's own finalization with XLA's
    threads still at work (a compilation in flight) can crash after that line;
    and a Ctrl-C that arrives once main has returned is ignored (the work is
    done). In a job of several processes (experiments/harness/processes.py) it joins the
    job first, and a process whose peer is lost ends with one line. SIGTERM is
    taken as Ctrl-C (the same saves, the same line) and exits 143."""

    @functools.wraps(main)
    def program() -> NoReturn:
        install_hooks()
        signal.signal(signal.SIGTERM, _terminate)
        try:
            processes.join()
            status = main()
        except SystemExit as stop:
            status = stop.code  # type: ignore[assignment]
        except processes.ProcessesError as error:
            print(f"error: {error}", file=sys.stderr)
            status = 2
        except Exception as error:
            if not processes.lost(error):
                raise
            processes.leave_after(error)
        except KeyboardInterrupt:  # between main's own handler and its return
            print("interrupted: stopped while finishing", file=sys.stderr)
            status = 130
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if status == 130 and _TERMINATED.is_set():
            status = 143  # the shell's for SIGTERM
        if status in (130, 143):
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(status)
        sys.exit(status)

    return program


MODE_SETTERS = ("hydra.mode", "--config-dir", "-cd", "--config-path", "-cp")
"""Arguments after which only hydra can say the run's mode: `hydra.mode` itself,
and config folders of the user's own, whose files may set it."""


@contextlib.contextmanager
def mode_from_the_command_line(argv: list[str]) -> Iterator[None]:
    """Hydra (1.3) composes the whole config twice per run: once only to read
    `hydra.mode` (`Hydra.get_mode`), then for the run. None of conf/'s files
    sets the mode, so unless the command line sets it or names config folders
    of its own (`MODE_SETTERS`) it is unset, and `--multirun` decides, as hydra
    decides when it reads it unset: here that first composition is skipped
    (about 0.1 s of every run's start on a 2-core machine; the bad-input
    table's 88 in-process runs, 27.4 to 19.5 CPU-seconds). A private part of
    hydra's: where it is gone, nothing changes."""
    from hydra._internal import hydra as internal

    hydra_class = getattr(internal, "Hydra", None)
    original = getattr(hydra_class, "get_mode", None)
    if original is None or any(
        arg.lstrip("+~").startswith(MODE_SETTERS) for arg in argv
    ):
        yield
        return

    def unset(self: Any, config_name: str | None, overrides: list[str]) -> None:
        return None

    hydra_class.get_mode = unset  # type: ignore[union-attr]
    try:
        yield
    finally:
        hydra_class.get_mode = original  # type: ignore[union-attr]


def _hydra_entry(
    hydra_main: Callable[[], None], help_text: Callable[[], str] | None = None
) -> Callable[[], None]:
    """A hydra entry point whose own errors (an unknown key, a value of the wrong
    type, bad override syntax, a missing config or group, a run directory that
    cannot be made) end with one line on stderr and exit status 2, not hydra's
    multi-line report or a traceback. Errors of the run itself are handled in
    `_run_job`. `--help` (or `-h`) prints `help_text()` (experiments/harness/help.py)
    instead of hydra's; `--hydra-help` is hydra's own."""

    @functools.wraps(hydra_main)
    def main() -> None:
        if help_text is not None and {"--help", "-h"} & set(sys.argv[1:]):
            print(help_text())
            sys.exit(0)
        console_log()  # hydra's own lines (a sweep's jobs) too
        previous = os.environ.get("HYDRA_FULL_ERROR")
        os.environ["HYDRA_FULL_ERROR"] = "1"  # hydra re-raises instead of printing
        try:
            with mode_from_the_command_line(sys.argv[1:]):
                hydra_main()
        except KeyboardInterrupt:  # before the run began (composing the config)
            print("interrupted: stopped before the run began", file=sys.stderr)
            sys.exit(130)
        except Exception as error:
            if is_config_error(error):  # hydra's missing config is an OSError too
                print(f"error: {one_line(error)}", file=sys.stderr)
            elif isinstance(error, OSError):  # the run directory or its files
                where = f"{error.filename}: " if error.filename else ""
                print(f"error: {where}{error.strerror or error}", file=sys.stderr)
            else:
                raise
            sys.exit(2)
        finally:
            if previous is None:
                os.environ.pop("HYDRA_FULL_ERROR", None)
            else:
                os.environ["HYDRA_FULL_ERROR"] = previous

    return main


FAILED_JOBS_FILE = "failed_jobs.txt"


class FailedJobs(Callback):
    """A sweep that outlives its bad points: a job refused for a user error
    writes one line to `<sweep dir>/failed_jobs.txt` and the sweep goes on; at
    the end this callback (`hydra.callbacks` in the confs) prints how many jobs
    failed, and the sweep exits with status 2."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        (pathlib.Path(config.hydra.sweep.dir) / FAILED_JOBS_FILE).unlink(
            missing_ok=True
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = pathlib.Path(config.hydra.sweep.dir) / FAILED_JOBS_FILE
        if path.is_file():
            failed = path.read_text().splitlines()
            print(
                f"error: {len(failed)} job(s) of the sweep failed, listed in {path}: "
                + "; ".join(failed),
                file=sys.stderr,
            )
            sys.exit(2)


def _refused(run_dir: pathlib.Path, error: BaseException, multirun: bool) -> None:
    """The one line of a refused run, with its directory removed if the refusal
    left it empty (hydra makes it before the job starts); in a sweep, the failure
    is recorded for `FailedJobs` and the sweep goes on."""
    from hydra.core.hydra_config import HydraConfig

    message = one_line(error) if is_config_error(error) else str(error)
    if isinstance(error, OSError) and error.strerror:  # not `[Errno 28] ...`
        where = f"{error.filename}: " if error.filename else ""
        message = f"{where}{error.strerror}"
    rundir.remove_if_empty(run_dir)
    if not multirun:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    hydra_cfg = HydraConfig.get()
    line = f"job {hydra_cfg.job.num} ({' '.join(hydra_cfg.overrides.task)}): {message}"
    print(f"error: {line}", file=sys.stderr)
    with open(pathlib.Path(hydra_cfg.sweep.dir) / FAILED_JOBS_FILE, "a") as f:
        f.write(line + "\n")


def _run_job(
    cfg: DictConfig,
    schema: type[T],
    run: Callable[[T, rundir.Job], object],
    user_errors: tuple[type[Exception], ...],
) -> None:
    """The body of every hydra entry point: build the frozen config once, run it in
    hydra's output directory, end a user error with one line and exit code 2, and
    Ctrl-C with one line and exit code 130 (the shell's for SIGINT), without a
    traceback: whatever the run saves on an interrupt (Hanabi's last finished
    chunk) is saved before the exception reaches here. In a sweep, a job's user
    error is recorded and the sweep goes on (`FailedJobs`)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = pathlib.Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    git_revision()  # the code this process loaded, read before the run
    job = rundir.Job.of_hydra(cfg, run_dir)
    console_log()  # again in a launcher's worker process (joblib)
    try:
        processes.join()  # a task of a SLURM job of several (LAB_CLUSTER)
        config = to_config(cfg, schema)
        check_writable(run_dir)
        run(config, job)
    except (*user_errors, OutputDirError) as error:
        _refused(run_dir, error, multirun)
    except OSError as error:  # a full disk, a file-size limit: named (marl.files)
        if processes.lost(error):
            processes.leave_after(error)
        _refused(run_dir, error, multirun)
    except Exception as error:  # OmegaConf's, merging an added key (+key=...)
        if not is_config_error(error):
            if processes.lost(error):
                processes.leave_after(error)
            raise
        _refused(run_dir, error, multirun)
    except KeyboardInterrupt:
        print(f"interrupted: stopped the run in {run_dir}", file=sys.stderr)
        sys.exit(130)
    finally:
        job.close()  # its lock released


class Program:
    """An entry point. Called (`main(argv)` for argparse, `main()` for hydra,
    which reads `sys.argv`) it runs in this process and returns its exit
    status: Ctrl-C is one line and 130, a user error one line and 2. `cli()` is
    the program itself: the same, then the process exits with that status."""

    def __init__(self, main: Callable[..., int | None]) -> None:
        functools.update_wrapper(self, main)
        self._main = main
        self.cli = _as_program(main)

    def __call__(self, *args: Any, **kwargs: Any) -> int | None:
        return self._main(*args, **kwargs)


def entry_point(main: Callable[..., int]) -> Program:
    """An argparse entry point: `main(argv=None) -> status`."""
    return Program(_interruptible(main))


def hydra_entry_point(
    config_name: str,
    schema: type[T],
    run: Callable[[T, rundir.Job], object],
    user_errors: tuple[type[Exception], ...],
    help_text: Callable[[], str],
) -> Program:
    """A hydra entry point on conf/<config_name>.yaml: every job builds the
    frozen `schema` config once and runs `run(config, job)` in hydra's output
    directory (`rundir.Job`: the run directory and what accepting it
    records); help is `help_text()`. Hydra names the job (its log file,
    `<name>.log`) after the module that defines `run`."""
    import hydra

    from experiments.harness.compose import CONF_DIR

    def job(cfg: DictConfig) -> None:
        _run_job(cfg, schema, run, user_errors)

    job.__module__ = program_name(run.__module__)  # hydra's job name
    task = hydra.main(
        version_base=None, config_path=str(CONF_DIR), config_name=config_name
    )(job)

    def main() -> int:
        _hydra_entry(task, help_text)()
        return 0

    return Program(main)
