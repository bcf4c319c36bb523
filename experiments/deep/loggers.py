"""Training curves where researchers already look: TensorBoard and Weights &
Biases, beside metrics.jsonl (which stays the source of truth).

`logger=tensorboard` (`python -m experiments.ippo ... logger=tensorboard`)
writes event files under `<run dir>/tensorboard` with tensorboardX;
`logger=wandb` logs to a wandb run under `<run dir>/wandb`, offline unless
`WANDB_MODE` says otherwise (these machines have no network; `wandb sync
<run dir>/wandb/offline-run-*` uploads it later), one wandb run per run
directory so that a resumed run goes on in the same one. Both take the same
scalars from each chunk's metrics record (`scalars`), at its env step. The
libraries are the optional extra `.[loggers]`.
"""

from __future__ import annotations

import contextlib
import hashlib
import netrc
import os
import pathlib
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from marl.fields import ConfigError

LOGGERS = ("tensorboard", "wandb")
"""The values of `logger` besides null (metrics.jsonl only)."""
WANDB_MODES = ("offline", "online", "disabled", "shared")
"""The values of WANDB_MODE that wandb's `init` takes."""

CHUNK_CURVES = (
    "entropy",
    "policy_loss",
    "value_loss",
    "approx_kl",
    "clip_fraction",
    "grad_norm",
)
"""The per-run means a metrics.jsonl record holds beside its returns."""
CURVES = ("return", *CHUNK_CURVES)
"""The per-run fields of a chunk record drawn as curves."""


class LoggerError(ConfigError):
    """A logger that cannot run here (its library is missing)."""


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The scalars of one metrics.jsonl record: each curve's mean over the
    seeds of every entropy coefficient (`return/ent_coef_0.1`), the return of
    every seed (`return_by_seed/ent_coef_0.1/seed_3`), and the throughput
    (TensorBoard's tag characters: no "=")."""
    out: dict[str, float] = {"steps_per_second": float(record["steps_per_second"])}
    for e, coef in enumerate(record["ent_coefs"]):
        for name in CURVES:
            known = [v for v in record[name][e] if v is not None]
            if known:
                out[f"{name}/ent_coef_{coef:g}"] = float(np.mean(known))
        for s, value in enumerate(record["return"][e]):
            if value is not None:
                out[f"return_by_seed/ent_coef_{coef:g}/seed_{s}"] = float(value)
    return out


def check_logger(kind: str | None) -> None:
    """Refuses (LoggerError, one line), before a run directory is made, a
    logger that cannot start: its library missing, a WANDB_MODE wandb does not
    take, or WANDB_MODE=online (or shared) without a login (WANDB_API_KEY or
    the netrc entry `wandb login` writes)."""
    if kind == "tensorboard":
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            raise LoggerError(
                "logger=tensorboard needs tensorboardX: pip install -e '.[loggers]'"
            ) from None
    if kind != "wandb":
        return
    mode = os.environ.get("WANDB_MODE", "offline")
    if mode not in WANDB_MODES:
        raise LoggerError(
            f"WANDB_MODE={mode!r} is not one of wandb's modes: {', '.join(WANDB_MODES)}"
        )
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise LoggerError(
            "logger=wandb needs wandb: pip install -e '.[loggers]'"
        ) from None
    if mode in ("online", "shared") and not _wandb_login():
        raise LoggerError(
            f"logger=wandb with WANDB_MODE={mode} needs a login (`wandb login`, or "
            "WANDB_API_KEY); WANDB_MODE=offline logs without one"
        )


def _wandb_login() -> bool:
    """Whether wandb has an API key: WANDB_API_KEY, or a netrc entry for its
    host (WANDB_BASE_URL's, api.wandb.ai by default)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urllib.parse.urlparse(
        os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    ).hostname
    try:
        return netrc.netrc().authenticators(host or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False


@contextlib.contextmanager
def open_logger(
    kind: str | None, run_dir: pathlib.Path, name: str, config: dict[str, Any]
) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A function that logs a chunk record to `kind` (nothing for None), open
    for the duration of the `with`."""
    if kind is None:
        yield lambda record: None
        return
    check_logger(kind)  # its library, and wandb's mode and login
    if kind == "tensorboard":
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(logdir=str(run_dir / "tensorboard"))

        def to_tensorboard(record: dict[str, Any]) -> None:
            for tag, value in scalars(record).items():
                writer.add_scalar(tag, value, global_step=record["env_steps"])
            writer.flush()

        try:
            yield to_tensorboard
        finally:
            writer.close()
        return
    import wandb

    mode = os.environ.get("WANDB_MODE", "offline")
    run_id = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:16]
    try:
        run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "entropy-zsc-lab"),
            name=name,
            id=run_id,
            resume="allow",
            dir=str(run_dir),
            config=config,
            mode=mode,  # type: ignore[arg-type]
            settings=wandb.Settings(silent=True, console="off"),
        )
    except Exception as error:  # no login, no network: wandb's own errors
        lines = [line for line in str(error).splitlines() if line.strip()]
        why = lines[0] if lines else type(error).__name__
        raise LoggerError(
            f"logger=wandb could not start a run (WANDB_MODE={mode}): {why}; "
            "WANDB_MODE=offline logs without a login"
        ) from None

    def to_wandb(record: dict[str, Any]) -> None:
        run.log({"env_steps": record["env_steps"], **scalars(record)})

    try:
        yield to_wandb
    finally:
        run.finish()
