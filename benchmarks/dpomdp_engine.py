"""Benchmark: the exact engine on Dec-Tiger against the same algorithm in NumPy.

At each horizon of `--horizons`, for one batch of `--batch` random joint policies
of Dec-Tiger (Nair et al. 2003), side by side and like for like:

  values          J(pi) of the batch: the project's occupancy-state recursion
                  (`marl.tabular.exact`, engine 'recursion', jitted, vmapped over
                  the batch in the blocks its learner runs on a CPU,
                  `marl.trainer.map_in_blocks`), its enumeration of terminal
                  histories where that fits (`--enumeration-limit`), and
                  `numpy_value`; with XLA's count of the recursion's FLOPs, its
                  GFLOP/s beside a float32 matrix product's in the same run;
  gradient steps  one step of exact gradient ascent on J_tau (reach-weighted
                  entropy, SGD on the logits, step lr / (reward range + tau)) for
                  every run of the batch: the project's learner (`marl.tabular.
                  exact_pg` under `marl.trainer`, autodiff) and `numpy_step`
                  (the adjoint written by hand).

The NumPy side is the project's algorithm, not the textbook one: the forward
recursion over occupancy states eta_t(s, h_1, h_2) up to eta_{T-2}, and the last
two steps contracted from eta_{T-2} in one einsum, so the last occupancy (the
largest tensor, |A||O| = 6 times the one before per agent) is never built; every
einsum runs on a contraction path found once (opt_einsum's 'optimal', the search
the project's own einsums use) and reused. Both sides run in float32 on the same
batch and the same inputs; values must agree to `--rtol`, and after
`--check-steps` steps from the same logits the two ascents must agree to
10 x `--rtol`, or the script exits 1. Timings are the best of `--repeats` after a
warm-up (JAX's compilation excluded). Both sides get the same cores: XLA uses
the cores this process may use, and NumPy's BLAS as many threads
(OPENBLAS_NUM_THREADS, unless set; both printed), so that `taskset` makes the
one-core comparison:

    .venv/bin/python -m benchmarks.dpomdp_engine   # horizons 3, 4 and 5, batch 256
    taskset -c 0 .venv/bin/python -m benchmarks.dpomdp_engine   # one core each
    .venv/bin/python -m benchmarks.dpomdp_engine --horizons 4 --batch 64
"""

from __future__ import annotations

import os

# NumPy's BLAS gets the cores this process may use, as XLA does: run the script
# under `taskset -c 0` for the one-thread comparison (module docstring).
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(len(os.sched_getaffinity(0))))

import argparse
import itertools
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import opt_einsum

import games
from benchmarks.common import load_average, machine_lines
from benchmarks.rates import cost, machine_rates
from experiments.harness.arguments import ArgumentParser
from games.tabular import DecPOMDP, TabularGame
from games.tabular.compile import count_histories
from marl.tabular import exact
from marl.tabular.exact_pg import ExactPGConfig, make_exact_pg, update_bytes
from marl.trainer import constant_schedules, make_trainer, map_in_blocks

# The recursion's contractions for two agents: b batch, s/q states now/next,
# x/y histories, a/c actions, m/n observations, d/e the last step's actions.
REWARD = "bsxy,bxa,byc,sac->b"
NEXT = "bsxy,bxa,byc,sacq,acqmn->bqxamycn"
LAST = "bsxy,bxa,byc,sacq,acqmn,bxamd,bycne,qde->b"
LAST_REACH = ("bsxy,bxa,byc,sacq,acqmn->bxam", "bsxy,bxa,byc,sacq,acqmn->bycn")


class Contract:
    """`np.einsum` on a contraction path found once per subscripts and shapes
    (opt_einsum's 'optimal') and reused on every later call."""

    def __init__(self) -> None:
        self.paths: dict[tuple, list] = {}

    def __call__(self, subscripts: str, *operands: np.ndarray) -> np.ndarray:
        key = (subscripts, tuple(x.shape for x in operands))
        path = self.paths.get(key)
        if path is None:
            found, _ = opt_einsum.contract_path(
                subscripts, *operands, optimize="optimal"
            )
            path = self.paths[key] = ["einsum_path", *found]
        return np.einsum(subscripts, *operands, optimize=path)

    def vjp(
        self,
        subscripts: str,
        operands: Sequence[np.ndarray],
        k: int,
        upstream: np.ndarray,
    ) -> np.ndarray:
        """The gradient of <upstream, einsum(subscripts, *operands)> in operand k:
        the einsum of every other operand and `upstream` onto operand k's indices
        (broadcast over those only operand k carries)."""
        inputs, output = subscripts.split("->")
        terms = inputs.split(",")
        others = [t for j, t in enumerate(terms) if j != k] + [output]
        present = set("".join(others))
        kept = "".join(c for c in terms[k] if c in present)
        grad = self(
            ",".join(others) + "->" + kept,
            *(x for j, x in enumerate(operands) if j != k),
            upstream,
        )
        if kept == terms[k]:
            return grad
        shape = [
            operands[k].shape[j] if c in present else 1 for j, c in enumerate(terms[k])
        ]
        return np.broadcast_to(grad.reshape(shape), operands[k].shape)


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(p)).sum(-1)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _laid_out(spec: DecPOMDP, p: np.ndarray, i: int) -> np.ndarray:
    """Agent i's last-step policy [B, (H A O), A] as [B, H, A, O, A]."""
    num_actions, num_obs = spec.num_actions[i], spec.num_observations[i]
    b, rows, _ = p.shape
    return p.reshape(b, rows // (num_actions * num_obs), num_actions, num_obs, -1)


class Forward:
    """What `numpy_forward` keeps for the backward pass."""

    def __init__(self) -> None:
        self.etas: list[np.ndarray] = []
        self.last: tuple[np.ndarray, ...] = ()  # the operands of LAST
        self.last_reach: tuple[np.ndarray, ...] = ()


def numpy_forward(
    spec: DecPOMDP,
    probs: Sequence[Sequence[np.ndarray]],
    taus: np.ndarray | None,
    contract: Contract,
    tape: Forward | None = None,
) -> np.ndarray:
    """J_tau (J alone when `taus` is None) of each of B joint policies of a 2-agent
    Dec-POMDP, float[B]. `probs[i][t]` is float[B, (A_i O_i)^t, A_i]: agent i's
    action distribution at each of its step-t histories (a_0, o_0, ..., a_{t-1},
    o_{t-1}) in mixed radix order, a_0 most significant.

    eta_{t+1}(s', (h, a, o)_i) = sum_s eta_t(s, h) pi(a | h) T(s' | s, a) O(o | a, s')
    up to eta_{T-2}; the last two steps' rewards (and the last step's reach, for
    the entropy) are contracted from eta_{T-2}, as `marl.tabular.exact` does. The
    entropy of every history is weighted by its reach (the project's default)."""
    horizon, dtype = spec.horizon, probs[0][0].dtype
    transition = spec.transition.astype(dtype)
    observation = spec.observation.astype(dtype)
    batch = probs[0][0].shape[0]
    eta = np.broadcast_to(
        spec.initial.astype(dtype)[None, :, None, None],
        (batch, spec.num_states, 1, 1),
    )
    value = np.zeros(batch, dtype)
    for t in range(horizon):
        p1, p2 = probs[0][t], probs[1][t]
        if tape is not None:
            tape.etas.append(eta)
        reward = (spec.discount**t * spec.reward).astype(dtype)
        value += contract(REWARD, eta, p1, p2, reward)
        if taus is not None:
            value += taus * (
                (eta.sum(axis=(1, 3)) * _entropy(p1)).sum(-1)
                + (eta.sum(axis=(1, 2)) * _entropy(p2)).sum(-1)
            )
        if t == horizon - 1:
            break
        if t == horizon - 2:
            last = (
                eta,
                p1,
                p2,
                transition,
                observation,
                _laid_out(spec, probs[0][t + 1], 0),
                _laid_out(spec, probs[1][t + 1], 1),
                (spec.discount ** (t + 1) * spec.reward).astype(dtype),
            )
            value += contract(LAST, *last)
            if tape is not None:
                tape.last = last
            if taus is not None:
                reaches = tuple(contract(s, *last[:5]) for s in LAST_REACH)
                for reach, q in zip(reaches, last[5:7], strict=True):
                    value += taus * (reach * _entropy(q)).sum(axis=(1, 2, 3))
                if tape is not None:
                    tape.last_reach = reaches
            break
        grown = contract(NEXT, eta, p1, p2, transition, observation)
        b, q, x, a, m, y, c, n = grown.shape
        eta = grown.reshape(b, q, x * a * m, y * c * n)
    return value


def numpy_value(
    spec: DecPOMDP, policies: Sequence[Sequence[np.ndarray]], contract: Contract
) -> np.ndarray:
    """J(pi) of each of B joint policies (`numpy_forward`'s layout), float[B]."""
    return numpy_forward(spec, policies, None, contract)


def numpy_objective_and_gradient(
    spec: DecPOMDP,
    logits: Sequence[Sequence[np.ndarray]],
    taus: np.ndarray,
    contract: Contract,
) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """J_tau and its gradient in the logits of each of B joint softmax policies
    (`numpy_forward`'s layout; taus float[B]), by the adjoint of the forward pass:
    each einsum's gradient in an operand is the einsum of the others and the
    gradient of its output (`Contract.vjp`), taken backward from the last two
    steps to the first; entropy terms tau reach . H add tau H to the reach's
    gradient and -tau reach (log p + 1) to the policy's; the softmax Jacobian last."""
    probs = [[_softmax(x) for x in agent] for agent in logits]
    tape = Forward()
    value = numpy_forward(spec, probs, taus, contract, tape)
    horizon = spec.horizon
    ones = np.ones_like(taus)
    grads: list[list[np.ndarray]] = [[np.zeros(0)] * horizon for _ in range(2)]

    def entropy_terms(t: int, eta: np.ndarray) -> np.ndarray:
        """Adds step t's entropy gradients to the policies'; returns its
        gradient in eta."""
        p1, p2 = probs[0][t], probs[1][t]
        reach = (eta.sum(axis=(1, 3)), eta.sum(axis=(1, 2)))
        for i, p in enumerate((p1, p2)):
            grads[i][t] = grads[i][t] - taus[:, None, None] * reach[i][..., None] * (
                np.log(p) + 1
            )
        return taus[:, None, None, None] * (
            _entropy(p1)[:, None, :, None] + _entropy(p2)[:, None, None, :]
        )

    t = len(tape.etas) - 1  # the step the forward pass stopped at
    eta = tape.etas[t]
    reward = (spec.discount**t * spec.reward).astype(eta.dtype)
    now = (eta, probs[0][t], probs[1][t], reward)
    grad_eta = contract.vjp(REWARD, now, 0, ones)
    for i in range(2):
        grads[i][t] = contract.vjp(REWARD, now, 1 + i, ones)
    grad_eta = grad_eta + entropy_terms(t, eta)
    if tape.last:
        last = tape.last
        for k in (0, 1, 2, 5, 6):
            g = contract.vjp(LAST, last, k, ones)
            if k < 5:
                for subscripts, q in zip(LAST_REACH, last[5:7], strict=True):
                    upstream = taus[:, None, None, None] * _entropy(q)
                    g = g + contract.vjp(subscripts, last[:5], k, upstream)
            if k == 0:
                grad_eta = grad_eta + g
            elif k < 5:
                grads[k - 1][t] = grads[k - 1][t] + g
            else:
                i = k - 5
                q, reach = last[k], tape.last_reach[i]
                g = g - taus[:, None, None, None, None] * reach[..., None] * (
                    np.log(q) + 1
                )
                grads[i][t + 1] = g.reshape(probs[i][t + 1].shape)
    transition = spec.transition.astype(eta.dtype)
    observation = spec.observation.astype(eta.dtype)
    for t in reversed(range(len(tape.etas) - 1)):
        eta, p1, p2 = tape.etas[t], probs[0][t], probs[1][t]
        moves = (eta, p1, p2, transition, observation)
        b, q, _, _ = grad_eta.shape
        x, y = eta.shape[2:]
        a, c = p1.shape[-1], p2.shape[-1]
        m, n = spec.observation.shape[-2:]
        upstream = grad_eta.reshape(b, q, x, a, m, y, c, n)
        reward = (spec.discount**t * spec.reward).astype(eta.dtype)
        now = (eta, p1, p2, reward)
        for i in range(2):
            grads[i][t] = contract.vjp(NEXT, moves, 1 + i, upstream) + contract.vjp(
                REWARD, now, 1 + i, ones
            )
        grad_eta = (
            contract.vjp(NEXT, moves, 0, upstream)
            + contract.vjp(REWARD, now, 0, ones)
            + entropy_terms(t, eta)
        )
    return value, [
        [p * (g - (p * g).sum(-1, keepdims=True)) for p, g in zip(ps, gs, strict=True)]
        for ps, gs in zip(probs, grads, strict=True)
    ]


def dense_rows(game: TabularGame, spec: DecPOMDP) -> list[list[np.ndarray]]:
    """Per agent and step, int[(A_i O_i)^t]: the project's policy row of each
    history in `numpy_value`'s dense order (a_0 most significant), -1 where the
    game never reaches it."""
    dense = []
    for i in range(spec.num_agents):
        index = {key: k for k, key in enumerate(game.infostate_keys[i])}
        num_actions, num_obs = spec.num_actions[i], spec.num_observations[i]
        per_step = []
        for t in range(spec.horizon):
            steps = itertools.product(range(num_actions), range(num_obs), repeat=t)
            keys = (
                tuple(
                    item
                    for a, o in zip(flat[0::2], flat[1::2], strict=True)
                    for item in (("a", a), ("o", o))
                )
                for flat in steps
            )
            per_step.append(np.array([index.get(key, -1) for key in keys]))
        dense.append(per_step)
    return dense


def dense_policies(
    game: TabularGame, spec: DecPOMDP, policy: Sequence[np.ndarray]
) -> list[list[np.ndarray]]:
    """The project's policy layout (rows keyed by history, [..., K_i, A_i]) as
    `numpy_value`'s dense per-step arrays; histories the game never reaches get a
    uniform row."""
    return [
        [
            np.where((rows >= 0)[:, None], pi[..., rows, :], 1 / pi.shape[-1])
            for rows in per_step
        ]
        for pi, per_step in zip(policy, dense_rows(game, spec), strict=True)
    ]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class Row:
    """One horizon's figures: seconds per policy (values) and per run and step
    (gradient steps), JAX and NumPy, and the largest disagreements."""

    def __init__(self, horizon: int, states: int, histories: float) -> None:
        self.horizon, self.states, self.histories = horizon, states, histories
        self.value = {"jax": 0.0, "numpy": 0.0}
        self.step = {"jax": 0.0, "numpy": 0.0}
        self.enumeration: float | None = None
        self.value_flops = 0.0
        self.value_diff: dict[str, float] = {}
        self.logit_diff = 0.0


def time_values(
    args: argparse.Namespace, spec: DecPOMDP, game: TabularGame, row: Row
) -> None:
    """J(pi) of one batch of random joint policies on every path, timed, and the
    largest relative difference to NumPy."""
    rng = np.random.default_rng(0)
    logits = tuple(
        rng.normal(size=(args.batch, *shape)).astype(np.float32)
        for shape in game.policy_shapes
    )
    policy = tuple(jnp.asarray(p) for p in exact.softmax_policy(logits))

    def value(pi: tuple[jax.Array, ...]) -> jax.Array:
        return exact.expected_return(game, pi)

    evaluate = jax.jit(
        lambda *pi: map_in_blocks(value, pi, update_bytes(game))  # as the learner
    )
    row.value["jax"] = best_time(
        lambda: evaluate(*policy).block_until_ready(), args.repeats
    )
    # XLA counts a loop's body once: the work is the program's all at once.
    row.value_flops = cost(jax.jit(jax.vmap(lambda *pi: value(pi))), *policy)[0]
    values = {"recursion": np.asarray(evaluate(*policy))}
    if row.histories <= args.enumeration_limit:
        enumerated = games.compile_game(spec, engine="enumeration")
        by_paths = jax.jit(jax.vmap(lambda *pi: exact.expected_return(enumerated, pi)))
        row.enumeration = best_time(
            lambda: by_paths(*policy).block_until_ready(), args.repeats
        )
        values["enumeration"] = np.asarray(by_paths(*policy))
    dense = dense_policies(game, spec, [np.asarray(p) for p in policy])
    contract = Contract()
    row.value["numpy"] = best_time(
        lambda: numpy_value(spec, dense, contract), args.repeats
    )
    reference = numpy_value(spec, dense, contract).astype(np.float64)
    scale = np.abs(reference).max()
    row.value_diff = {
        path: float(np.abs(v - reference).max() / scale) for path, v in values.items()
    }


def time_steps(
    args: argparse.Namespace, spec: DecPOMDP, game: TabularGame, row: Row
) -> None:
    """One step of exact gradient ascent on J_tau for every run of the batch (the
    project's learner: `--batch` seeds at tau `--tau`; NumPy: the same runs from
    the same logits), timed; after `--check-steps` steps the largest difference
    of their logits."""
    config = ExactPGConfig(steps=1, optimizer="sgd", learning_rate=args.lr)
    trainer = make_trainer(make_exact_pg(game, config))
    start = trainer.init(jax.random.split(jax.random.key(0), args.batch), 1)

    def run(num_steps: int):  # type: ignore[no-untyped-def]
        schedules = constant_schedules(jnp.asarray([args.tau]), num_steps)
        return jax.block_until_ready(trainer.run(start, schedules))

    rows = dense_rows(game, spec)
    logits = [
        [np.asarray(x[0])[:, r, :] for r in per_step]
        for x, per_step in zip(start.logits, rows, strict=True)
    ]
    taus = np.full(args.batch, args.tau, np.float32)
    step_size = np.float32(args.lr / (game.reward_range + args.tau))
    contract = Contract()

    def numpy_steps(logits: list, num_steps: int) -> list:
        for _ in range(num_steps):
            _, grads = numpy_objective_and_gradient(spec, logits, taus, contract)
            logits = [
                [x + step_size * g for x, g in zip(xs, gs, strict=True)]
                for xs, gs in zip(logits, grads, strict=True)
            ]
        return logits

    checked, _ = run(args.check_steps)
    theirs = numpy_steps(logits, args.check_steps)
    row.logit_diff = max(
        float(np.abs(np.asarray(x[0])[:, r, :] - ours).max())
        for x, per_step, agent in zip(checked.logits, rows, theirs, strict=True)
        for r, ours in zip(per_step, agent, strict=True)
    )
    row.step["jax"] = best_time(lambda: run(args.steps), args.repeats) / args.steps
    row.step["numpy"] = (
        best_time(lambda: numpy_steps(logits, args.numpy_steps), args.repeats)
        / args.numpy_steps
    )


def print_table(args: argparse.Namespace, rows: Sequence[Row], matmul: float) -> None:
    print(
        f"\nDec-Tiger, a batch of {args.batch} (values: random joint policies; "
        f"gradient steps: {args.batch} runs at tau {args.tau:g}, SGD lr {args.lr:g}), "
        "float32, "
        f"best of {args.repeats}, microseconds per policy (values) and per run and "
        "step (gradient steps):\n"
    )
    print(
        "| horizon | information states per agent | values: jax | values: numpy "
        "| **ratio** | steps: jax | steps: numpy | **ratio** | jax enumeration "
        "(values) | values: GFLOP/s (% of the matrix product) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    micro = 1e6 / args.batch
    for r in rows:
        enumeration = "-" if r.enumeration is None else f"{micro * r.enumeration:.2f}"
        rate = r.value_flops / r.value["jax"] / 1e9
        print(
            f"| {r.horizon} | {r.states} | {micro * r.value['jax']:.2f} | "
            f"{micro * r.value['numpy']:.2f} | "
            f"**{r.value['numpy'] / r.value['jax']:.1f}x** | "
            f"{micro * r.step['jax']:.2f} | {micro * r.step['numpy']:.2f} | "
            f"**{r.step['numpy'] / r.step['jax']:.1f}x** | {enumeration} | "
            f"{rate:.1f} ({100 * rate / matmul:.0f}%) |"
        )
    print("\nlargest relative difference of values to numpy:")
    for r in rows:
        diffs = ", ".join(f"{path} {d:.1e}" for path, d in r.value_diff.items())
        print(f"  horizon {r.horizon}: {diffs}")
    print(
        f"largest difference of logits after {args.check_steps} steps from the same "
        "start: " + ", ".join(f"h{r.horizon} {r.logit_diff:.1e}" for r in rows)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser("benchmarks.dpomdp_engine", __doc__)
    parser.add_argument("--horizons", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--batch", type=int, default=256, help="policies, and runs")
    parser.add_argument("--tau", type=float, default=1.0, help="gradient steps' tau")
    parser.add_argument("--lr", type=float, default=0.5, help="SGD step")
    parser.add_argument("--steps", type=int, default=20, help="JAX steps timed")
    parser.add_argument("--numpy-steps", type=int, default=2, help="NumPy steps timed")
    parser.add_argument(
        "--check-steps", type=int, default=3, help="steps before comparing logits"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--enumeration-limit", type=int, default=200_000)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--matmul", type=int, default=2048, help="matrix size")
    args = parser.parse_args(argv)
    parser.require_at_least(
        args,
        horizons=1,
        batch=1,
        tau=0,
        steps=1,
        numpy_steps=1,
        check_steps=1,
        repeats=1,
        enumeration_limit=0,
        rtol=0,
        matmul=1,
    )

    for line in machine_lines():
        print(line)
    print(
        f"cores this process may use: {len(os.sched_getaffinity(0))}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}"
    )
    matmul, _ = machine_rates(args.matmul, args.repeats)
    print(f"float32 matrix product {args.matmul}^2 (XLA): {matmul:.1f} GFLOP/s")
    rows = []
    for horizon in args.horizons:
        spec = games.make_spec("dectiger", horizon)
        game = games.compile_game(spec, engine="recursion")
        row = Row(horizon, game.policy_shapes[0][0], count_histories(spec))
        print(
            f"horizon {horizon}: {row.histories:.3g} terminal histories, {row.states} "
            "information states per agent",
            flush=True,
        )
        time_values(args, spec, game, row)
        time_steps(args, spec, game, row)
        rows.append(row)
    print_table(args, rows, matmul)
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    failed = [r.horizon for r in rows if max(r.value_diff.values()) > args.rtol] + [
        r.horizon for r in rows if r.logit_diff > 10 * args.rtol
    ]
    if failed:
        print(f"FAIL: numpy and jax differ beyond rtol {args.rtol}, horizons {failed}")
        return 1
    print(f"PASS: every path agrees with numpy within rtol {args.rtol}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
