"""Figures from results files (matplotlib, no display needed)."""

from __future__ import annotations

import io
import pathlib
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from experiments.results import atomic_write_bytes

CURVES = (
    ("sp", "SP", "tab:blue", "-"),
    ("xp", "XP", "tab:orange", "-"),
    ("sp_greedy_ties", "SP greedy", "tab:blue", "--"),
    ("xp_greedy_ties", "XP greedy", "tab:orange", "--"),
)


def plot_sp_xp(ax: Any, results: dict[str, Any]) -> None:
    """SP and XP (stochastic and tie-aware greedified) against tau on one axis."""
    points = sorted(results["points"], key=lambda p: p["tau"])
    taus = [p["tau"] for p in points]
    for key, label, color, style in CURVES:
        values = [p[key] for p in points]
        errors = [p[f"{key}_se"] for p in points]
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
