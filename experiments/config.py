"""Typed, frozen, validated run configurations and their hydra schemas.

Hydra composes `conf/*.yaml` over these dataclasses (so an unknown key or a value
of the wrong type is refused while composing); `to_config` then builds the frozen
dataclass once, and `__post_init__` refuses impossible values with one line.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import dataclasses
import functools
import logging
import math
import os
import pathlib
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from hydra.core.config_store import ConfigStore
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

import games
from marl.files import OutputDirError, atomic_write_bytes, check_writable
from marl.tabular.exact_pg import ExactPGConfig
from marl.tabular.sampled_pg import SampledPGConfig
from marl.trainer import ConfigError, check_fields

T = TypeVar("T")


def find_conf_dir() -> pathlib.Path:
    """The hydra config groups: `experiments/conf` inside an installed wheel
    (pyproject.toml packages the repository's `conf/` there), else `conf/` at the
    root of the checkout."""
    here = pathlib.Path(__file__).resolve().parent
    packaged = here / "conf"
    return packaged if (packaged / "tabular.yaml").is_file() else here.parent / "conf"


CONF_DIR = find_conf_dir()


@dataclasses.dataclass(frozen=True)
class CriticalTauConfig:
    """Bracketing search for tau*, the smallest tau at which all seeds agree
    (with `critical_tau` in `studies`)."""

    lower: float = 1e-3
    """Start of the bracket (seeds must disagree here)."""
    upper: float | None = None
    """End of the bracket (seeds must agree); default: the uniqueness bound for
    2-player matrix games, else 10 x the reward range."""
    rtol: float = 0.02
    """Relative width of the final bracket."""
    convention_tol: float = 1e-3
    """Total-variation distance within which two seeds count as agreeing."""
    points: int = 8
    """Taus per round (one vmapped batch); each round shrinks the bracket's log
    width by points + 1."""

    def __post_init__(self) -> None:
        rules = {
            "lower": (self.lower > 0, "must be > 0"),
            "upper": (
                self.upper is None or self.upper > self.lower,
                f"must be null or > critical_tau.lower={self.lower}",
            ),
            "rtol": (self.rtol > 0, "must be > 0"),
            "convention_tol": (self.convention_tol > 0, "must be > 0"),
            "points": (self.points >= 1, "must be >= 1"),
        }
        check_fields(self, rules, "critical_tau.")


@dataclasses.dataclass(frozen=True)
class AnnealingConfig:
    """Runs whose tau decays geometrically from tau_start to tau_end (with
    `annealing` in `studies`)."""

    tau_start: float | None = None
    """Default: the critical-tau bracket's upper end."""
    tau_end: float = 1e-3
    steps: int = 20000
    grad_noise: list[float] = dataclasses.field(default_factory=lambda: [0.0, 1e-3])
    """One annealing run per noise level; 0 follows the exact flow and keeps the
    logits equivariant (see ExactPGConfig.stay_equivariant)."""

    def __post_init__(self) -> None:
        rules = {
            "tau_end": (self.tau_end > 0, "must be > 0"),
            "tau_start": (
                self.tau_start is None or self.tau_start > self.tau_end,
                f"must be null or > annealing.tau_end={self.tau_end}",
            ),
            "steps": (self.steps >= 1, "must be >= 1"),
            "grad_noise": (
                len(self.grad_noise) > 0 and all(x >= 0 for x in self.grad_noise),
                "must be a non-empty list of numbers >= 0",
            ),
        }
        check_fields(self, rules, "annealing.")


# The exact learner's defaults (conf/tabular.yaml reads them through the
# `learner_default` resolver, so any `learner.*` override wins). The catalogue's
# games follow the gradient flow of the paper (SGD). The Dec-POMDP benchmarks
# start with Adam: their rewards span hundreds (Dec-Tiger at horizon 4: 484) and
# SGD needs tens of thousands of steps there. Adam never settles on a fixed point,
# so after `steps` the runs continue with entropy-regularized natural policy
# gradient, which certifies them in tens of steps (marl/tabular/certify.py).
# NPG from the start (learner.optimizer=npg) is faster still, but its basins are
# not the flow's: on Dec-Tiger its seeds agree from a lower tau (docs/tabular.md,
# "Fixed points by NPG").
LEARNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "game": {
        "optimizer": "sgd",
        "learning_rate": 0.5,
        "steps": 5000,
        "window": 500,
        "max_steps": 20000,
        "policy_tol": 1e-5,
    },
    "benchmark": {
        "optimizer": "adam",
        "learning_rate": 0.05,
        "steps": 150,
        "window": 50,
        "max_steps": 2000,
        # float32 resolves an NPG step to about 1e-7 of the reward range, and
        # near-pure fixed points at small tau contract by ~1e-3 per step: a bound
        # of 1e-4 is what the benchmarks' rewards (spans of hundreds) allow there.
        "policy_tol": 1e-4,
    },
}


def learner_default(field: str, game: str, game_file: str | None) -> Any:
    """The default of `learner.<field>` for a game: the benchmark settings for the
    catalogue's Dec-POMDP benchmarks and .dpomdp files, the flow's otherwise."""
    planning = (
        game_file.endswith((".dpomdp", ".dpomdp.gz"))
        if game_file
        else game in games.BENCHMARKS
    )
    return LEARNER_DEFAULTS["benchmark" if planning else "game"][field]


@dataclasses.dataclass(frozen=True)
class TabularConfig:
    """One tabular experiment: a game, N seeds, a grid of entropy weights tau."""

    game: str = "lever"
    """Catalogue name (see `games.CATALOGUE`); ignored when `game_file` is set."""
    game_file: str | None = None
    """Path to a YAML game file or a MADP .dpomdp / .dpomdp.gz file
    (docs/game_files.md); takes precedence over `game`."""
    horizon: int | None = None
    """Planning horizon of a Dec-POMDP; null: the game's own (a .dpomdp file has
    none and needs one). A matrix game has horizon 1."""
    engine: str = "auto"
    """Exact engine: 'recursion' (occupancy states), 'enumeration' (terminal
    histories), or 'auto', the cheaper by a work estimate
    (games.tabular.compile.compile_game)."""
    seeds: int = 32
    """Independent seeds (random initial logits) per tau."""
    taus: list[float] = dataclasses.field(
        default_factory=lambda: [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
    )
    """Entropy weights, one learner run per seed per tau (a vmap axis)."""
    seed: int = 0
    """Root PRNG seed; seed k's key is split from it, shared across taus."""
    learner: ExactPGConfig = dataclasses.field(default_factory=ExactPGConfig)
    convention_tol: float = 1e-2
    """Total-variation distance below which two seeds share a convention."""
    tie_rtol: float = 1e-5
    """Greedification (marl/tabular/greedy.py) treats actions whose probability is
    within this fraction of the row's largest as tied."""
    equivariant_tol: float = 1e-4
    """A seed whose equivariance error is at most this is greedified from its
    group average, so that float32 noise cannot break its ties."""
    permute_agents: bool = False
    """Whether the symmetry group used for equivariance may swap interchangeable
    agents (seeds train separate seat policies, so the default is no)."""
    max_assignments: int = 100_000
    """For 3+ players: seat assignments of distinct seeds sampled for XP."""
    studies: list[str] = dataclasses.field(default_factory=list)
    """Optional studies beside the tau grid, by name (the registry
    `experiments.studies.STUDIES`; they run in its order, each a section of
    results.json): `critical_tau` (tau* by bracketing, in every grid; settings
    in `critical_tau`), `other_play` (exact Other-Play on the same grid, 2
    players), `other_weighting` (the grid and tau* with the other entropy
    weighting of `learner.entropy_weighting`; Dec-POMDPs, in matrix games they
    coincide), `annealing` (settings in `annealing`), `equivariant_ascent` (J
    ascended inside the equivariant policies from every seed: the best value an
    equivariant policy reaches, for the price of equivariance) and `sampled`
    (the sampled learner at `sampled_taus`). The phase presets ask for all."""
    critical_tau: CriticalTauConfig = dataclasses.field(
        default_factory=CriticalTauConfig
    )
    annealing: AnnealingConfig = dataclasses.field(default_factory=AnnealingConfig)
    sampled: SampledPGConfig = dataclasses.field(default_factory=SampledPGConfig)
    sampled_taus: list[float] | None = None
    """Default: the same grid as `taus`."""
    resume: bool = False
    """Continue an interrupted run in the same hydra.run.dir: the sections it
    finished (the tau grid, Other-Play, the other weighting, annealing, the
    sampled learner; kept in `<run dir>/sections/` as each finishes) are reused
    and the rest computed, ending where an uninterrupted run ends. A finished run
    of the same configuration is left as it is. False starts afresh."""
    skip_finished: bool = False
    """When the run directory already holds the results.json of this configuration
    (every field but this one and `resume`; a game file's contents are not
    compared), keep it and run nothing: a resubmitted sweep (fixed
    hydra.sweep.dir) redoes only the runs that did not finish (docs/cluster.md)."""

    def __post_init__(self) -> None:
        rules = {
            "seeds": (self.seeds >= 2, "must be >= 2 to measure cross-play"),
            "taus": (
                len(self.taus) > 0
                and all(math.isfinite(t) and t >= 0 for t in self.taus),
                "must be a non-empty list of finite numbers >= 0",
            ),
            "horizon": (self.horizon is None or self.horizon >= 1, "must be >= 1"),
            "engine": (
                self.engine in ("auto", "recursion", "enumeration"),
                "must be 'auto', 'recursion' or 'enumeration'",
            ),
            "convention_tol": (self.convention_tol > 0, "must be > 0"),
            "tie_rtol": (0 <= self.tie_rtol < 1, "must be in [0, 1)"),
            "equivariant_tol": (self.equivariant_tol >= 0, "must be >= 0"),
            "max_assignments": (self.max_assignments >= 1, "must be >= 1"),
            "sampled_taus": (
                self.sampled_taus is None
                or all(math.isfinite(t) and t >= 0 for t in self.sampled_taus),
                "must be a list of finite numbers >= 0",
            ),
        }
        check_fields(self, rules)


def writable(node: DictConfig) -> DictConfig:
    """Frozen dataclasses become read-only nodes; hydra must override them."""
    OmegaConf.set_readonly(node, None)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            writable(child)
    return node


def register_schemas() -> None:
    """Makes the schemas available to `defaults:` lists in conf/."""
    store = ConfigStore.instance()
    store.store(
        name="tabular_schema", node=writable(OmegaConf.structured(TabularConfig))
    )


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


def as_program(main: Callable[[], int | None]) -> Callable[[], NoReturn]:
    """An entry point's `main` as the program itself (`python -m`, the console
    scripts): it exits with main's status. An interrupted run (130, its one line
    already printed and its work saved) leaves through `os._exit` once the
    streams and logs are flushed, because Python's own finalization with XLA's
    threads still at work (a compilation in flight) can crash after that line;
    and a Ctrl-C that arrives once main has returned is ignored (the work is
    done)."""

    @functools.wraps(main)
    def program() -> NoReturn:
        try:
            status = main()
        except SystemExit as stop:
            status = stop.code  # type: ignore[assignment]
        except KeyboardInterrupt:  # between main's own handler and its return
            print("interrupted: stopped while finishing", file=sys.stderr)
            status = 130
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if status == 130:
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(130)
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
            elif isinstance(error, OSError):  # making the run directory
                print(f"error: {error.filename}: {error.strerror}", file=sys.stderr)
            else:
                raise
            sys.exit(2)
        finally:
            if previous is None:
                os.environ.pop("HYDRA_FULL_ERROR", None)
            else:
                os.environ["HYDRA_FULL_ERROR"] = previous

    return main


_ACCEPTED: contextvars.ContextVar[DictConfig | None] = contextvars.ContextVar(
    "accepted_config", default=None
)


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
    if cfg is None or not HydraConfig.initialized():
        return
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
        handler.setFormatter(
            logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
        )
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
    try:
        config = to_config(cfg, schema)
        check_writable(run_dir)
        run(config, run_dir)
    except (*user_errors, OutputDirError) as error:
        _refused(run_dir, error, multirun)
    except Exception as error:  # OmegaConf's, merging an added key (+key=...)
        if not is_config_error(error):
            raise
        _refused(run_dir, error, multirun)
    except KeyboardInterrupt:
        print(f"interrupted: stopped the run in {run_dir}", file=sys.stderr)
        sys.exit(130)
    finally:
        _ACCEPTED.set(None)
