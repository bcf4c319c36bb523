"""The studies scripts/gpu_grid.py runs, as plans: which IPPO runs it trains
(hydra overrides, one after another, each with the share of the budget by
which it must end) and which cross-plays it makes of their agents (at which
update, with which options). Each plan at two sizes: "full" (a GPU, or CPU
over sessions) and "tiny" (the CPU check of the tests).
"""

from __future__ import annotations

import pathlib
from typing import Any

SIZES = {
    "full": {
        "grid": [
            "preset=hanabi_3c3r_cpu",
            "ent_coefs=[0.01,0.03,0.1,0.3]",
            "ippo.total_timesteps=39321600",
            "keep_every=300",
        ],
        "small": ["preset=hanabi_small_cpu", "ent_coefs=[0.01,0.1]"],
        "three": [
            "preset=hanabi_3c3r_cpu",
            "env.num_players=3",
            "ent_coefs=[0.01,0.1]",
            "name=hanabi_3c3r_3p",
        ],
        "tiny": [],
        "milestones": [300, 600, 1200, 2400, 3600, 4800],
        "long_milestones": [1200, 2400, 4800],
        "switch": (1200, 2400),
        "crossplay": ["--max-games", "4000", "--symmetry-games", "1000"],
        "conventions": "1000",
        "screen": ["ippo.total_timesteps=2490368", "seeds=8"],
        "prereg_step": 1200,
        "prereg_crossplay": ["--games", "2000"],
        "symmetry_grid": ["seeds=16", "keep_every=100"],
        "symmetry_milestones": [100, 300, 600, 1200],
        "symmetry_crossplay": ["--max-games", "2000", "--symmetry-games", "1000"],
        # on CPU: the registered test's inputs (each agent's permuted-copy
        # scores, each group's greedy SP), the 64 x 64 cross-play at 64 games
        # per pair (update 100's: 5.3 minutes on 2 cores beside the training)
        "symmetry_crossplay_cpu": ["--games", "64", "--symmetry-games", "500"],
    },
    "tiny": {
        "grid": [
            "preset=hanabi_3c3r_cpu",
            "ent_coefs=[0.01,0.03,0.1,0.3]",
            "ippo.total_timesteps=768",
            "keep_every=2",
        ],
        "small": ["preset=hanabi_small_cpu", "ent_coefs=[0.01,0.1]"],
        "three": [
            "preset=hanabi_3c3r_cpu",
            "env.num_players=3",
            "ent_coefs=[0.01,0.1]",
            "name=hanabi_3c3r_3p",
            "ippo.total_timesteps=256",
        ],
        "tiny": ["size=tiny"],  # conf/size/tiny.yaml
        "small_tiny": ["ippo.total_timesteps=256"],
        "milestones": [2, 4, 12],
        "long_milestones": [4, 12],
        "switch": (4, 8),
        "crossplay": ["--games", "16", "--symmetry-games", "8"],
        "conventions": "8",
        "screen": ["ippo.total_timesteps=256"],
        "prereg": ["ippo.total_timesteps=256"],
        "prereg_step": None,
        "prereg_crossplay": ["--games", "16"],
        "symmetry_grid": ["ippo.total_timesteps=768", "keep_every=2"],
        "symmetry_milestones": [2, 6, 12],
        "symmetry_crossplay": ["--games", "16", "--symmetry-games", "8"],
        "symmetry_crossplay_cpu": ["--games", "8", "--symmetry-games", "8"],
    },
}
"""What each run and evaluation is at full (GPU) and tiny (CPU check) size."""

SCREEN = {
    "3c3r": [],
    "3c2r": ["env.ranks=2"],
    "3c4r": ["env.ranks=4"],
    "3c5r": ["env.ranks=5"],
    "4c2r": ["env.colors=4", "env.ranks=2"],
    "4c3r": ["env.colors=4"],
    "5c2r": ["env.colors=5", "env.ranks=2"],
    "5c3r": ["env.colors=5"],
    "3c3r_h2": ["env.hand_size=2"],
    "3c3r_8hints": ["env.hints=8"],
    "3c3r_1life": ["env.lives=1"],
    "3c3r_3p": ["env.num_players=3"],
}
"""Issue 57's screen for a Hanabi where low entropy breaks the color symmetry:
each a change of hanabi_3c3r_cpu (HLE's rules; 2 players, hands of 3, 5 hint
tokens, 3 lives unless named), in the order run."""


def grid_plan(sizes: dict[str, Any], work: pathlib.Path) -> dict[str, Any]:
    """The first plan: the grid, the switch control, Hanabi-Small and 3 players.
    Each training run has the share of the budget by which it must end; the
    cross-play of the last agents gets what is left before packing."""
    tiny = sizes["tiny"]
    start, stop = sizes["switch"]
    runs = [
        {"name": "grid", "argv": [*sizes["grid"], *tiny], "by": 0.5},
        {
            "name": "switch",
            "argv": [
                *sizes["grid"],
                *tiny,
                "ent_coefs=[0.01,0.1]",
                "init_coefs=[0.1,0.01]",
                f"init_from={work / 'grid'}@{start}",
                f"stop_after={stop}",
                "name=hanabi_3c3r_switch",
            ],
            "needs": ("grid", start),
            "by": 0.62,
        },
        {
            "name": "small",
            "argv": [*sizes["small"], *tiny, *sizes.get("small_tiny", [])],
            "by": 0.74,
        },
        {"name": "three", "argv": [*sizes["three"], *tiny], "by": 0.86},
    ]
    evaluations = [
        {"name": f"grid_{m}", "runs": ["grid"], "step": m} for m in sizes["milestones"]
    ]
    # the switch beside the grid, at the update where the switch runs stop
    evaluations.insert(
        sum(m <= stop for m in sizes["milestones"]),
        {"name": f"switch_{stop}", "runs": ["grid", "switch"], "step": stop},
    )
    evaluations += [
        {"name": "small", "runs": ["small"], "step": None},
        {"name": "three", "runs": ["three"], "step": None},
    ]
    return {"runs": runs, "evaluations": evaluations}


def more_plan(sizes: dict[str, Any], work: pathlib.Path) -> dict[str, Any]:
    """The second plan: Hanabi-Small and 3 players trained as long as the grid
    (milestones cross-played), and the grid again from other root seeds."""
    tiny = sizes["tiny"]
    long = [sizes["grid"][2], sizes["grid"][3]]  # the grid's budget and milestones
    runs = [
        {
            "name": "small_long",
            "argv": [*sizes["small"], *tiny, *long, "name=hanabi_small_long"],
            "by": 0.22,
        },
        {
            "name": "three_long",
            "argv": [*sizes["three"], *tiny, *long, "name=hanabi_3c3r_3p_long"],
            "by": 0.45,
        },
        {
            "name": "grid_seed1",
            "argv": [*sizes["grid"], *tiny, "ippo.seed=1", "name=hanabi_3c3r_seed1"],
            "by": 0.88,
        },
    ]
    evaluations = [
        {"name": f"{run['name']}_{m}", "runs": [run["name"]], "step": m}
        for run in runs
        for m in sizes["long_milestones"]
    ]
    return {"runs": runs, "evaluations": evaluations}


def screen_plan(sizes: dict[str, Any], work: pathlib.Path) -> dict[str, Any]:
    """Issue 57's screen: every size of `SCREEN`, 8 seeds at entropy 0.01 for
    about 2.5M env steps each (304 updates of 8,192), then its cross-play with
    the color permutations (the permuted-copy drop). Runs resume (`resume=auto`)
    so that the screen goes on where a stopped one left it (CPU, across
    sessions: rerun with the same --work)."""
    tiny = sizes["tiny"]
    names = list(SCREEN)
    runs = [
        {
            "name": f"screen_{name}",
            "argv": [
                "preset=hanabi_3c3r_cpu",
                *SCREEN[name],
                "ent_coefs=[0.01]",
                *sizes["screen"],
                *tiny,
                "resume=auto",
                f"name=screen_{name}",
            ],
            "by": 0.9 * (k + 1) / len(names),
        }
        for k, name in enumerate(names)
    ]
    evaluations = [
        {
            "name": f"screen_{name}",
            "runs": [f"screen_{name}"],
            "step": None,
            "keep": True,  # evaluated in an earlier session: not again
        }
        for name in names
    ]
    return {"runs": runs, "evaluations": evaluations}


def prereg_plan(sizes: dict[str, Any], work: pathlib.Path) -> dict[str, Any]:
    """Issue 57's pre-registered runs (docs/studies/hanabi_3c3r_preregistered.md):
    the preset at entropy 0.01 and 0.1 from root seeds 0, 1 and 2, then the one
    cross-play of their 48 agents at update 1,200. A run already complete in
    --work is not trained again: copy one trained elsewhere to
    `<work>/prereg_R` (its config, metrics, results.json and the checkpoints of
    update 1,200) and only the others train."""
    runs = [
        {
            "name": f"prereg_{root}",
            "argv": [
                "preset=hanabi_3c3r_cpu",
                "ent_coefs=[0.01,0.1]",
                f"ippo.seed={root}",
                *sizes.get("prereg", []),
                *sizes["tiny"],
                "resume=auto",
            ],
            "by": 0.3 * (root + 1),
        }
        for root in range(3)
    ]
    evaluations = [
        {
            "name": "prereg",
            "runs": [run["name"] for run in runs],
            "step": sizes["prereg_step"],
            "crossplay": sizes["prereg_crossplay"],
        }
    ]
    return {"runs": runs, "evaluations": evaluations}


CHOSEN = "3c3r_1life"
"""The `SCREEN` size of issue 57 item 2's grid: of the sizes that meet the
screen's criterion, the one whose 0.01 seeds lost the largest share of their SP
with their color-permuted copies (docs/studies/hanabi_screen.md)."""


def symmetry_grid_cpu_plan(sizes: dict[str, Any], work: pathlib.Path) -> dict[str, Any]:
    """`symmetry_grid_plan` with cross-plays a CPU can afford
    (`symmetry_crossplay_cpu`: a fixed 64 games per pair and 500 per
    permutation, in place of up to 2,000 and 1,000); the same runs, so either
    plan resumes the other's training under one --work."""
    plan = symmetry_grid_plan(sizes, work)
    for ev in plan["evaluations"]:
        ev["crossplay"] = sizes["symmetry_crossplay_cpu"]
        ev["name"] += "_cpu"
    return plan


def symmetry_grid_plan(sizes: dict[str, Any], work: pathlib.Path) -> dict[str, Any]:
    """Issue 57 item 2 on the screen's `CHOSEN` size: 16 seeds x entropy 0.01,
    0.03, 0.1 and 0.3 on the preset's budget (9.8M env steps, 1,200 updates),
    then 16 seeds of Other-Play at 0.01, each cross-played at milestones
    (permuted copies, conventions). Runs resume (`resume=auto`), so on CPU
    (about 6 h on two cores) it goes on over sessions under one --work."""
    tiny = sizes["tiny"]
    base = [
        "preset=hanabi_3c3r_cpu",
        *SCREEN[CHOSEN],
        *sizes["symmetry_grid"],
        *tiny,
        "resume=auto",
    ]
    runs = [
        {
            "name": "sym16",
            "argv": [*base, "ent_coefs=[0.01,0.03,0.1,0.3]", f"name=sym16_{CHOSEN}"],
            "by": 0.6,
        },
        {
            "name": "sym16_op",
            "argv": [
                *base,
                "ent_coefs=[0.01]",
                "ippo.other_play=true",
                f"name=sym16_{CHOSEN}_op",
            ],
            "by": 0.8,
        },
    ]
    evaluations = [
        {
            "name": f"{run['name']}_{m}",
            "runs": [run["name"]],
            "step": m,
            "crossplay": sizes["symmetry_crossplay"],
            "keep": True,
        }
        for run in runs
        for m in sizes["symmetry_milestones"]
    ]
    return {"runs": runs, "evaluations": evaluations}


PLANS = {
    "grid": grid_plan,
    "more": more_plan,
    "screen": screen_plan,
    "prereg": prereg_plan,
    "symmetry_grid": symmetry_grid_plan,
    "symmetry_grid_cpu": symmetry_grid_cpu_plan,
}
