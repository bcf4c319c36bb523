"""Figures from results files (matplotlib, no display needed)."""

from __future__ import annotations

import io
import pathlib
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from marl.files import atomic_write_bytes

CURVES = (
    ("sp", "SP", "tab:blue", "-"),
    ("xp", "XP", "tab:orange", "-"),
    ("sp_greedy_ties", "SP greedy", "tab:blue", "--"),
    ("xp_greedy_ties", "XP greedy", "tab:orange", "--"),
)


HANABI_CURVES = (
    ("sp", "SP", "tab:blue", "-"),
    ("xp", "XP", "tab:orange", "-"),
    ("sp_greedy", "SP greedy", "tab:blue", "--"),
    ("xp_greedy", "XP greedy", "tab:orange", "--"),
)
HANABI_REFERENCES = (
    # 2-player Hanabi-Full, inter-seed cross-play (and self-play) as published.
    (24.48, "IPPO, high entropy: SP (Forkel et al. 2025)", "tab:blue"),
    (24.45, "IPPO, high entropy: XP (Forkel et al. 2025)", "tab:orange"),
    (23.76, "OBL level 4: XP (Hu et al. 2021)", "tab:green"),
    (22.1, "SAD+AUX+Other-Play: XP (Hu et al. 2020)", "tab:purple"),
    (2.5, "SAD: XP (Hu et al. 2020)", "tab:red"),
)


def point_x(point: dict[str, Any]) -> float:
    """A point's entropy weight: tau (tabular) or the entropy coefficient (IPPO)."""
    return point["tau"] if "tau" in point else point["ent_coef"]


def plot_hanabi_sp_xp(ax: Any, results: dict[str, Any]) -> None:
    """Hanabi cross-play results: SP and XP (sampled and greedy) against the entropy
    coefficient, one set of curves per group of other settings; for 2-player
    Hanabi-Full the published reference points as horizontal lines."""
    series: dict[str, list[dict[str, Any]]] = {}
    for point in results["points"]:
        rest = [part for part in point["group"].split(", ") if "ent_coef=" not in part]
        series.setdefault(", ".join(rest), []).append(point)
    markers = "osD^v"
    for k, (name, points) in enumerate(series.items()):
        points = sorted(points, key=point_x)
        coefs = [p["ent_coef"] for p in points]
        for key, label, color, style in HANABI_CURVES:
            values = [p[key] for p in points]
            if all(v is None for v in values):
                continue
            ax.errorbar(
                coefs,
                [float("nan") if v is None else v for v in values],
                yerr=[p[f"{key}_se"] or 0.0 for p in points],
                label=f"{label} {name}".strip(),
                color=color,
                linestyle=style,
                marker=markers[k % len(markers)],
                markersize=4,
                capsize=2,
            )
    if results["game"] == "Hanabi-Full" and results.get("num_players") == 2:
        for value, label, color in HANABI_REFERENCES:
            ax.axhline(value, color=color, linestyle=":", linewidth=1, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("entropy coefficient")
    ax.set_ylabel("mean score")
    ax.set_title(f"{results['game']}, {results.get('num_players', 2)} players")


def plot_sp_xp(ax: Any, results: dict[str, Any]) -> None:
    """SP and XP (stochastic and tie-aware greedified) against tau on one axis;
    Hanabi cross-play results against the entropy coefficient."""
    if results.get("kind") == "hanabi_crossplay":
        plot_hanabi_sp_xp(ax, results)
        return
    points = sorted(results["points"], key=lambda p: p["tau"])
    taus = [p["tau"] for p in points]
    for key, label, color, style in CURVES:
        values = [p[key] for p in points]
        # No standard error (too few seeds for the jackknife): no bar.
        errors = [p[f"{key}_se"] or 0.0 for p in points]
        ax.errorbar(
            taus,
            values,
            yerr=errors,
            label=label,
            color=color,
            linestyle=style,
            marker="o",
            markersize=3,
            capsize=2,
        )
    positive = [t for t in taus if t > 0]
    if positive:
        ax.set_xscale("symlog", linthresh=min(positive))
    bound = results.get("uniqueness_bound")
    if bound is not None:
        ax.axvline(bound, color="gray", linestyle=":", label="σmax(PAP)/2")
    ax.set_xlabel("entropy weight τ")
    ax.set_ylabel("expected return")
    ax.set_title(results["game"])


def save_sp_xp_figure(results: dict[str, Any], path: pathlib.Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    plot_sp_xp(ax, results)
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=120)


def save_grid_figure(all_results: list[dict[str, Any]], path: pathlib.Path) -> None:
    """One SP/XP panel per run, for a sweep."""
    cols = min(4, len(all_results))
    rows = -(-len(all_results) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4 * cols, 3 * rows), constrained_layout=True, squeeze=False
    )
    for ax, results in zip(axes.ravel(), all_results, strict=False):
        plot_sp_xp(ax, results)
    for ax in axes.ravel()[len(all_results) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    save_figure(fig, path, dpi=100)


def save_figure(fig: Any, path: pathlib.Path, dpi: int) -> None:
    """Renders `fig` as PNG and writes it atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


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
    for name, points, style in series:
        points = sorted(points, key=lambda p: p["tau"])
        taus = [p["tau"] for p in points]
        for key, label, color in (("sp", "SP", "tab:blue"), ("xp", "XP", "tab:orange")):
            ax.errorbar(
                taus,
                [p[key] for p in points],
                yerr=[p[f"{key}_se"] or 0.0 for p in points],
                color=color,
                linestyle=style,
                marker="o",
                markersize=2,
                capsize=2,
                label=f"{label}{name}",
            )
    _tau_axis(ax, [p["tau"] for p in results["points"]])
    _mark_thresholds(ax, results)
    ax.set_ylabel("expected return")
    ax.set_title(f"{results['game']}: returns")
    ax.legend(fontsize=6)


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
        label="conventions (certified seeds)",
    )
    uncertified = [
        results["num_seeds"] - p["certified"] if p.get("certified") is not None else 0
        for p in points
    ]
    if any(uncertified):
        ax.plot(
            taus,
            uncertified,
            "x:",
            color="tab:red",
            markersize=4,
            label="seeds not certified",
        )
    ax.set_ylabel("distinct conventions", color="tab:green")
    _tau_axis(ax, taus)
    _mark_thresholds(ax, results)
    ax.legend(fontsize=6, loc="upper right")
    twin = ax.twinx()
    twin.plot(
        taus,
        [max(p["equivariance_error"], 1e-9) for p in points],
        "s--",
        color="tab:purple",
        markersize=3,
    )
    twin.set_yscale("log")
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
            label=key,
        )
    ax.set_xticks(range(len(runs)), labels)
    ax.set_ylabel("expected return")
    if runs:
        ax.set_title(
            f"annealing τ {runs[0]['tau_start']:.3g} → {runs[0]['tau_end']:.3g}"
        )
    ax.legend(fontsize=6)


def save_phase_figure(results: dict[str, Any], path: pathlib.Path) -> None:
    """The phase diagram of one game: returns, structure and annealing."""
    panels = 3 if results.get("annealing") else 2
    fig, axes = plt.subplots(
        1, panels, figsize=(5 * panels, 3.8), constrained_layout=True
    )
    plot_phase_returns(axes[0], results)
    plot_phase_structure(axes[1], results)
    if panels == 3:
        plot_annealing(axes[2], results)
    save_figure(fig, path, dpi=110)


def plot_crossplay_heatmap(
    ax: Any, matrix: Any, title: str, limits: tuple[float, float] | None = None
) -> None:
    """M[i, j] = J(seed i in seat 1, seed j in seat 2); `limits` fixes the colour
    scale so that panels can be compared."""
    vmin, vmax = limits if limits is not None else (None, None)
    image = ax.imshow(matrix, cmap="viridis", vmin=vmin, vmax=vmax)
    ax.set_xlabel("seed in seat 2")
    ax.set_ylabel("seed in seat 1")
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)


def limit_bars(results: dict[str, Any]) -> dict[str, float]:
    """The numbers that show where the entropy recipe stops: self-play and cross-play
    at the lowest tau, the agreed value above tau*, the annealed branch, and the
    best Other-Play value."""
    points = sorted(results["points"], key=lambda p: p["tau"])
    bars = {"SP, lowest τ": points[0]["sp"], "XP, lowest τ": points[0]["xp"]}
    agreed = [p for p in points if p["num_conventions"] == 1]
    if agreed:
        bars["SP = XP, first τ all agree"] = agreed[0]["xp"]
    for run in results.get("annealing", []):
        bars[f"XP annealed, noise {run['grad_noise']:g}"] = run["xp"]
    if "other_play" in results:
        best = max(p["other_play_value_best"] for p in results["other_play"]["points"])
        bars["best Other-Play value"] = best
    return bars


def plot_limits(ax: Any, results: dict[str, Any]) -> None:
    bars = limit_bars(results)
    ax.barh(list(bars), list(bars.values()), color="tab:gray")
    for k, value in enumerate(bars.values()):
        ax.text(value, k, f" {value:.3f}", va="center", fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("expected return")
    ax.set_title(f"{results['game']}: what entropy finds", fontsize=9)
