"""The tables of `python -m experiments.compare`, built from results.json files:
one row per run and tau (or entropy coefficient) with the settings that tell a
sweep's runs apart, one summary row per run (tau*, the bound, the best values,
annealing, Other-Play), the price of equivariance, and their text layout for a
120-column screen with a legend; and the report of `python -m
experiments.estimate` (`format_report`). Pure functions of the loaded results
or plan; the entry points read, print and write."""

from __future__ import annotations

import json
import pathlib
import textwrap
from typing import Any

from experiments.harness.results import CROSSPLAY_KINDS, format_estimate
from experiments.reports import plots
from marl.tabular.intervals import end_text

COLUMNS = (
    "run",
    "settings",
    "game",
    "horizon",
    "num_seeds",
    "tau",
    "ent_coef",
    "group",
    "sp",
    "sp_se",
    "xp",
    "xp_se",
    "sp_greedy",
    "xp_greedy",
    "sp_greedy_ties",
    "xp_greedy_ties",
    "num_conventions",
    "converged",
    "unconverged",
    "uniqueness_bound",
    "best_sp_greedy",
    "optimum",
    "gap_to_optimum",
)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {dotted key: value}."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(
            flatten(
                value,
                f"{prefix}{key}." if isinstance(value, dict) else f"{prefix}{key}",
            )
        )
    return flat


def distinguishing_settings(
    runs: list[tuple[pathlib.Path, dict[str, Any]]],
) -> dict[pathlib.Path, str | None]:
    """Per run, the settings of its config (as `key=value` overrides) that tell it
    apart from the runs of the same game and horizon compared with it: what a
    sweep swept, whatever the parameter. Settings that change only with the game
    (a preset's per-game defaults) are left to the game column; None where
    nothing else differs."""
    flats = [flatten(results.get("config") or {}) for _, results in runs]
    same: dict[tuple[Any, Any], list[int]] = {}
    for k, (_, results) in enumerate(runs):
        same.setdefault((results.get("game"), results.get("horizon")), []).append(k)

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":"))

    shown = {"game", "game_file", "horizon"}
    differing = sorted(
        {
            key
            for members in same.values()
            for key in set().union(*(flats[k] for k in members)) - shown
            if len({text(flats[k].get(key)) for k in members}) > 1
        }
    )
    return {
        run_dir: " ".join(f"{k}={text(flat.get(k))}" for k in differing) or None
        for (run_dir, _), flat in zip(runs, flats, strict=True)
    }


def table_rows(runs: list[tuple[pathlib.Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    settings = distinguishing_settings(runs)
    for run_dir, results in runs:
        for point in sorted(results["points"], key=plots.point_order):
            rows.append(
                {
                    "run": str(run_dir),
                    "settings": _with_partner(settings[run_dir], point),
                    "game": results["game"],
                    "num_seeds": results["num_seeds"],
                    "horizon": results.get("horizon"),
                    "uniqueness_bound": results.get("uniqueness_bound"),
                    "optimum": results.get("optimum"),
                    "gap_to_optimum": gap(results.get("optimum"), point),
                    **{key: point.get(key) for key in COLUMNS if key in point},
                    "unconverged": unconverged(results["num_seeds"], point),
                }
            )
    return rows


def _with_partner(settings: str | None, point: dict[str, Any]) -> str | None:
    """The run's distinguishing settings, and a rule-based partner's name
    (`bot=<name>`) for its point."""
    if plots.point_x(point) is not None:
        return settings
    return " ".join(filter(None, (settings, point.get("group"))))


def unconverged(num_seeds: int, point: dict[str, Any]) -> int | None:
    """Seeds not converged at a fixed point (None for runs without convergence checks:
    annealing, the sampled learner, Hanabi)."""
    if point.get("converged") is None:
        return None
    return num_seeds - point["converged"]


def gap(optimum: float | None, point: dict[str, Any]) -> float | None:
    """optimum - best_sp_greedy: how far the best greedified seed is from the
    published optimum (negative only through float error, or a bug)."""
    if optimum is None or point.get("best_sp_greedy") is None:
        return None
    return optimum - point["best_sp_greedy"]


SUMMARY_COLUMNS = (
    "run",
    "settings",
    "game",
    "horizon",
    "num_seeds",
    "symmetry_order",
    "tau_star_lower",
    "tau_star",
    "tau_star_converged",
    "tau_star_ends",
    "tau_unique_lower",
    "tau_unique",
    "tau_unique_ends",
    "tau_unique_skipped",
    "uniqueness_bound",
    "tau_star_over_bound",
    "best_sp",
    "best_other_play",
    "annealed_xp",
    "order_with_agent_swaps",
    "optimum",
    "best_equivariant",
    "recipe",
    "annealed",
    "other_play_xp",
)


def ends_rest_on(search: dict[str, Any]) -> str | None:
    """What the bracket's ends rest on: 'proven' (both, the verified test of
    `marl.tabular.verified`), 'upper proven' or 'lower proven' (one of them),
    'estimated' (the convergence check's estimated distance to a fixed point);
    '; lower end proven agreement' added where the seeds at the lower end are
    proven at one fixed point (the bracket's lower end is no disagreement), and
    '; agreement proven at <tau>' where the upper end is not proven but the
    search's verified test settled an 'uncertain' tau above it as agreement
    (the smallest such tau: a proven upper bound on where the seeds agree)."""
    if search.get("tau_star") is None:
        return None
    proven = search.get("proven_ends") or {}
    upper = proven.get("upper_agreement_proven", False)
    lower = proven.get("lower_disagreement_proven", False)
    agrees = proven.get("lower_agreement_proven", False)
    if upper and lower:
        return "proven"
    if upper or lower:
        rest = "upper proven" if upper else "lower proven"
    else:
        rest = "estimated"
    above = [t for t in search.get("proven_agreements") or [] if t >= search["upper"]]
    if above and not upper:
        rest += f"; agreement proven at {min(above):.4g}"
    return rest + ("; lower end proven agreement" if agrees else "")


def tau_star_columns(search: dict[str, Any] | None) -> dict[str, Any]:
    """The tau* bracket (lower, tau_star], the seeds converged to agree at its
    upper end, what its ends rest on (`ends_rest_on`) and tau*/bound (2-player
    matrix games)."""
    if not search:
        return {}
    verdict = search.get("upper_verdict") or {}
    return {
        "tau_star_ends": ends_rest_on(search),
        "tau_star_lower": search.get("lower"),
        "tau_star": search.get("tau_star"),
        "tau_star_converged": (
            f"{verdict['converged']}/{verdict['seeds']}" if verdict else None
        ),
        "tau_star_over_bound": search.get("tau_star_over_bound"),
        **tau_unique_columns(search.get("uniqueness")),
    }


def tau_unique_columns(unique: dict[str, Any] | None) -> dict[str, Any]:
    """tau_unique's bracket (lower, upper] beside tau*'s (`critical_tau.
    uniqueness`): what its ends rest on ('proven' both, 'lower proven',
    'upper proven', 'estimated'), or why there is none ('skipped: ...')."""
    if not unique:
        return {}
    if "skipped" in unique:
        return {"tau_unique_ends": "skipped", "tau_unique_skipped": unique["skipped"]}
    lower, upper = unique.get("lower_proven"), unique.get("upper_proven")
    ends = (
        "proven"
        if lower and upper
        else "lower proven"
        if lower
        else "upper proven"
        if upper
        else "estimated"
    )
    return {
        "tau_unique_lower": unique.get("lower"),
        "tau_unique": unique.get("upper"),
        "tau_unique_ends": ends,
    }


def summary_rows(
    runs: list[tuple[pathlib.Path, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """One row per run: what the phase diagram says in a few numbers."""
    rows = []
    settings = distinguishing_settings(runs)
    for run_dir, results in runs:
        if results.get("kind") in CROSSPLAY_KINDS:
            continue
        op = results.get("other_play", {}).get("points", [])
        annealed = [
            r["xp"] for r in results.get("annealing", []) if r["grad_noise"] == 0
        ]
        rows.append(
            {
                "run": str(run_dir),
                "settings": settings[run_dir],
                "game": results["game"],
                "horizon": results.get("horizon"),
                "num_seeds": results["num_seeds"],
                "symmetry_order": results.get("symmetry", {}).get("order"),
                **tau_star_columns(results.get("critical_tau")),
                "uniqueness_bound": results.get("uniqueness_bound"),
                "best_sp": max(p["best_sp"] for p in results["points"]),
                "best_other_play": max(
                    (p["other_play_value_best"] for p in op), default=None
                ),
                "annealed_xp": annealed[0] if annealed else None,
                **price_columns(results),
            }
        )
    return rows


def price_columns(results: dict[str, Any]) -> dict[str, Any]:
    """The price of equivariance: the published optimum, the best value of an
    equivariant policy (ascent inside them), the recipe's value (tie-aware
    greedy SP at the smallest grid tau where every seed is converged at one
    convention: there SP = XP), the annealed value (the noise-free run's
    tie-aware greedy SP) and Other-Play's best tie-aware greedy XP."""
    agreeing = [
        p
        for p in results["points"]
        if p.get("num_conventions") == 1
        and p.get("converged") in (None, results["num_seeds"])
    ]
    recipe = min(agreeing, key=lambda p: p["tau"]) if agreeing else None
    annealed = [r for r in results.get("annealing", []) if r.get("grad_noise") == 0]
    op = results.get("other_play", {})
    op_points = [] if op.get("same_as_self_play") else op.get("points", [])
    ascent = results.get("equivariant_ascent") or {}
    return {
        "order_with_agent_swaps": results.get("symmetry", {}).get(
            "order_with_agent_swaps"
        ),
        "optimum": results.get("optimum"),
        "best_equivariant": ascent.get("best_value"),
        "recipe": recipe["sp_greedy_ties"] if recipe else None,
        "annealed": annealed[0]["sp_greedy_ties"] if annealed else None,
        "other_play_xp": max((p["xp_greedy_ties"] for p in op_points), default=None),
    }


SCREEN_COLUMNS = (
    ("game", "game"),
    ("h", "horizon"),
    ("seeds", "num_seeds"),
    ("tau", "tau"),
    ("coef", "ent_coef"),
    ("SP", "sp"),
    ("XP", "xp"),
    ("SPg", "sp_greedy"),
    ("XPg", "xp_greedy"),
    ("SPt", "sp_greedy_ties"),
    ("XPt", "xp_greedy_ties"),
    ("conv", "num_conventions"),
    ("unconv", "unconverged"),
    ("gap", "gap_to_optimum"),
)
"""The printed table's columns: (header, row key); the CSV has every column."""
LEGEND = (
    "SP, XP: self-play and cross-play means +- jackknife standard errors over seeds "
    "(n/a: too few seeds, or a degenerate jackknife); g: argmax-greedy policies; "
    "t: tie-aware greedy; conv: conventions found; unconv: seeds not converged at a "
    "fixed point; gap: the published optimum minus the best greedy seed's SP; "
    "[a], [b]: the settings that differ between runs (below). Every column is in "
    "the CSV."
)
SUMMARY_SCREEN = (
    ("game", "game"),
    ("h", "horizon"),
    ("seeds", "num_seeds"),
    ("|G|", "symmetry_order"),
    ("tau* in (", "tau_star_lower"),
    ("tau*]", "tau_star"),
    ("upper_conv", "tau_star_converged"),
    ("ends", "tau_star_ends"),
    ("tau_u in (", "tau_unique_lower"),
    ("tau_u]", "tau_unique"),
    ("u ends", "tau_unique_ends"),
    ("bound", "uniqueness_bound"),
    ("best SP", "best_sp"),
    ("best OP", "best_other_play"),
    ("annealed XP", "annealed_xp"),
)
PRICE_SCREEN = (
    ("game", "game"),
    ("h", "horizon"),
    ("|G|", "symmetry_order"),
    ("|G| swaps", "order_with_agent_swaps"),
    ("optimum", "optimum"),
    ("best equivariant", "best_equivariant"),
    ("recipe", "recipe"),
    ("annealed", "annealed"),
    ("OP XP", "other_play_xp"),
)
PRICE_LEGEND = (
    "The price of equivariance: |G| the symmetry group (seats kept; swaps: agents "
    "may be relabelled too); best equivariant: the best J of ascent inside the "
    "equivariant policies; recipe: greedy SP (= XP) at the first tau where every "
    "seed is converged at one convention; annealed: greedy SP of the noise-free "
    "annealing run; OP XP: Other-Play's best greedy XP (all tie-aware)."
)


BRACKET_ENDS = {
    "tau_star_lower": "lower",
    "tau_star": "upper",
    "tau_unique_lower": "lower",
    "tau_unique": "upper",
}
"""The columns that are ends of a bracket, printed rounded outward."""


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(
    rows: list[dict[str, Any]],
    columns: tuple[tuple[str, str], ...] = SCREEN_COLUMNS,
    legend: str | None = LEGEND,
) -> str:
    """The printed table: short headers, columns empty in every row left out, SP
    and XP with their errors in one cell, each run's distinguishing settings as a
    tag ([a], [b], ...) spelt out below, and a legend. About 120 characters wide
    for a tabular sweep; the CSV holds every column in full."""
    tags: dict[str, str] = {}
    for row in rows:
        if row.get("settings"):
            tags.setdefault(row["settings"], f"[{chr(ord('a') + len(tags) % 26)}]")
    shown = [(h, k) for h, k in columns if any(row.get(k) is not None for row in rows)]

    def text(row: dict[str, Any], key: str) -> str:
        if key in ("sp", "xp"):
            return format_estimate(row.get(key), row.get(f"{key}_se"))
        if key == "game" and row.get("settings"):
            return f"{row['game']} {tags[row['settings']]}"
        if key in BRACKET_ENDS and isinstance(row.get(key), float):
            return end_text(row[key], BRACKET_ENDS[key])  # outward
        return cell(row.get(key))

    cells = [[text(row, k) for _, k in shown] for row in rows]
    headers = [h for h, _ in shown]
    widths = [max(len(h), *(len(r[n]) for r in cells)) for n, h in enumerate(headers)]
    left = {0}  # the game column reads left-aligned

    def line(values: list[str]) -> str:
        return "  ".join(
            v.ljust(w) if n in left else v.rjust(w)
            for n, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    lines = [line(headers)] + [line(r) for r in cells]
    lines += [f"{tag} {settings}" for settings, tag in tags.items()]
    if legend:
        lines += ["", *textwrap.wrap(legend, 100)]
    return "\n".join(lines)


# ------------------------------------------------------ experiments.estimate


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def format_report(plan: dict[str, Any]) -> str:
    lines = []
    for shape in plan["shapes"]:
        members = [
            k for k, j in enumerate(plan["jobs"]) if j["shape"] == shape["index"]
        ]
        lines.append(
            f"shape {shape['index']} (jobs {', '.join(map(str, members))}): "
            f"{shape['game']}, {shape['num_players']} players, {shape['network']}; "
            f"{shape['seeds']} seeds x {shape['ent_coefs']} entropy coefficients = "
            f"{shape['runs']} runs; {shape['num_envs']} games x {shape['num_steps']} "
            f"steps per update; {shape['num_updates']:,} updates "
            f"({shape['env_steps_per_run']:,} env steps per run)"
        )
        lines.append(
            f"  state {_bytes(shape['state_bytes'])} "
            f"(checkpoint {_bytes(shape['checkpoint_bytes_per_seed'])} per seed); "
            f"chunk of {shape['log_every']} updates compiled in "
            f"{shape['compile_seconds']:.1f} s for {shape['backend']} "
            f"({shape['device']})"
        )
        memory = shape["memory"]
        if memory is None:
            lines.append("  device memory: not reported by this backend")
        else:
            lines.append(
                f"  device memory of a chunk: {_bytes(memory['peak'])} "
                f"(arguments {_bytes(memory['argument'])}, outputs "
                f"{_bytes(memory['output'])}, temporaries {_bytes(memory['temp'])}, "
                f"aliased {_bytes(memory.get('alias'))})"
            )
            limit = plan["device_memory_limit"]
            if limit:
                lines.append(
                    f"  {100 * memory['peak'] / limit:.0f}% of this device's "
                    f"{_bytes(limit)}"
                )
        measured = shape.get("measured")
        if measured:
            lines.append(
                f"  measured: {measured['steps_per_second']:,.0f} env steps/s over "
                f"the {shape['runs']} runs ({measured['chunks']} chunks of "
                f"{measured['updates_per_chunk']} updates in "
                f"{measured['seconds']:.1f} s, after an untimed one)"
            )
    lines.append(
        f"{plan['num_jobs']} job{'s' if plan['num_jobs'] != 1 else ''}, "
        f"{plan['env_steps']:,} env steps in all"
    )
    for k, job in enumerate(plan["jobs"]):
        lines.append(
            f"  job {k} ({job['name']}): {' '.join(job['overrides']) or '(defaults)'}"
            f"; {job['env_steps']:,} env steps, {_duration(job['seconds'])}"
        )
        if job["updates_within"] is not None:
            lines.append(
                f"    in {plan['minutes']:g} min: {job['updates_within']:,} updates "
                f"({job['env_steps_per_run_within']:,} env steps per run)"
            )
    if plan["wall_seconds"] is None:
        lines.append(
            "wall time: pass --measure (this machine) or --rate STEPS_PER_SECOND "
            "(e.g. a run's steps_per_second on the target device)"
        )
    else:
        source = "given rate" if plan["rate_source"] == "given" else "measured rate"
        lines.append(
            f"projected at the {source}: {_duration(plan['job_seconds_total'])} of "
            f"job time; {_duration(plan['wall_seconds'])} of wall time with "
            f"{plan['parallel']} job(s) at a time"
        )
    return "\n".join(lines)
