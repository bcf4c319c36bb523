"""What every entry point shares: the config directory, typed configs from
hydra's composition, one-line errors, argument parsing, help, Ctrl-C, run
directories and sweeps' failed jobs.

Hydra composes `conf/*.yaml` over the schemas (the frozen dataclasses of
experiments/tabular_config.py and experiments/ippo_runs.py, so an unknown key
or a value of the wrong type is refused while composing); `to_config` then builds
the frozen dataclass once, and `__post_init__` refuses impossible values with
one line.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import datetime
import functools
import logging
import os
import pathlib
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from experiments import processes
from marl.fields import ConfigError
from marl.files import (
    OutputDirError,
    atomic_write_bytes,
    check_writable,
    locked,
    writes_here,
)

T = TypeVar("T")


def find_conf_dir() -> pathlib.Path:
    """The hydra config groups: `experiments/conf` inside an installed wheel
    (pyproject.toml packages the repository's `conf/` there), else `conf/` at the
    root of the checkout."""
    here = pathlib.Path(__file__).resolve().parent
    packaged = here / "conf"
    return packaged if (packaged / "tabular.yaml").is_file() else here.parent / "conf"


CONF_DIR = find_conf_dir()


def launch_time(pattern: str) -> str:
    """`${launch_time:%Y-%m-%d_%H-%M-%S}` in the confs' run directories: the time
    a job of several processes was launched (LAB_LAUNCH_TIME, seconds since the
    epoch, set by experiments.launch for every process, so that all of them name
    the same directory), else now, as hydra's `${now:...}`."""
    launched = os.environ.get(LAUNCH_TIME)
    when = datetime.datetime.now()
    if launched:
        with contextlib.suppress(ValueError):
            when = datetime.datetime.fromtimestamp(float(launched))
    return when.strftime(pattern)


LAUNCH_TIME = "LAB_LAUNCH_TIME"
"""Set by experiments.launch, read by `launch_time`: every process names one run
directory."""
OmegaConf.register_new_resolver(
    "launch_time", launch_time, use_cache=True, replace=True
)


def writable(node: DictConfig) -> DictConfig:
    """Frozen dataclasses become read-only nodes; hydra must override them."""
    OmegaConf.set_readonly(node, None)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            writable(child)
    return node


FLOAT32_MAX = 3.4028234663852886e38


def check_numbers(value: Any, where: str = "") -> None:
    """Refuses any number in a config that is not finite or is beyond float32's
    range (every computation is float32): `learner.learning_rate=inf` would
    otherwise train into NaN and exit 0."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_numbers(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for k, item in enumerate(value):
            check_numbers(item, f"{where}[{k}]")
    elif isinstance(value, float) and not abs(value) <= FLOAT32_MAX:
        raise ConfigError(
            f"{where}={value} is impossible (must be a finite number within "
            "float32's range, |x| <= 3.4e38)"
        )


def to_config(cfg: DictConfig, schema: type[T]) -> T:
    """The frozen, validated dataclass of a composed config (hydra keys dropped)."""
    plain: Any = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("hydra", None)
    check_numbers(plain)
    merged = OmegaConf.merge(writable(OmegaConf.structured(schema)), plain)
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def one_line(error: BaseException) -> str:
    """A hydra or OmegaConf error (several lines over a chain of causes, an
    indented key dump and hints) as one line: its sentences and its causes'
    joined, the dump and the hints dropped, a list of options joined by commas."""
    override = getattr(error, "override", None)  # a parse error names its override
    parts: list[str] = []
    cause: BaseException | None = error
    while cause is not None and len(parts) < 6:
        for line in str(cause).splitlines():
            if line.startswith(
                ("Config search path", "Set the environment", "See http", "To append")
            ):
                break
            if not line.strip() or line.startswith("    "):
                continue
            if line.startswith("\t") and parts:
                parts[-1] += (" " if parts[-1].endswith(":") else ", ") + line.strip()
            elif line.strip().rstrip(".") not in parts:
                parts.append(line.strip().rstrip("."))
        cause = cause.__cause__
    text = "; ".join(parts) or type(error).__name__
    text += "".join(
        f"; {hint}" for key, hint in MOVED_KEYS.items() if f"'{key}'" in text
    )
    return f"cannot parse {override!r}: {text}" if override else text


MOVED_KEYS = {
    "ippo.ent_coef": "the entropy coefficients are one field, ent_coefs=[...]",
}
"""Keys a user may remember from an earlier version, and where they went."""


def is_config_error(error: BaseException) -> bool:
    """Whether an exception is hydra's or OmegaConf's: a composition or override
    error the user caused (unknown key, wrong type, bad syntax, missing group)."""
    return type(error).__module__.split(".")[0] in ("hydra", "omegaconf")


class HelpFormatter(
    argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter
):
    """--help keeps the description's lines as written and shows every default
    (but None, which the help text explains)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse for the entry points: `--help` shows the program as it is run
    (`python -m <module>`), the module's whole docstring and every default; a bad
    argument is answered in one line (argparse's own prints the whole usage
    first) with exit status 2."""

    def __init__(self, module: str, doc: str | None, **kwargs: Any) -> None:
        kwargs.setdefault("prog", f"python -m {module}")
        kwargs.setdefault("description", (doc or "").strip())
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def program_name(module: str) -> str:
    """The entry point as the user ran it: `experiments.crossplay`, also when
    Python runs it as `__main__` (`python -m experiments.crossplay`)."""
    spec = getattr(sys.modules.get(module), "__spec__", None)
    return spec.name if spec is not None else module


def interruptible(main: Callable[..., int]) -> Callable[..., int]:
    """An argparse entry point's `main` that ends Ctrl-C with one line on stderr
    and status 130 (the shell's for SIGINT) instead of a traceback."""

    @functools.wraps(main)
    def wrapped(*args: Any, **kwargs: Any) -> int:
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
    saves what it saves on an interrupt; `as_program` exits 143."""
    _TERMINATED.set()
    raise KeyboardInterrupt


def as_program(main: Callable[[], int | None]) -> Callable[[], NoReturn]:
    """An entry point's `main` as the program itself (`python -m`, the console
    scripts): it exits with main's status. An interrupted run (130, its one line
    already printed and its work saved) leaves through `os._exit` once the
    streams and logs are flushed, because Python's own finalization with XLA's
    threads still at work (a compilation in flight) can crash after that line;
    and a Ctrl-C that arrives once main has returned is ignored (the work is
    done). In a job of several processes (experiments/processes.py) it joins the
    job first, and a process whose peer is lost ends with one line. SIGTERM is
    taken as Ctrl-C (the same saves, the same line) and exits 143."""

    @functools.wraps(main)
    def program() -> NoReturn:
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


def hydra_entry(
    hydra_main: Callable[[], None], help_text: Callable[[], str] | None = None
) -> Callable[[], None]:
    """A hydra entry point whose own errors (an unknown key, a value of the wrong
    type, bad override syntax, a missing config or group, a run directory that
    cannot be made) end with one line on stderr and exit status 2, not hydra's
    multi-line report or a traceback. Errors of the run itself are handled in
    `run_or_exit`. `--help` (or `-h`) prints `help_text()` (experiments/help.py)
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


LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
"""Every log line of a run, on the console and in its log file."""


class _Stdout(logging.StreamHandler):
    """A console handler that writes each line to the `sys.stdout` of the moment
    (a test's capture, a notebook's stream), never to one that has been closed."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_CONSOLE = _Stdout()
_CONSOLE.setFormatter(logging.Formatter(LOG_FORMAT))


def console_log() -> None:
    """The run's log lines on standard output, from INFO (JAX's from WARNING):
    one handler, added to the root logger once, that writes to whatever
    `sys.stdout` is at each line (a terminal, a test's capture, a notebook's).

    Hydra would set this up with `logging.config.dictConfig`, which first closes
    every handler of the process, its host's included (pytest's log capture, a
    notebook's): an entry point called in process must leave them be, so the
    confs turn hydra's logging off (conf/hydra/job_logging/lab.yaml) and call
    this instead. The levels are set with the handler, once, so that what is
    set after it stands (`hydra.verbose`; a process of a job that does not
    report, quietened by experiments.processes.quiet)."""
    root = logging.getLogger()
    if _CONSOLE not in root.handlers:
        root.setLevel(logging.INFO)
        logging.getLogger("jax").setLevel(logging.WARNING)
        root.addHandler(_CONSOLE)


_ACCEPTED: contextvars.ContextVar[DictConfig | None] = contextvars.ContextVar(
    "accepted_config", default=None
)


_LOCKS = contextlib.ExitStack()
"""The lock of the run directory being written (`record_run` takes it)."""


def record_run(run_dir: pathlib.Path) -> None:
    """Writes what hydra writes into a run directory before a job starts (the
    composed config, hydra's config and the overrides in `.hydra/`, and the job's
    log file), once the run has been accepted: the confs set
    `hydra.output_subdir: null` and a console-only job logging so that a run
    refused for a bad input or a clash with the directory's earlier run leaves
    the directory as it was. Called by each run after its checks; does nothing
    outside a hydra job."""
    from hydra.core.hydra_config import HydraConfig

    cfg = _ACCEPTED.get()
    if cfg is None or not HydraConfig.initialized() or not writes_here():
        return
    # One writer per run directory, until `run_or_exit` ends the run.
    _LOCKS.enter_context(locked(run_dir))
    hydra_cfg = HydraConfig.get()
    files = {
        "config.yaml": cfg,
        "hydra.yaml": OmegaConf.create({"hydra": hydra_cfg}),
        "overrides.yaml": OmegaConf.create(list(hydra_cfg.overrides.task)),
    }
    for name, node in files.items():
        atomic_write_bytes(run_dir / ".hydra" / name, OmegaConf.to_yaml(node).encode())
    log_file = run_dir / f"{hydra_cfg.job.name}.log"
    root = logging.getLogger()
    if not any(
        getattr(h, "baseFilename", None) == os.path.abspath(log_file)
        for h in root.handlers
    ):
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    _ACCEPTED.set(None)


def eta_text(elapsed: float, done: int, total: int) -> str:
    """', ETA 42 s' (or '3.5 min') for a loop at `done` of `total` units that took
    `elapsed` seconds for them (compilation excluded by the caller), '' when it
    cannot be told yet or nothing is left."""
    if done <= 0 or done >= total or elapsed <= 0:
        return ""
    left = elapsed / done * (total - done)
    return f", ETA {left:.0f} s" if left < 120 else f", ETA {left / 60:.1f} min"


def finished_results(
    run_dir: pathlib.Path,
    same_config: Callable[[dict[str, Any]], bool],
    *,
    refuse_unreadable: bool,
) -> dict[str, Any] | None:
    """The results.json that `run_dir` already holds for this configuration, or
    None when it holds none. `same_config(stored config)` decides whether the
    stored run is this one; another configuration's results are refused
    (`ConfigError`), as are results that cannot be read back when
    `refuse_unreadable` (an IPPO run, whose checkpoints would be reused), while
    otherwise (a tabular run) they are redone."""
    from experiments.results import RESULTS_FILE, read_results

    path = run_dir / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        results = read_results(path)
        same = same_config(results["config"])
    except ConfigError:
        raise
    except Exception as error:  # unreadable JSON, or an unknown config schema
        if not refuse_unreadable:
            return None
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(f"{path} cannot be read back ({first})") from None
    if not same:
        raise ConfigError(
            f"{run_dir} holds the results of a different configuration; choose "
            "another hydra.run.dir (or hydra.sweep.dir)"
        )
    return results


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


DEFAULT_OUTPUT_ROOTS = ("outputs", "multirun")
"""Where the confs' default run directories live (conf/tabular.yaml, ippo.yaml)."""


def _remove_if_empty(run_dir: pathlib.Path) -> None:
    """Removes the run directory if it is empty, and then its parents that are
    empty up to and including a default output root (`outputs/`, `multirun/`
    under the working directory): hydra makes them all before the job starts, so
    a refused first run leaves no trace. Directories elsewhere are the user's."""
    if not writes_here():  # process 0 of a job tidies
        return
    roots = [pathlib.Path.cwd() / root for root in DEFAULT_OUTPUT_ROOTS]
    path = run_dir.absolute()
    while path.is_dir() and not any(path.iterdir()):
        path.rmdir()
        parent = path.parent
        if not any(parent == root or root in parent.parents for root in roots):
            break
        path = parent


def _refused(run_dir: pathlib.Path, error: BaseException, multirun: bool) -> None:
    """The one line of a refused run, with its directory removed if the refusal
    left it empty (hydra makes it before the job starts); in a sweep, the failure
    is recorded for `FailedJobs` and the sweep goes on."""
    from hydra.core.hydra_config import HydraConfig

    message = one_line(error) if is_config_error(error) else str(error)
    if isinstance(error, OSError) and error.strerror:  # not `[Errno 28] ...`
        where = f"{error.filename}: " if error.filename else ""
        message = f"{where}{error.strerror}"
    _remove_if_empty(run_dir)
    if not multirun:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    hydra_cfg = HydraConfig.get()
    line = f"job {hydra_cfg.job.num} ({' '.join(hydra_cfg.overrides.task)}): {message}"
    print(f"error: {line}", file=sys.stderr)
    with open(pathlib.Path(hydra_cfg.sweep.dir) / FAILED_JOBS_FILE, "a") as f:
        f.write(line + "\n")


def run_or_exit(
    cfg: DictConfig,
    schema: type[T],
    run: Callable[[T, pathlib.Path], object],
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
    _ACCEPTED.set(cfg)
    console_log()  # again in a launcher's worker process (joblib)
    try:
        processes.join()  # a task of a SLURM job of several (LAB_CLUSTER)
        config = to_config(cfg, schema)
        check_writable(run_dir)
        run(config, run_dir)
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
        _ACCEPTED.set(None)
        _LOCKS.close()
