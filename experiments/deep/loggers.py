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
import os
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from marl.fields import ConfigError

LOGGERS = ("tensorboard", "wandb")
"""The values of `logger` besides null (metrics.jsonl only)."""

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


@contextlib.contextmanager
def open_logger(
    kind: str | None, run_dir: pathlib.Path, name: str, config: dict[str, Any]
) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A function that logs a chunk record to `kind` (nothing for None), open
    for the duration of the `with`."""
    if kind is None:
        yield lambda record: None
        return
    if kind == "tensorboard":
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise LoggerError(
                "logger=tensorboard needs tensorboardX: pip install -e '.[loggers]'"
            ) from None
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
    try:
        import wandb
    except ImportError:
        raise LoggerError(
            "logger=wandb needs wandb: pip install -e '.[loggers]'"
        ) from None
    run_id = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:16]
    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT", "entropy-zsc-lab"),
        name=name,
        id=run_id,
        resume="allow",
        dir=str(run_dir),
        config=config,
        mode=os.environ.get("WANDB_MODE", "offline"),  # type: ignore[arg-type]
        settings=wandb.Settings(silent=True, console="off"),
    )

    def to_wandb(record: dict[str, Any]) -> None:
        run.log({"env_steps": record["env_steps"], **scalars(record)})

    try:
        yield to_wandb
    finally:
        run.finish()
