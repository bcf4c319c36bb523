"""What the machine gives a JAX program now, and what XLA says a program costs:
helpers of the benchmarks that set a program's rate beside the machine's
(`benchmarks.dpomdp_profile`, `benchmarks.dpomdp_engine`). Imports jax: import
it after any `XLA_FLAGS` are set."""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

STREAM_FLOATS = 64 * 2**20


def best_time(fn: Callable[..., object], *args: object, repeats: int) -> float:
    """The fastest of `repeats` calls of a jitted `fn`, in seconds (after one
    warm-up call)."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def cost(fn: Callable[..., object], *args: object) -> tuple[float, float]:
    """(FLOPs, bytes accessed) of the compiled program, XLA's own count."""
    analysis = fn.lower(*args).compile().cost_analysis()  # type: ignore[attr-defined]
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis.get("flops", 0.0)), float(analysis.get("bytes accessed", 0.0))


def machine_rates(size: int, repeats: int) -> tuple[float, float]:
    """(GFLOP/s of a size x size float32 matrix product, GB/s of a streaming
    scale-and-add that reads and writes 256 MB), in this process now."""
    a = jnp.ones((size, size), jnp.float32)
    product = jax.jit(lambda x: x @ x)
    seconds = best_time(product, a, repeats=repeats)
    big = jnp.ones(STREAM_FLOATS, jnp.float32)
    scaled = jax.jit(lambda x: 1.0001 * x + 1.0)
    stream = best_time(scaled, big, repeats=repeats)
    return 2 * size**3 / seconds / 1e9, 2 * big.nbytes / stream / 1e9
