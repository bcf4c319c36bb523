"""The phase-diagram figure of a tabular run (`save_phase_figure`): its
bifurcation diagram where the tau* study traced one, SP and XP against tau,
the conventions and equivariance error, and annealing; each panel a function
of the results (docs/results.md) for notebooks to compose."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from experiments.reports.plots import (
    BAND,
    LABELS,
    PANEL,
    curve,
    figure,
    integer_ticks,
    legend_below,
    save_figure,
    style,
)


def _tau_axis(ax: Any, taus: list[float]) -> None:
    positive = [t for t in taus if t > 0]
    if positive:
        ax.set_xscale("symlog", linthresh=min(positive))
    ax.set_xlabel("entropy weight τ")


def _mark_thresholds(ax: Any, results: dict[str, Any]) -> None:
    if (results.get("critical_tau") or {}).get("tau_star") is not None:
        ax.axvline(
            results["critical_tau"]["tau_star"],
            color="black",
            linestyle="--",
            linewidth=1,
            label="τ* (all seeds agree)",
        )
    if results.get("uniqueness_bound") is not None:
        ax.axvline(
            results["uniqueness_bound"],
            color="gray",
            linestyle=":",
            label="σmax(PAP)/2",
        )


def plot_phase_returns(ax: Any, results: dict[str, Any]) -> None:
    """SP/XP of the entropy recipe, of Other-Play and of the sampled learner."""
    series = [("", results["points"], "-")]
    if "other_play" in results:
        series.append((" Other-Play", results["other_play"]["points"], ":"))
    if "other_weighting" in results:
        other = results["other_weighting"]
        name = f" {other['entropy_weighting']} entropy weighting"
        series.append((name, other["points"], "--"))
    if "sampled" in results:
        series.append((" sampled", results["sampled"]["points"], "-."))
    for name, points, line in series:
        points = sorted(points, key=lambda p: p["tau"])
        taus = [p["tau"] for p in points]
        for key, label, color in (("sp", "SP", "tab:blue"), ("xp", "XP", "tab:orange")):
            curve(
                ax,
                taus,
                [p[key] for p in points],
                [p.get(f"{key}_se") for p in points],
                color=color,
                linestyle=line,
                label=f"{label}{name}",
            )
    _tau_axis(ax, [p["tau"] for p in results["points"]])
    _mark_thresholds(ax, results)
    ax.set_ylabel(f"expected return\n({BAND})")
    ax.set_title(f"{results['game']}: returns")
    legend_below(ax)


def plot_phase_structure(ax: Any, results: dict[str, Any]) -> None:
    """Conventions found and equivariance error against tau."""
    points = sorted(results["points"], key=lambda p: p["tau"])
    taus = [p["tau"] for p in points]
    ax.plot(
        taus,
        [p["num_conventions"] for p in points],
        "o-",
        color="tab:green",
        markersize=3,
        label="conventions (converged seeds)",
    )
    unconverged = [
        results["num_seeds"] - p["converged"] if p.get("converged") is not None else 0
        for p in points
    ]
    if any(unconverged):
        ax.plot(
            taus,
            unconverged,
            "x:",
            color="tab:red",
            markersize=4,
            label="seeds not converged",
        )
    ax.set_ylabel("distinct conventions", color="tab:green")
    integer_ticks(ax.yaxis)
    _tau_axis(ax, taus)
    _mark_thresholds(ax, results)
    errors = [p["equivariance_error"] for p in points]
    twin = ax.twinx()
    if any(e > 0 for e in errors):  # no line for an error that is zero throughout
        twin.plot(
            taus,
            [max(e, 1e-9) for e in errors],
            "s--",
            color="tab:purple",
            markersize=3,
            label="equivariance error (right axis)",
        )
        twin.set_yscale("log")
    handles, labels = ax.get_legend_handles_labels()
    more, names = twin.get_legend_handles_labels()
    ax.legend(
        handles + more,
        labels + names,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
        ncols=2,
    )
    twin.set_ylabel("equivariance error", color="tab:purple")
    ax.set_title(
        f"{results['game']}: conventions (order {results['symmetry']['order']})"
    )


def plot_annealing(ax: Any, results: dict[str, Any]) -> None:
    runs = results.get("annealing", [])
    labels = [f"noise {r['grad_noise']:g}" for r in runs]
    width = 0.2
    for k, (key, color) in enumerate(
        (
            ("sp", "tab:blue"),
            ("xp", "tab:orange"),
            ("sp_greedy_ties", "lightblue"),
            ("xp_greedy_ties", "moccasin"),
        )
    ):
        ax.bar(
            [i + (k - 1.5) * width for i in range(len(runs))],
            [r[key] for r in runs],
            width,
            color=color,
            label=LABELS[key],
        )
    ax.set_xticks(range(len(runs)), labels)
    ax.set_ylabel("expected return")
    if runs:
        ax.set_title(
            f"annealing τ {runs[0]['tau_start']:.3g} → {runs[0]['tau_end']:.3g}"
        )
    legend_below(ax)


def uniqueness_of(results: dict[str, Any]) -> dict[str, Any] | None:
    """The tau* study's `uniqueness` section where it holds a diagram."""
    unique = (results.get("critical_tau") or {}).get("uniqueness") or {}
    return unique if unique.get("diagram") else None


def plot_bifurcation(ax: Any, results: dict[str, Any]) -> None:
    """The bifurcation diagram: each branch's expected return against tau,
    stable stretches solid and unstable ones dashed; folds and branch points
    marked; tau_agree's bracket shaded and tau_unique's ends drawn."""
    unique = uniqueness_of(results)
    assert unique is not None
    for k, branch in enumerate(unique["diagram"]):
        taus, values = np.array(branch["taus"]), np.array(branch["returns"])
        stable = np.array(branch["stable"], bool)
        color = "black" if k == 0 else f"C{k % 10}"
        # Runs of equal stability, each joined to the next sample.
        edges = np.flatnonzero(np.diff(stable.astype(int))) + 1
        for start, stop in zip(
            [0, *edges.tolist()], [*edges.tolist(), len(taus)], strict=True
        ):
            stop = min(stop + 1, len(taus))
            ax.plot(
                taus[start:stop],
                values[start:stop],
                color=color,
                linestyle="-" if stable[start] else "--",
                linewidth=1.2,
            )
    for key, marker, label in (
        ("folds", "o", "fold"),
        ("branch_points", "s", "branch point"),
    ):
        events = unique.get(key) or []
        if events:
            ys = [e["return"] for e in events]
            ax.plot(
                [e["tau"] for e in events],
                ys,
                marker,
                color="tab:red",
                markersize=4,
                linestyle="none",
                label=label,
            )
    search = results.get("critical_tau") or {}
    if search.get("tau_star") is not None:
        ax.axvspan(
            search["lower"], search["upper"], color="gray", alpha=0.3, label="τ_agree"
        )
    for end, line in (("lower", ":"), ("upper", "-.")):
        if unique.get(end) is not None:
            proven = unique.get(f"{end}_proven")
            ax.axvline(
                unique[end],
                color="tab:purple",
                linestyle=line,
                linewidth=1,
                label=f"τ_unique {end} end ({'proven' if proven else 'estimated'})",
            )
    ax.set_xscale("log")
    ax.set_xlabel("entropy weight τ")
    ax.set_ylabel("expected return of the fixed point")
    ax.set_title(f"{results['game']}: fixed points (solid stable, dashed unstable)")
    legend_below(ax)


def save_phase_figure(results: dict[str, Any], path: pathlib.Path) -> None:
    """The phase diagram of one game: its bifurcation diagram where the tau*
    study traced one, returns, structure and annealing."""
    panels = [plot_phase_returns, plot_phase_structure]
    if uniqueness_of(results):
        panels.insert(0, plot_bifurcation)
    if results.get("annealing"):
        panels.append(plot_annealing)
    with style():
        size = (PANEL[0] * len(panels), PANEL[1] + 1.2)
        fig, axes = figure(1, len(panels), figsize=size, squeeze=False)
        for ax, plot in zip(axes[0], panels, strict=True):
            plot(ax, results)
        save_figure(fig, path)
