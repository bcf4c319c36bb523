"""One IPPO update of a preset on this machine: where its time goes, how much
of the machine it uses, and the preset's training rate at an older commit
beside this one, in one run (issue 60).

    python -m benchmarks.ippo_update                        # preset hanabi_3c3r_cpu
    python -m benchmarks.ippo_update --against 1990c1f      # and that commit's rate
    python -m benchmarks.ippo_update seeds=2 ippo.num_envs=64   # any ippo override

The profile (this checkout, in this process) times each part of one update of
every run of the preset (seeds x entropy coefficients, `vmap`ped as the
trainer batches them) as its own compiled program on the same inputs: the
rollout (the games, the network's forward pass on the acting seat's row, and
the bootstrap value), the advantages (GAE), the epochs' shuffles, their forward
and backward passes at fixed parameters, and their optimizer steps on fixed
gradients; and the whole update. For each: seconds (best of --repeats), its
share of the whole update, the cores it kept busy (process CPU time over wall
time while it ran), and where XLA counts them (`cost_analysis`; no loop in
the program) its floating-point operations and rate. The reference is the
network's own matrix products at the same shapes (each dense layer's forward,
its input gradient but the first's, its weight gradient, on one minibatch of
every run), timed alone: what this machine's matmul kernels give at these
shapes, so the forward and backward passes' rate reads as a share of it; and
the same products with the layers that read the observation (the actor's
and the critic's first) as one wider product: whether fewer, larger kernels
would run faster.

The comparison (`--against REV`) extracts REV's tree (`git archive`) into a
temporary directory and runs `python -m experiments.estimate --measure` of
the same overrides in each tree, in turns (--rounds), as subprocesses with
this venv's python: env steps per second of the trainer's real program (a
chunk of --updates updates after an untimed one), best of the rounds.
Figures: docs/benchmarks_ippo.md, "One update of hanabi_3c3r_cpu".
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from benchmarks.common import ROOT, extract, kernel_shapes, machine_lines
from experiments.deep.ippo_runs import IPPORunConfig
from experiments.harness.arguments import ArgumentParser
from experiments.harness.compose import compose_config
from experiments.reports.study_tables import markdown_grid
from marl.deep.ippo import (
    make_ippo,
    make_policy_for,
    ppo_loss_of,
    ppo_optimizer,
    seed_keys,
    shuffled_minibatches,
    training_data,
)
from marl.deep.rollout import bootstrap_value, rollout, symmetry_tables

PRESET = "preset=hanabi_3c3r_cpu"


# ------------------------------------------------------------------ timing


def flops_of(compiled: Any) -> float | None:
    """XLA's count of floating-point operations of a compiled program (None
    where the backend gives none)."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0] if analysis else {}
    value = (analysis or {}).get("flops")
    return float(value) if value else None


def timed(
    name: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    repeats: int,
    *,
    count: bool = False,
) -> tuple[dict[str, Any], Any]:
    """`fn` jitted and compiled for `args`, then run `repeats` times: the best
    wall seconds, the cores it kept busy over all runs, and with `count`
    XLA's flops (of a program without loops: XLA counts a loop's body once);
    and the program's output (the next part's input)."""
    compiled = jax.jit(fn).lower(*args).compile()
    output = jax.block_until_ready(compiled(*args))  # untimed: first-run costs
    best, wall, cpu = math.inf, 0.0, 0.0
    for _ in range(repeats):
        start, times = time.perf_counter(), os.times()
        jax.block_until_ready(compiled(*args))
        seconds = time.perf_counter() - start
        after = os.times()
        best = min(best, seconds)
        wall += seconds
        cpu += (after.user - times.user) + (after.system - times.system)
    print(f"  {name}: {best:.3f} s", file=sys.stderr, flush=True)
    flops = flops_of(compiled) if count else None
    part = {"part": name, "seconds": best, "cores": cpu / wall, "flops": flops}
    return part, output


class UpdateParts(NamedTuple):
    """One update of one run, cut into the parts `profile` times (each a
    function of the one before's output; `vmap` them over the runs)."""

    whole: Callable[..., Any]  # (state, coef): the learner's own update
    play: Callable[..., Any]  # state -> trajectory, bootstrap value
    advantages: Callable[..., Any]  # (traj, last, carry) -> data, carry
    shuffle: Callable[..., Any]  # (key, carry, data) -> minibatches
    one_minibatch: Callable[..., Any]  # (params, carry, data, coef) -> grads
    forward_backward: Callable[..., Any]  # every minibatch, the same params
    optimize: Callable[..., Any]  # (params, opt_state, grads) -> both


def update_parts(config: IPPORunConfig) -> UpdateParts:
    """The parts of the preset's update, written with the learner's own pieces."""
    ippo, env = config.ippo, config.environment
    learner = make_ippo(ippo, env)
    policy = make_policy_for(ippo, env)
    symmetries = symmetry_tables(env, ippo.other_play)
    optimizer = ppo_optimizer(ippo)
    grad = jax.grad(
        ppo_loss_of(ippo, policy, env.num_players // env.num_deciders), has_aux=True
    )

    def play(state: Any) -> Any:
        games, traj = rollout(
            policy,
            state.params,
            state.rollout,
            env,
            key=state.key,
            num_steps=ippo.num_steps,
            symmetries=symmetries,
        )
        return traj, bootstrap_value(policy, state.params, games, env, symmetries)

    def advantages(traj: Any, last: Any, carry: Any) -> Any:
        return training_data(ippo, policy, traj, last, carry)

    def shuffle(key: jax.Array, carry: Any, data: Any) -> Any:
        epochs = jax.random.split(key, ippo.update_epochs)
        return jax.vmap(
            lambda k: shuffled_minibatches(k, carry, data, ippo.num_minibatches)
        )(epochs)

    def one_minibatch(params: Any, carry: Any, data: Any, coef: Any) -> Any:
        return grad(params, carry, data, coef)[0]

    def forward_backward(params: Any, carry: Any, data: Any, coef: Any) -> Any:
        # every minibatch of every epoch at the same parameters
        flat = jax.tree.map(
            lambda x: x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]), (carry, data)
        )

        def body(total: Any, minibatch: Any) -> tuple[Any, None]:
            grads = one_minibatch(params, *minibatch, coef)
            return jax.tree.map(jnp.add, total, grads), None

        zero = jax.tree.map(jnp.zeros_like, params)
        return jax.lax.scan(body, zero, flat)[0]

    def optimize(params: Any, opt_state: Any, grads: Any) -> Any:
        def body(carry: Any, _: None) -> tuple[Any, None]:
            params, opt_state = carry
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (jax.tree.map(jnp.add, params, updates), opt_state), None

        steps = ippo.update_epochs * ippo.num_minibatches
        return jax.lax.scan(body, (params, opt_state), None, length=steps)[0]

    return UpdateParts(
        learner.update,
        play,
        advantages,
        shuffle,
        one_minibatch,
        forward_backward,
        optimize,
    )


def profile(config: IPPORunConfig, repeats: int) -> dict[str, Any]:
    """Each part of one update of every run, timed alone (module docstring)."""
    ippo, env = config.ippo, config.environment
    runs = config.seeds * len(config.ent_coefs)
    pieces = update_parts(config)
    keys = seed_keys(ippo.seed, runs)
    states = jax.jit(jax.vmap(make_ippo(ippo, env).init))(keys)
    coefs = jnp.repeat(jnp.asarray(config.ent_coefs, jnp.float32), config.seeds)
    # each part timed on the output of the one before (compiled once each)
    whole, _ = timed("whole update", jax.vmap(pieces.whole), (states, coefs), repeats)
    rolled, (traj, last) = timed("rollout", jax.vmap(pieces.play), (states,), repeats)
    carry = states.rollout.carry
    gae, (data, rnn_carry) = timed(
        "advantages", jax.vmap(pieces.advantages), (traj, last, carry), repeats
    )
    shuffled, minibatches = timed(
        "shuffles", jax.vmap(pieces.shuffle), (states.key, rnn_carry, data), repeats
    )
    passes, grads = timed(
        "forward and backward",
        jax.vmap(pieces.forward_backward),
        (states.params, *minibatches, coefs),
        repeats,
    )
    optimized, _ = timed(
        "optimizer",
        jax.vmap(pieces.optimize),
        (states.params, states.opt_state, grads),
        repeats,
    )
    parts = [whole, rolled, gae, shuffled, passes, optimized]
    # XLA's flops of one minibatch's gradient (a program without loops), times
    # the minibatches of an update
    first = jax.tree.map(lambda x: x[:, 0, 0], minibatches)
    steps = ippo.update_epochs * ippo.num_minibatches
    one = jax.jit(jax.vmap(pieces.one_minibatch))
    per_minibatch = flops_of(one.lower(states.params, *first, coefs).compile())
    passes["flops"] = per_minibatch and per_minibatch * steps
    reference, merged = (
        matmul_reference(states.params, ippo, env.obs_size, runs, repeats, merged=m)
        for m in (False, True)
    )
    for part in parts:
        part["share"] = part["seconds"] / whole["seconds"]
        part["gflops"] = part["flops"] and part["flops"] / part["seconds"] / 1e9
    return {
        "runs": runs,
        "env_steps_per_update": runs * ippo.batch_size,
        "env_steps_per_second": runs * ippo.batch_size / whole["seconds"],
        "parts": parts,
        "matmul_reference": reference,
        "matmul_merged": merged,
    }


def dense_shapes(params: Any) -> list[tuple[int, int]]:
    """(in, out) of every dense kernel of one run's parameters."""
    return [(shape[-2], shape[-1]) for shape in kernel_shapes(params)]


def matmul_reference(
    params: Any,
    ippo: Any,
    obs_size: int,
    runs: int,
    repeats: int,
    *,
    merged: bool = False,
) -> dict[str, Any]:
    """The network's matrix products on one minibatch of every run, timed alone:
    per dense layer the forward product, the input gradient (not the first
    layer's: the observation needs none) and the weight gradient. `merged`:
    the layers that read the observation (the actor's and the critic's first)
    as one product as wide as all of them, the same arithmetic in fewer,
    larger kernels."""
    rows = ippo.batch_size // ippo.num_minibatches
    shapes = dense_shapes(jax.tree.map(lambda x: x[0], params))
    if merged:
        reads = [n_out for n_in, n_out in shapes if n_in == obs_size]
        shapes = [(obs_size, sum(reads))] + [s for s in shapes if s[0] != obs_size]
    first = {shape for shape in shapes if shape[0] == obs_size}  # read the obs
    key = jax.random.key(1)
    arrays = [
        (
            jax.random.normal(key, (runs, rows, n_in)),
            jax.random.normal(key, (runs, n_in, n_out)),
            jax.random.normal(key, (runs, rows, n_out)),
        )
        for n_in, n_out in shapes
    ]

    def products(arrays: Any) -> Any:
        out = []
        for (x, w, dy), shape in zip(arrays, shapes, strict=True):
            out.append(jnp.einsum("rbi,rio->rbo", x, w))
            if shape not in first:
                out.append(jnp.einsum("rbo,rio->rbi", dy, w))
            out.append(jnp.einsum("rbi,rbo->rio", x, dy))
        return out

    flops = sum(
        2 * runs * rows * n_in * n_out * (2 if (n_in, n_out) in first else 3)
        for n_in, n_out in shapes
    )
    name = "matmuls alone (one minibatch)"
    if merged:
        name = "matmuls alone, the observation's layers as one"
    result, _ = timed(name, products, (arrays,), repeats, count=True)
    result.update(xla_flops=result["flops"], flops=flops)
    result["gflops"] = flops / result["seconds"] / 1e9
    return result


# -------------------------------------------------------------- comparison


def measured_rate(
    tree: pathlib.Path, overrides: Sequence[str], updates: int, out: pathlib.Path
) -> float:
    """Env steps per second of the preset's trainer in `tree`
    (`experiments.estimate --measure`, a subprocess running in that tree)."""
    command = [
        sys.executable,
        "-m",
        "experiments.estimate",
        "--measure",
        "--measure-updates",
        str(updates),
        "--chunks",
        "1",
        "--json",
        str(out),
        *overrides,
    ]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        command, cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"error: experiments.estimate in {tree}: {last}")
    plan = json.loads(out.read_text())
    return float(plan["shapes"][0]["measured"]["steps_per_second"])


def compare(
    revision: str, overrides: Sequence[str], updates: int, rounds: int
) -> dict[str, Any]:
    """This checkout's rate and `revision`'s, in turns, best of `rounds`."""
    with tempfile.TemporaryDirectory(prefix="ippo_update_") as tmp:
        work = pathlib.Path(tmp)
        trees = {"this checkout": ROOT, revision: extract(revision, work)}
        rates: dict[str, list[float]] = {name: [] for name in trees}
        for turn in range(rounds):
            for name, tree in trees.items():
                rate = measured_rate(tree, overrides, updates, work / "plan.json")
                rates[name].append(rate)
                print(
                    f"  {name}, round {turn + 1}: {rate:,.0f} env steps/s",
                    file=sys.stderr,
                    flush=True,
                )
    best = {name: max(values) for name, values in rates.items()}
    return {
        "revision": revision,
        "rates": rates,
        "best": best,
        "ratio": best["this checkout"] / best[revision],
    }


# ---------------------------------------------------------------- printing


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def report(
    config: IPPORunConfig, prof: dict[str, Any], comparison: dict[str, Any] | None
) -> str:
    """The profile's table and the comparison's, as markdown."""
    ippo = config.ippo
    lines = [
        f"{config.name}: {prof['runs']} runs ({config.seeds} seeds x "
        f"{len(config.ent_coefs)} entropy coefficients) x {ippo.num_envs} games x "
        f"{ippo.num_steps} steps = {prof['env_steps_per_update']:,} env steps per "
        f"update; {ippo.update_epochs} epochs x {ippo.num_minibatches} minibatches; "
        f"network {ippo.network} {list(ippo.hidden_sizes)}",
        "",
    ]
    rows = []
    for part in [*prof["parts"], prof["matmul_reference"], prof["matmul_merged"]]:
        flops = part["flops"] and part["flops"] / 1e9
        share = _number(part.get("share") and 100 * part["share"], 0)
        rows.append(
            [
                part["part"],
                f"{part['seconds']:.3f}",
                f"{share}{'%' if part.get('share') else ''}",
                f"{part['cores']:.2f}",
                _number(flops, 1),
                _number(part["gflops"], 1),
            ]
        )
    header = ["part of one update", "s", "share", "cores busy", "GFLOP", "GFLOP/s"]
    lines.append(markdown_grid(header, rows, "-rrrrr"))
    parts = prof["parts"]
    summed = sum(p["seconds"] for p in parts[1:])
    backward = parts[4]["gflops"]
    matmuls = prof["matmul_reference"]["gflops"]
    lines += [
        "",
        f"whole update: {prof['env_steps_per_second']:,.0f} env steps/s; "
        f"the parts timed alone sum to {summed:.3f} s "
        f"({100 * summed / parts[0]['seconds']:.0f}% of the whole)",
    ]
    if backward and matmuls:
        lines.append(
            f"forward and backward passes: {backward:.1f} GFLOP/s, "
            f"{100 * backward / matmuls:.0f}% of the network's matmuls alone "
            f"({matmuls:.1f} GFLOP/s)"
        )
    merged = prof["matmul_merged"]["gflops"]
    if matmuls and merged:
        lines.append(
            f"the layers that read the observation as one product: {merged:.1f} "
            f"GFLOP/s, {merged / matmuls:.2f}x the separate products"
        )
    if comparison:
        revision = comparison["revision"]
        rates = [
            [
                name,
                f"{comparison['best'][name]:,.0f}",
                ", ".join(f"{v:,.0f}" for v in values),
            ]
            for name, values in comparison["rates"].items()
        ]
        header = ["code", "env steps/s (best)", "rounds"]
        lines += ["", markdown_grid(header, rates, "-r-")]
        lines.append(f"\nthis checkout / {revision}: {comparison['ratio']:.2f}x")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser("benchmarks.ippo_update", __doc__)
    parser.add_argument(
        "overrides", nargs="*", help="hydra overrides of experiments.ippo"
    )
    parser.add_argument(
        "--against", metavar="REV", help="a git revision to compare with"
    )
    parser.add_argument("--rounds", type=int, default=2, help="turns of the comparison")
    parser.add_argument(
        "--updates", type=int, default=2, help="updates per timed chunk"
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of this many")
    parser.add_argument("--json", type=pathlib.Path, help="also write the figures here")
    args = parser.parse_args(argv)
    parser.require_at_least(args, rounds=1, updates=1, repeats=1)
    overrides = [PRESET, *args.overrides]
    config = compose_config("ippo", overrides, IPPORunConfig)
    print("\n".join(machine_lines()))
    prof = profile(config, args.repeats)
    comparison = (
        compare(args.against, overrides, args.updates, args.rounds)
        if args.against
        else None
    )
    print(report(config, prof, comparison))
    if args.json:
        args.json.write_text(
            json.dumps({"profile": prof, "comparison": comparison}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
