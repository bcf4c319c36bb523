"""The Hanabi-with-color-symmetry grid of issue 41 on one GPU inside a time budget.

    bash scripts/gpu_grid.sh OUT [MINUTES]                  # on a lent GPU
    python scripts/gpu_grid.py --out DIR --minutes 8 [--plan more]
    python scripts/gpu_grid.py --out DIR --minutes 6 --tiny     # the CPU check

The plans (what each trains and cross-plays, at full and tiny size) are in
experiments/deep/grid_plans.py. Two lanes of subprocesses
(experiments.harness.deadlines' `Phases`: a deadline each, SIGINT then
SIGKILL, so a run stopped at its deadline keeps its last chunk), side by side
on the one device:

- training, one run after another (`experiments.ippo`). `--plan grid`:
  `grid`    hanabi_3c3r_cpu, 8 seeds x entropy 0.01, 0.03, 0.1, 0.3, the learning
            rate annealed over 4,800 updates (39.3M env steps per run, 4x the
            preset's budget), milestone checkpoints every 300 updates;
  `switch`  the switch control: the grid's 0.1 seeds go on at 0.01 and its 0.01
            seeds at 0.1 from update 1,200 (9.8M steps) to 2,400, on the grid's
            own schedule (`init_from`, `init_coefs`);
  `small`   hanabi_small_cpu (Hanabi-Small, one life), 8 seeds x 0.01 and 0.1;
  `three`   hanabi_3c3r_cpu with 3 players, 8 seeds x 0.01 and 0.1.
  `--plan more`: `small_long` and `three_long`, those two on the grid's budget
  and milestones, and `grid_seed1`, the grid from root seed 1;
  `--plan screen`: issue 57's screen (`SCREEN`: 3 to 5 colors, 2 to 5 ranks,
  smaller hands, more hint tokens, one life, 3 players), 8 seeds at 0.01 for
  2.5M env steps each; runs and evaluations done under the same `--work` are
  not redone, so the screen also runs on CPU over several sessions:
  `python scripts/gpu_grid.py --plan screen --minutes 600 --work DIR --out DIR`
  (`--only screen_3c3r_3p`: one size; `--only` takes any plan's run names);
  `--plan prereg`: issue 57's pre-registered runs (hanabi_3c3r_cpu at 0.01 and
  0.1 from root seeds 0, 1, 2; docs/studies/hanabi_3c3r_preregistered.md) and
  their one cross-play at update 1,200; a run copied complete into --work as
  `prereg_R` is not trained again;
  `--plan symmetry_grid`: issue 57's grid on the screen's `CHOSEN` size (16
  seeds x entropy 0.01, 0.03, 0.1, 0.3, and Other-Play at 0.01, cross-played
  at updates 100, 300, 600 and 1,200), resumable like the screen;
  `--plan symmetry_grid_cpu`: the same runs, each milestone cross-played at
  64 games per pair and 500 per permutation (update 100's took 5.3 minutes
  on 2 cores beside the training; later milestones' games are longer);
- cross-play (`experiments.crossplay`), each as soon as its agents exist (and
  skipped once the run that was to make them has ended without them): the grid
  at every milestone, the switch runs beside the grid at update 2,400, the last
  agents of `small` and `three` (`more`: each run at updates 1,200, 2,400 and
  4,800). Games per pair sized by the standard error (the default target, at
  most 4,000), every color permutation, the convention matrices.

Then `summary.json` and `summary.md` (per run and milestone: env steps, policy
entropy, SP, XP and their gap, sampled and greedy, the permuted-copy drop and
the number of conventions) and `gpu_grid.tar.gz` of the summaries: metrics,
configs and cross-play results, no checkpoint. The runs of 2026-11-26 are in
docs/results/hanabi_3c3r_gpu/ and hanabi_3c3r_gpu_more/ (docs/ippo.md,
"Conventions at matched stages").
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import sys
import tempfile
import threading
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from experiments.deep.grid_plans import PLANS, SIZES
from experiments.harness.arguments import ArgumentParser
from experiments.harness.deadlines import (
    Budget,
    Phases,
    read_json,
    read_jsonl,
    write_tarball,
)
from experiments.harness.results import value_se
from experiments.reports.study_tables import markdown_grid, phases_table

PACK_SECONDS = 15.0
# How often the cross-play lane looks for the checkpoints it waits on.
POLL_SECONDS = 2.0


def has_step(run_dir: pathlib.Path, step: int | None) -> bool:
    """Whether every seed of the run has a checkpoint of `step` (None: the
    run's results.json, written when it completes)."""
    if step is None:
        return (run_dir / "results.json").is_file()
    seeds = sorted((run_dir / "checkpoints").glob("*"))
    name = f"step_{step:09d}.npz"
    return bool(seeds) and all((s / name).is_file() for s in seeds)


def train_lane(
    phases: Phases, budget: Budget, plan: dict[str, Any], done: threading.Event
) -> None:
    try:
        for run in plan["runs"]:
            run_dir = phases.work / run["name"]
            needs = run.get("needs")
            if needs and not has_step(phases.work / needs[0], needs[1]):
                phases.records.append(
                    {"phase": run["name"], "status": f"skipped: no {needs}"}
                )
                continue
            if "resume=auto" in run["argv"] and has_step(run_dir, None):
                phases.records.append({"phase": run["name"], "status": "done before"})
                continue
            argv = ["-m", "experiments.ippo", *run["argv"], f"hydra.run.dir={run_dir}"]
            phases.run(run["name"], argv, budget.at(run["by"]))
    finally:
        done.set()


def crossplay_lane(
    phases: Phases,
    budget: Budget,
    sizes: dict[str, Any],
    plan: dict[str, Any],
    trained: list[dict[str, Any]],
    training_done: threading.Event,
) -> None:
    """Cross-play of each evaluation's agents once they exist; `trained`, the
    training lane's records, says which runs have ended."""
    end = budget.end - PACK_SECONDS
    for ev in plan["evaluations"]:
        dirs = [phases.work / r for r in ev["runs"]]
        while not all(has_step(d, ev["step"]) for d in dirs):
            # a run that ended without these agents (stopped at its deadline)
            # will not make them: go on to the next evaluation
            ended = {r["phase"] for r in trained if "status" in r}
            gone = any(
                r in ended and not has_step(d, ev["step"])
                for r, d in zip(ev["runs"], dirs, strict=True)
            )
            if gone or training_done.is_set() or phases.stopping or time.time() > end:
                break
            time.sleep(POLL_SECONDS)
        if not all(has_step(d, ev["step"]) for d in dirs):
            phases.records.append({"phase": f"xp_{ev['name']}", "status": "skipped"})
            continue
        out = phases.work / "crossplay" / ev["name"]
        if ev.get("keep") and (out / "results.json").is_file():
            done_before = {"phase": f"xp_{ev['name']}", "status": "done before"}
            phases.records.append(done_before)
            continue
        step = [] if ev["step"] is None else ["--step", str(ev["step"])]
        argv = [
            "-m",
            "experiments.crossplay",
            *map(str, dirs),
            *step,
            *ev.get("crossplay", sizes["crossplay"]),
            "--permutations",
            "6",
            "--convention-games",
            sizes["conventions"],
            "--out",
            str(out),
            "--force",
        ]
        phases.run(f"xp_{ev['name']}", argv, end)


def metrics_at(records: list[dict[str, Any]], update: int | None) -> dict[str, Any]:
    """The metrics line of `update` (None: the last)."""
    if not records:
        return {}
    if update is None:
        return records[-1]
    return next((r for r in records if r["update"] == update), {})


def _mean(values: list[Any]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def rows_of(work: pathlib.Path, ev: dict[str, Any]) -> list[dict[str, Any]]:
    """Per group of one evaluation: what the table shows."""
    results = read_json(work / "crossplay" / ev["name"] / "results.json")
    if not results:
        return []
    rows = []
    for point in results["points"]:
        # the training run of the group's agents (its directory's name)
        run_name = pathlib.Path(results["agents"][point["agents"][0]]["run"]).name
        row = {
            "evaluation": ev["name"],
            "group": point["group"],
            "run": run_name,
            **{
                k: point.get(k)
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
                    "permuted_copy_drop",
                    "permuted_copy_drop_se",
                    "num_conventions",
                )
            },
        }
        rows.append(row)
    return rows


def summarize(
    work: pathlib.Path, plan: dict[str, Any], phases: list[Any]
) -> dict[str, Any]:
    runs = {}
    for run in plan["runs"]:
        records = read_jsonl(work / run["name"] / "metrics.jsonl")
        runs[run["name"]] = {
            "updates": records[-1]["update"] if records else 0,
            "env_steps": records[-1]["env_steps"] if records else 0,
            "steps_per_second": records[-1]["steps_per_second"] if records else None,
        }
    table = []
    for ev in plan["evaluations"]:
        for row in rows_of(work, ev):
            records = read_jsonl(work / row["run"] / "metrics.jsonl")
            line = metrics_at(records, ev["step"])
            if line and row["ent_coef"] in line.get("ent_coefs", []):
                e = line["ent_coefs"].index(row["ent_coef"])
                row["env_steps"] = line["env_steps"]
                row["entropy"] = _mean(line["entropy"][e])
                row["return"] = _mean(line["return"][e])
            table.append(row)
    return {"kind": "gpu_grid", "runs": runs, "table": table, "phases": phases}


def markdown(summary: dict[str, Any]) -> str:
    plan = summary.get("plan", "grid")
    out = [f"# scripts/gpu_grid.py --plan {plan}: {summary['started']}", ""]
    out += ["```", summary.get("machine", "").strip(), "```", ""]
    runs = [
        [
            name,
            f"{run['updates']:,}",
            f"{run['env_steps']:,}",
            "-"
            if run["steps_per_second"] is None
            else f"{run['steps_per_second']:,.0f}",
        ]
        for name, run in summary["runs"].items()
    ]
    header = ["run", "updates", "env steps per run", "env steps/s (all runs)"]
    out += [markdown_grid(header, runs, "-rrr"), ""]
    rows = []
    for r in summary["table"]:
        gap = (
            None
            if r["sp_greedy"] is None or r["xp_greedy"] is None
            else r["sp_greedy"] - r["xp_greedy"]
        )
        conventions = r["num_conventions"]
        rows.append(
            [
                str(r["evaluation"]),
                str(r["group"]),
                str(r["ent_coef"]),
                f"{r.get('env_steps', '-'):,}",
                value_se(r.get("entropy")),
                value_se(r["sp_greedy"], r["sp_greedy_se"]),
                value_se(r["xp_greedy"], r["xp_greedy_se"]),
                value_se(gap),
                value_se(r["sp"], r["sp_se"]),
                value_se(r["xp"], r["xp_se"]),
                value_se(r["permuted_copy_drop"], r["permuted_copy_drop_se"]),
                "-" if conventions is None else str(conventions),
            ]
        )
    header = [
        "evaluation",
        "group",
        "entropy coef",
        "env steps",
        "policy entropy",
        "SP greedy",
        "XP greedy",
        "gap",
        "SP",
        "XP",
        "permuted-copy drop",
        "conventions",
    ]
    out += [markdown_grid(header, rows, "--rrr--r---r")]
    out += ["", phases_table(summary["phases"])]
    return "\n".join(out) + "\n"


def pack(
    work: pathlib.Path, out: pathlib.Path, summary: dict[str, Any]
) -> pathlib.Path:
    (work / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (work / "summary.md").write_text(markdown(summary))
    members = [work / "summary.json", work / "summary.md"]
    members += sorted(work.glob("*.log"))
    for name in summary["runs"]:
        members += [
            work / name / f for f in ("metrics.jsonl", "config.yaml", "results.json")
        ]
    for ev in sorted((work / "crossplay").glob("*")):
        members += [ev / "results.json", ev / "crossplay.png"]
    return write_tarball(work, members, out, "gpu_grid")


def only(
    plan: dict[str, Any], names: list[str], parser: argparse.ArgumentParser
) -> dict[str, Any]:
    """The plan cut to the runs `names` and the evaluations of those alone."""
    known = [run["name"] for run in plan["runs"]]
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(
            f"--only: {', '.join(unknown)} not in this plan ({', '.join(known)})"
        )
    return {
        "runs": [run for run in plan["runs"] if run["name"] in names],
        "evaluations": [
            ev for ev in plan["evaluations"] if set(ev["runs"]) <= set(names)
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        "scripts.gpu_grid", __doc__, prog="python scripts/gpu_grid.py"
    )
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--work", type=pathlib.Path)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument(
        "--plan",
        choices=sorted(PLANS),
        default="grid",
        help="grid: the grid, the switch control, Hanabi-Small and 3 players; "
        "more: Hanabi-Small and 3 players as long as the grid, the grid again "
        "from other root seeds; screen: issue 57's sizes at entropy 0.01; "
        "prereg: issue 57's pre-registered runs and their cross-play; "
        "symmetry_grid: issue 57's grid on the screen's chosen size; "
        "symmetry_grid_cpu: the same with cross-plays a CPU can afford",
    )
    parser.add_argument(
        "--only",
        metavar="NAME,...",
        help="only these of the plan's runs and the evaluations of no other "
        "run (for example screen_3c3r_3p: one size of the screen)",
    )
    args = parser.parse_args(argv)
    parser.require_above(args, minutes=0)
    budget = Budget(args.minutes * 60)
    work = (args.work or pathlib.Path(tempfile.mkdtemp(prefix="gpu_grid_"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    sizes = SIZES["tiny" if args.tiny else "full"]
    plan = PLANS[args.plan](sizes, work)
    if args.only:
        plan = only(plan, args.only.split(","), parser)
    # Two processes share the device: neither takes most of its memory up front.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    trainer, evaluator = Phases(work, "gpu_grid"), Phases(work, "gpu_grid")

    def stop(signum: int, frame: Any) -> None:
        trainer.stop(signum, frame)
        evaluator.stop(signum, frame)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    code = (
        "import jax, sys; print('python', sys.version.split()[0]); "
        "print('jax', jax.__version__, jax.default_backend(), "
        "[d.device_kind for d in jax.devices()])"
    )
    trainer.run("machine", ["-c", code], time.time() + 120)
    done = threading.Event()
    lane = threading.Thread(target=train_lane, args=(trainer, budget, plan, done))
    lane.start()
    crossplay_lane(evaluator, budget, sizes, plan, trainer.records, done)
    lane.join()
    summary = summarize(work, plan, trainer.records + evaluator.records)
    summary["plan"] = args.plan
    summary["started"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(budget.start))
    summary["seconds"] = round(time.time() - budget.start, 1)
    summary["size"] = "tiny" if args.tiny else "full"
    summary["machine"] = (work / "machine.log").read_text(errors="replace")
    tarball = pack(work, args.out, summary)
    print(f"[gpu_grid] wrote {tarball} ({summary['seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
