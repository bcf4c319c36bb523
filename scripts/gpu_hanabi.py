"""Hanabi at the paper's scale on one GPU inside a time budget (issue 46).

    python scripts/gpu_hanabi.py --out DIR --minutes 8            # on a lent GPU
    python scripts/gpu_hanabi.py --out DIR --minutes 3 --tiny     # the CPU check

Runs from the repository root, every phase a subprocess of this Python with a
deadline, in this order:

1. `machine`: the device, JAX's version and backend (machine.txt);
2. `throughput`: `benchmarks.hanabi_throughput` (the game's env steps per second,
   ours beside JaxMARL's, at GPU batch sizes) and `benchmarks.ippo_throughput`
   (IPPO training env steps per second, ours beside JaxMARL's `ippo_ff_hanabi`
   when `--jaxmarl-repo` holds its work tree), steady state after compilation;
3. `train`: `experiments.ippo preset=hanabi_paper_full ippo.gae_lambda=0.9`
   (2-player Hanabi-Full, a GRU, 4 seeds x entropy coefficients 0.01 and 0.05),
   sized by measurement: a first invocation of two chunks (the first compiles),
   then `experiments.estimate --rate <the second chunk's rate> --minutes <what is
   left>` says how many updates fit, and `resume=true stop_after=<that>` trains
   them (the persistent compilation cache spares the second compilation). The
   run is the first updates of the preset's 10^10-step schedule, checkpointed
   every chunk;
4. `crossplay`: `experiments.crossplay` on the trained agents (sampled and
   argmax-greedy, `--games` per ordered pair, the color-permutation measures);
5. `pack`: `summary.json`, `summary.md` (the tables for docs/) and
   `learning_curve.png`, then `gpu_hanabi.tar.gz` of every summary (no
   checkpoint) into `--out`.

A phase that runs past its deadline is sent SIGINT (an entry point then saves
its last finished chunk and exits 130), then killed; a phase that fails is
recorded and the next runs. SIGINT or SIGTERM to this script stops the running
phase the same way and packs what finished. `--out` gets the tarball and
summary.md only; the run directories stay in `--work`.
"""

from __future__ import annotations

import json
import math
import pathlib
import signal
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from experiments.harness.arguments import ArgumentParser
from experiments.harness.deadlines import (
    Budget,
    Phases,
    phases_deadline,
    read_json,
    read_jsonl,
    write_tarball,
)
from experiments.harness.results import value_se
from experiments.reports.study_tables import markdown_grid, phases_table

ROOT = pathlib.Path(__file__).resolve().parent.parent

PAPER = "Forkel et al. (arXiv:2511.22581), v1: 2-player Hanabi-Full SP 24.48, XP 24.45"

TRAIN = ["preset=hanabi_paper_full", "ippo.gae_lambda=0.9", "keep_checkpoints=1"]
"""The paper's recipe at JaxMARL's RNN scale (conf/preset/hanabi_paper_full.yaml)
with the GAE lambda of the paper's v1 (0.9)."""

SIZES = {
    "full": {
        "chunk": 10,
        "train": [],
        "env_batches": ["4096", "16384", "65536"],
        "env_steps": "64",
        "ippo_batches": [1024, 8192],
        "ippo_updates": "2",
        "games": 1000,
        "symmetry_games": 500,
        "convention_games": 500,
        "permutations": 8,
    },
    "tiny": {
        "chunk": 2,
        "train": ["size=tiny", "ippo.total_timesteps=640"],  # conf/size/tiny.yaml
        "env_batches": ["4", "8"],
        "env_steps": "4",
        "ippo_batches": [4],
        "ippo_updates": "1",
        "games": 16,
        "symmetry_games": 8,
        "convention_games": 16,
        "permutations": 3,
    },
}
"""What each phase runs at full (GPU) and tiny (CPU check) size."""

SHARES = {"throughput": 0.2, "crossplay": 0.15, "pack": 0.03}
"""Parts of the budget: the throughput phase ends by its share; the crossplay
and pack shares are kept free of training; training gets the rest. (On the H200,
in a budget of 7.6 minutes: throughput 48 s, cross-play 29 s, packing 1 s.)"""


def machine(phases: Phases, budget: Budget) -> None:
    code = (
        "import jax, platform, sys; "
        "print('python', sys.version.split()[0], platform.machine()); "
        "print('jax', jax.__version__, 'backend', jax.default_backend()); "
        "print('devices', [d.device_kind for d in jax.devices()])"
    )
    phases.run("machine", ["-c", code], min(budget.end, time.time() + 120))


def throughput(
    phases: Phases, budget: Budget, sizes: dict[str, Any], args: Any
) -> None:
    deadline = budget.at(SHARES["throughput"])
    phases.run(
        "throughput_env",
        [
            "-m",
            "benchmarks.hanabi_throughput",
            "--preset",
            "Hanabi-Full",
            "--batch-sizes",
            *sizes["env_batches"],
            "--steps",
            sizes["env_steps"],
            "--repeats",
            "2",
            "--skip-hle",
            *(["--min-time", "0.05"] if args.tiny else []),
        ],
        # the env table first, then the IPPO tables share the rest
        phases_deadline(budget, deadline, 0.4),
    )
    peer = []
    if args.jaxmarl_repo:
        peer = ["--jaxmarl-repo", str(args.jaxmarl_repo)]
        if args.jaxmarl_deps:
            peer += ["--jaxmarl-deps", str(args.jaxmarl_deps)]
    else:
        peer = ["--skip-jaxmarl"]
    batches = sizes["ippo_batches"]
    for k, batch in enumerate(batches):
        left = len(batches) - k
        phases.run(
            f"throughput_ippo_{batch}",
            [
                "-m",
                "benchmarks.ippo_throughput",
                *peer,
                "--num-envs",
                str(batch),
                *(["--num-steps", "4"] if args.tiny else []),
                "--updates",
                sizes["ippo_updates"],
            ],
            time.time() + max(0.0, deadline - time.time()) / left,
        )


def train(
    phases: Phases, budget: Budget, sizes: dict[str, Any], run_dir: pathlib.Path
) -> dict[str, Any]:
    """The IPPO run, sized by its own first chunks; returns the plan."""
    chunk = sizes["chunk"]
    overrides = [
        *TRAIN,
        *sizes["train"],
        f"log_every={chunk}",
        f"checkpoint_every={chunk}",
    ]
    deadline = budget.end - (SHARES["crossplay"] + SHARES["pack"]) * budget.seconds
    entry = ["-m", "experiments.ippo", *overrides, f"hydra.run.dir={run_dir}"]
    first = phases.run("train_first", [*entry, f"stop_after={2 * chunk}"], deadline)
    plan: dict[str, Any] = {"overrides": overrides, "first": first["status"]}
    records = read_jsonl(run_dir / "metrics.jsonl")
    if first["status"] == "ok" and read_json(run_dir / "results.json"):
        plan["complete"] = True  # the whole (tiny) run fit in two chunks
        return plan
    if first["status"] != "ok" or len(records) < 2:
        plan["complete"] = False
        return plan
    rate = records[-1]["steps_per_second"]
    # Start-up, loading and checkpoints: the first invocation's time outside its
    # chunks, less its compilation (the first chunk's excess over the second).
    compile_s = max(0.0, records[0]["seconds"] - records[-1]["seconds"])
    outside = first["seconds"] - sum(r["seconds"] for r in records) - compile_s
    plan.update(
        steady_steps_per_second=rate,
        first_chunk_seconds=records[0]["seconds"],
        chunk_seconds=records[-1]["seconds"],
        startup_seconds=round(max(outside, 0.0), 1),
    )
    # Minutes of training left after the next start-up (and a twentieth spare).
    minutes = (deadline - time.time() - 1.5 * max(outside, 5.0)) / 60 * 0.95
    done = records[-1]["update"]
    if minutes <= 0:
        plan.update(complete=False, stop_after=done)
        return plan
    estimate_json = phases.work / "estimate.json"
    phases.run(
        "estimate",
        [
            "-m",
            "experiments.estimate",
            *overrides,
            "--rate",
            str(rate),
            "--minutes",
            f"{minutes:.3f}",
            "--json",
            str(estimate_json),
        ],
        min(deadline, time.time() + 120),
    )
    estimate = read_json(estimate_json)
    if estimate is not None:
        fit = estimate["jobs"][0]["updates_within"]
        total = estimate["shapes"][0]["num_updates"]
    else:  # the same arithmetic, if the estimate failed
        runs = len(records[-1]["ent_coefs"]) * len(records[-1]["return"][0])
        per_update = records[-1]["env_steps"] / records[-1]["update"] * runs
        fit = int(minutes * 60 * rate // per_update)
        total = math.inf
    stop = done + (fit // chunk) * chunk
    plan.update(minutes_left=round(minutes, 2), updates_that_fit=fit)
    if stop <= done:
        plan.update(complete=False, stop_after=done)
        return plan
    argv = [*entry, "resume=true"]
    if stop < total:
        argv.append(f"stop_after={stop}")
    plan["stop_after"] = min(stop, total)
    phases.run("train", argv, deadline)
    plan["complete"] = read_json(run_dir / "results.json") is not None
    return plan


def crossplay(
    phases: Phases, budget: Budget, sizes: dict[str, Any], run_dir: pathlib.Path
) -> None:
    if not (run_dir / "checkpoints").is_dir():
        phases.records.append({"phase": "crossplay", "status": "skipped: no agents"})
        return
    phases.run(
        "crossplay",
        [
            "-m",
            "experiments.crossplay",
            str(run_dir),
            "--games",
            str(sizes["games"]),
            "--symmetry-games",
            str(sizes["symmetry_games"]),
            "--convention-games",
            str(sizes["convention_games"]),
            "--permutations",
            str(sizes["permutations"]),
            "--out",
            str(phases.work / "crossplay"),
            "--force",
        ],
        budget.end - SHARES["pack"] * budget.seconds,
    )


def learning_curve(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per entropy coefficient: env steps per run and the mean (min, max) return
    and entropy over seeds, per chunk."""
    if not records:
        return {}
    coefs = records[0]["ent_coefs"]
    curve: dict[str, Any] = {"env_steps": [r["env_steps"] for r in records]}
    for e, coef in enumerate(coefs):
        rows = []
        for r in records:
            known = [v for v in r["return"][e] if v is not None]
            rows.append(
                {
                    "return_mean": sum(known) / len(known) if known else None,
                    "return_min": min(known) if known else None,
                    "return_max": max(known) if known else None,
                    "entropy": sum(r["entropy"][e]) / len(r["entropy"][e]),
                }
            )
        curve[str(coef)] = rows
    return curve


def plot_curve(curve: dict[str, Any], path: pathlib.Path) -> bool:
    try:
        from matplotlib.figure import Figure  # off pyplot: no backend to choose
    except ImportError:
        return False
    if not curve:
        return False
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    steps = [s / 1e6 for s in curve["env_steps"]]
    for coef, rows in ((k, v) for k, v in curve.items() if k != "env_steps"):
        mean = [r["return_mean"] for r in rows]
        low = [r["return_min"] for r in rows]
        high = [r["return_max"] for r in rows]
        line = axes[0].plot(steps, mean, label=f"entropy {coef}")[0]
        axes[0].fill_between(steps, low, high, alpha=0.2, color=line.get_color())
        axes[1].plot(steps, [r["entropy"] for r in rows], label=f"entropy {coef}")
    axes[0].set(xlabel="env steps per run (millions)", ylabel="return (of 25)")
    axes[1].set(xlabel="env steps per run (millions)", ylabel="policy entropy (nats)")
    axes[0].legend()
    axes[0].set_title("2-player Hanabi-Full, IPPO (GRU)")
    fig.savefig(path, dpi=120)
    return True


def crossplay_rows(results: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per group: SP and XP, sampled and greedy, and the permuted-copy drop."""
    if not results:
        return []
    rows = []
    for p in results["points"]:
        row = {
            k: p.get(k)
            for k in (
                "ent_coef",
                "num_seeds",
                "sp",
                "sp_se",
                "xp",
                "xp_se",
                "sp_greedy",
                "sp_greedy_se",
                "xp_greedy",
                "xp_greedy_se",
                "equivariance_error",
                "permuted_self_play",
                "permuted_xp",
                "permuted_copy_drop_se",
                "argmax_disagreement",
                "num_conventions",
            )
        }
        if row["permuted_self_play"] is not None and row["permuted_xp"] is not None:
            row["permuted_copy_drop"] = row["permuted_self_play"] - row["permuted_xp"]
        rows.append(row)
    return rows


def markdown(summary: dict[str, Any], logs: dict[str, str]) -> str:
    """summary.md: the machine, the throughput tables as the benchmarks printed
    them, the training and cross-play tables, the phases."""
    out = [f"# Hanabi-Full on one GPU: {summary['started']}", ""]
    out += ["```", logs.get("machine", "").strip(), "```", ""]
    for name, text in logs.items():
        if name.startswith("throughput"):
            tables = [
                line
                for line in text.splitlines()
                if line.startswith("|") or "steps per" in line or "devices" in line
            ]
            out += [f"## {name}", "", *tables, ""]
    plan = summary["train"]
    out += ["## Training", "", f"Overrides: `{' '.join(plan.get('overrides', []))}`"]
    out += [f"Plan: {json.dumps({k: v for k, v in plan.items() if k != 'overrides'})}"]
    final = summary["final"]
    header = [
        "entropy",
        "updates",
        "env steps per run",
        "return, mean (min, max)",
        "entropy (nats)",
    ]
    trained = [
        [
            str(coef),
            f"{final['update']:,}",
            f"{final['env_steps']:,}",
            f"{value_se(row['return_mean'])} ({value_se(row['return_min'])}, "
            f"{value_se(row['return_max'])})",
            value_se(row["entropy"]),
        ]
        for coef, row in final.get("per_coef", {}).items()
    ]
    out += ["", markdown_grid(header, trained, "rrr-r")]
    out += ["", f"Paper: {PAPER}.", "", "## Cross-play", ""]
    header = ["entropy", "seeds", "SP", "XP", "SP greedy", "XP greedy"]
    header += ["equivariance error", "permuted-copy drop"]
    played = [
        [
            str(r["ent_coef"]),
            str(r["num_seeds"]),
            value_se(r["sp"], r["sp_se"]),
            value_se(r["xp"], r["xp_se"]),
            value_se(r["sp_greedy"], r["sp_greedy_se"]),
            value_se(r["xp_greedy"], r["xp_greedy_se"]),
            value_se(r.get("equivariance_error")),
            value_se(r.get("permuted_copy_drop")),
        ]
        for r in summary["crossplay"]
    ]
    out += [markdown_grid(header, played, "rr----rr")]
    out += ["", "## Phases", "", phases_table(summary["phases"])]
    return "\n".join(out) + "\n"


def pack(
    phases: Phases,
    budget: Budget,
    plan: dict[str, Any],
    run_dir: pathlib.Path,
    out: pathlib.Path,
    args: Any,
) -> pathlib.Path:
    """summary.json, summary.md, learning_curve.png and the tarball."""
    work = phases.work
    records = read_jsonl(run_dir / "metrics.jsonl")
    curve = learning_curve(records)
    final: dict[str, Any] = {}
    if records:
        final = {
            "update": records[-1]["update"],
            "env_steps": records[-1]["env_steps"],
            "per_coef": {k: v[-1] for k, v in curve.items() if k != "env_steps"},
        }
    cross = read_json(work / "crossplay" / "results.json")
    logs = {
        p["phase"]: (work / p["log"]).read_text(errors="replace")
        for p in phases.records
        if "log" in p and (work / p["log"]).is_file()
    }
    summary = {
        "kind": "gpu_hanabi",
        "size": "tiny" if args.tiny else "full",
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(budget.start)),
        "budget_seconds": budget.seconds,
        "seconds": round(time.time() - budget.start, 1),
        "paper": PAPER,
        "phases": phases.records,
        "train": plan,
        "final": final,
        "learning_curve": curve,
        "crossplay": crossplay_rows(cross),
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (work / "summary.md").write_text(markdown(summary, logs))
    plot_curve(curve, work / "learning_curve.png")
    members = [
        work / name
        for name in (
            "summary.json",
            "summary.md",
            "learning_curve.png",
            "estimate.json",
        )
    ]
    members += [work / p["log"] for p in phases.records if "log" in p]
    members += [
        run_dir / name for name in ("metrics.jsonl", "config.yaml", "results.json")
    ]
    members += [work / "crossplay" / name for name in ("results.json", "crossplay.png")]
    return write_tarball(work, members, out, "gpu_hanabi")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        "scripts.gpu_hanabi", __doc__, prog="python scripts/gpu_hanabi.py"
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        required=True,
        help="where the tarball and summary.md go",
    )
    parser.add_argument(
        "--minutes", type=float, default=8.0, help="the whole budget, packing included"
    )
    parser.add_argument(
        "--work",
        type=pathlib.Path,
        help="run directories and logs (default: a new temporary one)",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="tiny sizes, for the CPU check of every phase",
    )
    parser.add_argument(
        "--jaxmarl-repo",
        type=pathlib.Path,
        help="a JaxMARL work tree (baselines/IPPO) for the peer column",
    )
    parser.add_argument(
        "--jaxmarl-deps",
        type=pathlib.Path,
        help="a folder with distrax, for JaxMARL's baseline",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["throughput", "train", "crossplay"],
        help="phases to leave out",
    )
    args = parser.parse_args(argv)
    parser.require_above(args, minutes=0)
    budget = Budget(args.minutes * 60)
    work = args.work or pathlib.Path(tempfile.mkdtemp(prefix="gpu_hanabi_"))
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    sizes = SIZES["tiny" if args.tiny else "full"]
    phases = Phases(work, "gpu_hanabi")
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, phases.stop)
    run_dir = work / "train"
    plan: dict[str, Any] = {}
    machine(phases, budget)
    if "throughput" not in args.skip:
        throughput(phases, budget, sizes, args)
    if "train" not in args.skip:
        plan = train(phases, budget, sizes, run_dir)
    if "crossplay" not in args.skip:
        crossplay(phases, budget, sizes, run_dir)
    tarball = pack(phases, budget, plan, run_dir, args.out, args)
    print(
        f"[gpu_hanabi] wrote {tarball} and {args.out / 'summary.md'} "
        f"({time.time() - budget.start:.0f} s of {budget.seconds:.0f})",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
