"""Figures from results files (matplotlib, no display needed).

Importing this module changes no matplotlib state: the `save_*` functions draw
on figures of their own (`figure`, off pyplot, so no backend is chosen and no
window opens) inside the house style's context (`style`). A notebook that
draws on its own axes opts in with `with plots.style():` or
`plt.rcParams.update(plots.STYLE)`.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from experiments.harness.results import CROSSPLAY_KINDS
from experiments.reports.pairs import group_table
from marl.files import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Sized to be read at a paper's column width (about 3.3 inches): panels of about
# 3.4 x 2.6 inches with 7-8 point text, saved at 150 dpi.
STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 6.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.framealpha": 0.8,
}
PANEL = (3.4, 2.6)
DPI = 150


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The house style (`STYLE`) for what is drawn inside; rcParams are restored
    on leaving."""
    # Imported here, not at the top: an entry point that draws nothing (an
    # error, --help) starts without it (about 0.6 s).
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def figure(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any
) -> tuple[Figure, Any]:
    """A constrained-layout figure and its axes (`Figure.subplots`'s keywords),
    made off pyplot: no backend, no global list of figures. Draw on it inside
    `style()`."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kwargs)


# Result keys in words, one name per meaning in every figure (and in the logs):
# argmax greedification puts all mass on one best action, tie-aware spreads it
# over the tied ones (marl/tabular/greedy.py).
LABELS = {
    "sp": "SP",
    "xp": "XP",
    "sp_greedy": "SP, argmax-greedy",
    "xp_greedy": "XP, argmax-greedy",
    "sp_greedy_ties": "SP, tie-aware greedy",
    "xp_greedy_ties": "XP, tie-aware greedy",
}
BAND = "bands: ±1.96 s.e. over seeds"

CURVES = (
    ("sp", LABELS["sp"], "tab:blue", "-"),
    ("xp", LABELS["xp"], "tab:orange", "-"),
    ("sp_greedy_ties", LABELS["sp_greedy_ties"], "tab:blue", "--"),
    ("xp_greedy_ties", LABELS["xp_greedy_ties"], "tab:orange", "--"),
)


HANABI_CURVES = (
    ("sp", LABELS["sp"], "tab:blue", "-"),
    ("xp", LABELS["xp"], "tab:orange", "-"),
    ("sp_greedy", LABELS["sp_greedy"], "tab:blue", "--"),
    ("xp_greedy", LABELS["xp_greedy"], "tab:orange", "--"),
)
HANABI_REFERENCES = (
    # 2-player Hanabi-Full, inter-seed cross-play (and self-play) as published.
    (24.48, "IPPO, high entropy: SP (Forkel et al. 2025)", "tab:blue"),
    (24.45, "IPPO, high entropy: XP (Forkel et al. 2025)", "tab:orange"),
    (23.76, "OBL level 4: XP (Hu et al. 2021)", "tab:green"),
    (22.1, "SAD+AUX+Other-Play: XP (Hu et al. 2020)", "tab:purple"),
    (2.5, "SAD: XP (Hu et al. 2020)", "tab:red"),
)


def curve(
    ax: Any,
    xs: list[float],
    values: list[float | None],
    errors: list[float | None],
    **style: Any,
) -> None:
    """A line with markers and, where standard errors exist, a band of +-1.96
    of them (about a 95% interval over seeds when there are many)."""
    ys = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    se = np.asarray([np.nan if e is None else e for e in errors], dtype=float)
    ax.plot(xs, ys, marker=style.pop("marker", "o"), markersize=3, **style)
    if np.isfinite(se).any():
        ax.fill_between(
            xs, ys - 1.96 * se, ys + 1.96 * se, color=style["color"], alpha=0.15, lw=0
        )


def legend_below(ax: Any, ncols: int = 2) -> None:
    """The legend under the panel, where it covers no data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=ncols)


def integer_ticks(axis: Any) -> None:
    """Whole-number ticks for counts and indices."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def point_x(point: dict[str, Any]) -> float | None:
    """A point's entropy weight: tau (tabular) or the entropy coefficient (IPPO);
    None for a rule-based partner's (`crossplay --bots`)."""
    return point["tau"] if "tau" in point else point["ent_coef"]


def point_order(point: dict[str, Any]) -> tuple[bool, float]:
    """Sorts points by entropy weight, rule-based partners last."""
    x = point_x(point)
    return (x is None, 0.0 if x is None else x)


def plot_hanabi_sp_xp(ax: Any, results: dict[str, Any]) -> None:
    """Hanabi cross-play results: SP and XP (sampled and greedy) against the entropy
    coefficient, one set of curves per group of other settings; for 2-player
    Hanabi-Full the published reference points as horizontal lines."""
    series: dict[str, list[dict[str, Any]]] = {}
    bots = [p for p in results["points"] if p["ent_coef"] is None]
    for point in results["points"]:
        if point["ent_coef"] is None:
            continue  # a rule-based partner: a line across, below
        rest = [part for part in point["group"].split(", ") if "ent_coef=" not in part]
        series.setdefault(", ".join(rest), []).append(point)
    markers = "osD^v"
    for k, (name, points) in enumerate(series.items()):
        points = sorted(points, key=point_order)
        coefs = [p["ent_coef"] for p in points]
        for key, label, color, style in HANABI_CURVES:
            values = [p[key] for p in points]
            if all(v is None for v in values):
                continue
            curve(
                ax,
                coefs,
                values,
                [p.get(f"{key}_se") for p in points],
                label=f"{label} {name}".strip(),
                color=color,
                linestyle=style,
                marker=markers[k % len(markers)],
            )
    for k, bot in enumerate(bots):
        label = f"SP {bot['group']}"
        ax.axhline(
            bot["sp"], color=f"C{k + 2}", linestyle="-.", linewidth=1, label=label
        )
    if results["game"] == "Hanabi-Full" and results.get("num_players") == 2:
        for value, label, color in HANABI_REFERENCES:
            ax.axhline(value, color=color, linestyle=":", linewidth=1, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("entropy coefficient")
    ax.set_ylabel(f"mean score ({BAND})")
    ax.set_title(f"{results['game']}, {results.get('num_players', 2)} players")


def plot_sp_xp(ax: Any, results: dict[str, Any]) -> None:
    """SP and XP (stochastic and tie-aware greedified) against tau on one axis;
    Hanabi cross-play results against the entropy coefficient."""
    if results.get("kind") in CROSSPLAY_KINDS:
        plot_hanabi_sp_xp(ax, results)
        return
    points = sorted(results["points"], key=lambda p: p["tau"])
    taus = [p["tau"] for p in points]
    for key, label, color, style in CURVES:
        # No standard error (too few seeds for the jackknife): no band.
        curve(
            ax,
            taus,
            [p[key] for p in points],
            [p.get(f"{key}_se") for p in points],
            label=label,
            color=color,
            linestyle=style,
        )
    positive = [t for t in taus if t > 0]
    if positive:
        ax.set_xscale("symlog", linthresh=min(positive))
    bound = results.get("uniqueness_bound")
    if bound is not None:
        ax.axvline(bound, color="gray", linestyle=":", label="σmax(PAP)/2")
    ax.set_xlabel("entropy weight τ")
    ax.set_ylabel(f"expected return\n({BAND})")
    horizon = results.get("horizon") or 1
    ax.set_title(results["game"] + (f", horizon {horizon}" if horizon > 1 else ""))


def save_sp_xp_figure(results: dict[str, Any], path: pathlib.Path) -> None:
    with style():
        fig, ax = figure(figsize=(PANEL[0], PANEL[1] + 0.4))
        plot_sp_xp(ax, results)
        ax.legend()
        save_figure(fig, path)


def page_paths(path: pathlib.Path, pages: int) -> list[pathlib.Path]:
    """`path` for the first page, then `<stem>_2<suffix>`, `<stem>_3<suffix>`, ..."""
    return [
        path if k == 0 else path.with_name(f"{path.stem}_{k + 1}{path.suffix}")
        for k in range(pages)
    ]


def save_grid_figure(
    all_results: list[dict[str, Any]], path: pathlib.Path, per_page: int = 12
) -> list[pathlib.Path]:
    """One SP/XP panel per run, for a sweep: three panels a row, at most
    `per_page` panels a page (a grid that fits a page), one legend a page.
    Returns the files written: `path`, then `<stem>_2.png`, ..."""
    pages = [
        all_results[k : k + per_page] for k in range(0, len(all_results), per_page)
    ]
    paths = page_paths(path, len(pages))
    for page, page_path in zip(pages, paths, strict=True):
        cols = min(3, len(page))
        rows = -(-len(page) // cols)
        with style():
            fig, axes = figure(
                rows,
                cols,
                figsize=(PANEL[0] * cols, PANEL[1] * rows + 0.5),
                squeeze=False,
            )
            for ax, results in zip(axes.ravel(), page, strict=False):
                plot_sp_xp(ax, results)
            for ax in axes.ravel()[len(page) :]:
                ax.axis("off")
            handles, labels = axes[0, 0].get_legend_handles_labels()
            fig.legend(
                handles, labels, loc="outside lower center", ncols=min(len(labels), 5)
            )
            save_figure(fig, page_path)
    return paths


def save_figure(fig: Any, path: pathlib.Path, dpi: int = DPI) -> None:
    """Renders `fig` as PNG and writes it atomically; a pyplot figure (a
    notebook's) is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def plot_crossplay_heatmap(
    ax: Any,
    matrix: Any,
    title: str,
    limits: tuple[float, float] | None = None,
    blocks: list[str] | None = None,
    labels: list[str] | None = None,
    intervals: Any | None = None,
) -> None:
    """M[i, j] = J(seed i in seat 1, seed j in seat 2); `limits` fixes the colour
    scale so that panels can be compared. `blocks`, one label per seed (its
    entropy coefficient, say), draws lines between runs of equal labels and
    names each block on both axes instead of numbering the seeds; `labels`
    names every row and column. `intervals` (the matrix's shape: half-widths)
    writes "mean ± half-width" in every cell."""
    vmin, vmax = limits if limits is not None else (None, None)
    image = ax.imshow(matrix, cmap="viridis", vmin=vmin, vmax=vmax)
    ax.set_xlabel("seed in seat 2")
    ax.set_ylabel("seed in seat 1")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    if intervals is not None:
        size = 7 if len(matrix) <= 8 else 6
        for (i, j), value in np.ndenumerate(np.asarray(matrix)):
            ax.text(
                j,
                i,
                f"{value:.2f}\n±{intervals[i][j]:.2f}",
                ha="center",
                va="center",
                fontsize=size,
                color="white",
            )
    if labels is not None:
        name_ticks(ax, list(range(len(labels))), labels)
        return
    if not blocks:
        integer_ticks(ax.xaxis)
        integer_ticks(ax.yaxis)
        return
    starts = [k for k in range(len(blocks)) if k == 0 or blocks[k] != blocks[k - 1]]
    ends = [*starts[1:], len(blocks)]
    centers = [(a + b - 1) / 2 for a, b in zip(starts, ends, strict=True)]
    names = [blocks[a] for a in starts]
    for edge in starts[1:]:
        ax.axhline(edge - 0.5, color="white", linewidth=1)
        ax.axvline(edge - 0.5, color="white", linewidth=1)
    name_ticks(ax, centers, names)


def name_ticks(ax: Any, positions: list[float], names: list[str]) -> None:
    """`names` at `positions` on both axes, the x labels rotated where they
    would run into each other."""
    crowded = len(names) > 3 or sum(len(name) for name in names) > 24
    ax.set_xticks(
        positions,
        names,
        rotation=30 if crowded else 0,
        ha="right" if crowded else "center",
    )
    ax.set_yticks(positions, names)


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
    low, high = ax.get_xlim()
    ax.set_xlim(low, high + 0.2 * (high - low))  # room for the labels
    ax.invert_yaxis()
    ax.set_xlabel("expected return")
    ax.set_title(f"{results['game']}: what entropy finds")


STAGE_MEASURES = {
    "xp_greedy_gap": "SP - XP, argmax-greedy (±1 s.e.)",
    "permuted_copy_drop": "permuted-copy drop, sampled (±1 s.e.)",
}
"""What `plot_matched_stages` can draw against SP and entropy, in words."""


def plot_matched_stages(
    axes: Any, rows: list[dict[str, Any]], measure: str = "xp_greedy_gap"
) -> None:
    """A measure at matched training stages
    (`experiments.harness.results.matched_stages`): per series (a run's group of
    agents), `measure` (one of `STAGE_MEASURES`; by default the argmax-greedy
    gap SP - XP) with its standard error against the greedy SP (axes[0]) and
    against the group's policy entropy at that stage (axes[1]), one colour per
    entropy coefficient, one line style per run, the markers growing with the
    update. "High entropy picks one convention" predicts gaps near 0 at the
    high coefficients at any SP and entropy; "it only delays commitment"
    predicts their gap rising as their entropy falls."""
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row[measure] is not None:
            series.setdefault((row["run"], row["group"]), []).append(row)
    coefs = sorted({r["ent_coef"] for r in rows})
    runs = sorted({run for run, _ in series})
    styles = ("-", "--", ":", "-.")
    for (run, group), stages in series.items():
        stages = sorted(stages, key=lambda r: r["update"])
        color = f"C{coefs.index(stages[0]['ent_coef'])}"
        style = styles[runs.index(run) % len(styles)]
        label = group if len(runs) == 1 else f"{group} ({run})"
        gaps = [r[measure] for r in stages]
        errors = [r[f"{measure}_se"] or 0.0 for r in stages]
        sizes = np.linspace(2.5, 6, len(stages))
        for ax, key in zip(axes, ("sp_greedy", "entropy"), strict=True):
            xs = [np.nan if r[key] is None else r[key] for r in stages]
            ax.errorbar(xs, gaps, yerr=errors, color=color, ls=style, lw=1, label=label)
            ax.scatter(xs, gaps, s=sizes**2, color=color, zorder=3)
    axes[0].set_xlabel("SP, argmax-greedy")
    axes[1].set_xlabel("policy entropy at that stage (nats)")
    for ax in axes:
        ax.set_ylabel(STAGE_MEASURES[measure])
        ax.axhline(0.0, color="grey", lw=0.6)
    axes[1].invert_xaxis()  # training lowers the entropy: stages left to right
    legend_below(axes[0], ncols=2)


def plot_conventions(ax: Any, counts: np.ndarray, names: list[str], title: str) -> Any:
    """An agent's conditional action matrix P(partner's next action | my
    action) from its counts float[A, A] (`marl.deep.conventions`), rows its
    actions, columns the partner's answer; rows it never takes are blank."""
    rows = counts.sum(-1, keepdims=True)
    probs = np.where(rows > 0, counts / np.maximum(rows, 1e-30), np.nan)
    image = ax.imshow(probs, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=5)
    ax.set_yticks(range(len(names)), names, fontsize=5)
    ax.set_xlabel("partner's next action")
    ax.set_ylabel("my action")
    ax.set_title(title)
    return image


def save_crossplay_figures(results: dict[str, Any], path: pathlib.Path) -> None:
    """The sampled and argmax-greedy cross-play matrices side by side, one colour
    scale, the blocks of agents trained alike named on the axes; then the
    sampled cross-play between groups, each cell with its 95% interval."""
    matrices = [np.asarray(results[f"matrix{kind}"]) for kind in ("", "_greedy")]
    limits = (min(m.min() for m in matrices), max(m.max() for m in matrices))
    groups = [agent["group"] for agent in results["agents"]]
    with style():
        fig, axes = figure(1, 2, figsize=(2 * PANEL[0], PANEL[1] + 0.6))
        for ax, kind, matrix in zip(axes, ("", "_greedy"), matrices, strict=True):
            kind_name = "argmax-greedy" if kind else "sampled"
            title = f"{results['game']}\n{kind_name} policies"
            plot_crossplay_heatmap(ax, matrix, title, limits, blocks=groups)
            ax.set_xlabel("agent in seat 2")
            ax.set_ylabel("agent in seat 1")
        save_figure(fig, path)
        groups, mean, half = group_table(results)
        side = 1.2 + 0.75 * len(groups)
        fig, ax = figure(figsize=(side + 1.5, side))
        title = f"{results['game']}\nbetween groups (sampled), 95% intervals"
        plot_crossplay_heatmap(ax, mean, title, limits, labels=groups, intervals=half)
        ax.set_xlabel("group in seat 2")
        ax.set_ylabel("group in seat 1")
        save_figure(fig, path.with_name(path.stem + "_groups.png"))
