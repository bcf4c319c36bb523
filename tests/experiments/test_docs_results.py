"""The summary files under docs/results/ back the numbers the docs state:
each is read back and checked against the claim (no retraining)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from tests import ROOT

RESULTS = ROOT / "docs" / "results"


def read(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())


def first_steps_at(run: pathlib.Path, score: float) -> list[int | None]:
    """Per entropy coefficient, the env steps of the first logged chunk whose
    training return, averaged over seeds, reaches `score`."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    returns = np.array([r["return"] for r in records], dtype=float).mean(-1)
    steps = [r["env_steps"] for r in records]
    return [
        steps[int(np.argmax(curve >= score))] if (curve >= score).any() else None
        for curve in returns.T
    ]


def test_recipe_candidate_reaches_the_documented_scores():
    run = RESULTS / "hanabi_3c3r_recipe"
    training = read(run / "results.json")
    assert training["game"] == "Hanabi 3c x 3r, hand 3, 5 hints, 3 lives"
    assert training["ent_coefs"] == [0.01, 0.05]
    assert first_steps_at(run, 7.5) == [7_372_800, 4_915_200]
    assert first_steps_at(run, 8.0) == [11_673_600, 8_192_000]
    crossplay = read(run / "crossplay" / "results.json")
    greedy = [p["sp_greedy"] for p in crossplay["points"]]
    assert greedy == pytest.approx([8.215, 8.507], abs=5e-4)
    assert all(value >= 7.5 for value in greedy)
    assert crossplay["symmetry"]["num_permutations"] == 6


def test_color_grid_holds_what_its_study_states():
    """docs/studies/hanabi_3c3r.md, "The grid": 8 seeds x 3 coefficients, the color
    group of order 6, every agent's equivariance error under every permutation, the per-
    coefficient SP/XP table and a coefficient whose greedy SP is >= 7.5."""
    from experiments.deep.crossplay_results import between_groups

    run = RESULTS / "hanabi_3c3r"
    training = read(run / "results.json")
    assert training["game"] == "Hanabi 3c x 3r, hand 3, 5 hints, 3 lives"
    assert training["ent_coefs"] == [0.01, 0.03, 0.1]
    assert training["num_seeds"] == 8
    assert training["env_steps_per_run"] == 9_830_400
    xp = read(run / "crossplay" / "results.json")
    assert xp["num_agents"] == 24 and xp["num_games"] == 2000
    points = xp["points"]
    assert [p["ent_coef"] for p in points] == [0.01, 0.03, 0.1]
    assert [p["num_seeds"] for p in points] == [8, 8, 8]
    symmetry = xp["symmetry"]
    assert symmetry["num_permutations"] == 6 and len(symmetry["permutations"]) == 6
    errors = np.asarray(symmetry["equivariance_error"])
    assert errors.shape == (24, 6) and np.all(errors[:, 0] == 0)
    table = {
        "sp": [7.026, 7.532, 7.558],
        "xp": [6.436, 7.198, 7.528],
        "xp_gap": [0.590, 0.334, 0.029],
        "sp_greedy": [7.148, 7.708, 8.283],
        "xp_greedy": [6.553, 7.371, 8.267],
        "equivariance_error": [0.128, 0.119, 0.121],
        "permuted_xp": [6.908, 7.416, 7.609],
    }
    for name, values in table.items():
        got = [p[name] for p in points]
        assert got == pytest.approx(values, abs=5e-4), name
    assert [p["xp_gap_p"] for p in points] == pytest.approx(
        [0.005, 0.013, 0.021], abs=5e-4
    )
    assert max(p["sp_greedy"] for p in points) >= 7.5
    members = [p["agents"] for p in points]
    greedy = np.asarray(between_groups(np.asarray(xp["matrix_greedy"]), members))
    np.testing.assert_allclose(
        greedy,
        [[6.553, 6.978, 7.117], [6.898, 7.371, 7.621], [6.981, 7.562, 8.267]],
        atol=5e-4,
    )


def test_other_play_baseline_holds_what_its_study_states():
    run = RESULTS / "hanabi_3c3r_op"
    training = read(run / "results.json")
    assert training["ent_coefs"] == [0.01] and training["num_seeds"] == 8
    assert training["config"]["ippo"]["other_play"] is True
    xp = read(run / "crossplay" / "results.json")
    [point] = xp["points"]
    assert xp["symmetry"]["num_permutations"] == 6
    table = {
        "sp": 7.036,
        "xp": 6.692,
        "xp_gap": 0.343,
        "xp_gap_p": 0.044,
        "sp_greedy": 7.147,
        "xp_greedy": 6.815,
        "equivariance_error": 0.088,
        "permuted_xp": 7.090,
    }
    for name, value in table.items():
        assert point[name] == pytest.approx(value, abs=5e-4), name


def test_hanabi_full_gpu_run_holds_what_its_study_states():
    """docs/studies/hanabi_full_gpu.md: the preset with GAE lambda 0.9,
    the training returns at updates 110 and 210, and SP/XP per coefficient
    recomputed from the committed matrices (4 agents per coefficient)."""
    run = RESULTS / "hanabi_full_gpu"
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    assert [r["update"] for r in records] == list(range(10, 220, 10))
    config = (run / "config.yaml").read_text()
    assert "preset: Hanabi-Full" in config and "gae_lambda: 0.9\n" in config
    by_update = {r["update"]: r for r in records}
    for update, steps, means in (
        (110, 14_417_920, [4.80, 4.77]),
        (210, 27_525_120, [5.24, 5.47]),
    ):
        record = by_update[update]
        assert record["env_steps"] == steps
        assert np.mean(record["return"], axis=1) == pytest.approx(means, abs=5e-3)
    assert sum(r["seconds"] for r in records) == pytest.approx(461, abs=1)

    documented = {
        "crossplay_update110": {
            "": ([4.78, 4.74], [4.74, 4.71]),
            "_greedy": ([4.70, 4.83], [4.70, 4.85]),
        },
        "crossplay": {
            "": ([5.22, 5.70], [4.80, 5.43]),
            "_greedy": ([5.28, 5.90], [4.73, 5.59]),
        },
    }
    for folder, kinds in documented.items():
        xp = read(run / folder / "results.json")
        assert xp["num_games"] == 1000 and xp["num_agents"] == 8
        for kind, (sp_doc, xp_doc) in kinds.items():
            matrix = np.asarray(xp[f"matrix{kind}"])
            for k, point in enumerate(xp["points"]):
                block = matrix[np.ix_(point["agents"], point["agents"])]
                off = ~np.eye(4, dtype=bool)
                assert np.diag(block).mean() == pytest.approx(sp_doc[k], abs=5e-3)
                assert block[off].mean() == pytest.approx(xp_doc[k], abs=5e-3)
        drops = [p["permuted_self_play"] - p["permuted_xp"] for p in xp["points"]]
        assert drops == pytest.approx(
            [0.06, 0.01] if folder != "crossplay" else [0.14, 0.06], abs=5e-3
        )


def matched_stage_rows() -> list[list[str]]:
    """The table rows of docs/studies/hanabi_3c3r.md, "Conventions at matched
    stages"."""
    section = doc_section("## Conventions at matched stages", "studies/hanabi_3c3r.md")
    rows, header = [], ""
    for line in section.splitlines():
        if not line.startswith("|"):
            header = ""
        elif not header:
            header = line
        elif header.startswith("| run ") and line.startswith("| "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def stage_source(run: str, update: int) -> tuple[pathlib.Path, pathlib.Path]:
    """The committed cross-play results and run directory of a row."""
    first, more = RESULTS / "hanabi_3c3r_gpu", RESULTS / "hanabi_3c3r_gpu_more"
    if run in ("grid", "switch", "small", "three"):
        folder = {"grid": f"grid_{update}", "switch": f"switch_{update}"}.get(run, run)
        return first / "crossplay" / folder / "results.json", first / run
    return more / "crossplay" / f"{run}_{update}" / "results.json", more / run


def test_matched_stages_table_recomputes_from_the_committed_matrices():
    """Every row: SP and XP (argmax-greedy) from the cross-play matrix, the gap,
    the policy entropy from metrics.jsonl, the permuted-copy drop from the
    per-agent scores, the convention count from the aligned distances."""
    from marl.deep.conventions import clusters

    rows = matched_stage_rows()
    assert len(rows) == 24 + 2 + 4 + 12
    for run, update, steps, coef, entropy, sp, xp, gap, drop, count in rows:
        update_n, coef_f = int(update.replace(",", "")), float(coef)
        path, run_dir = stage_source(run, update_n)
        results = read(path)
        agents = [
            k
            for k, a in enumerate(results["agents"])
            if pathlib.PurePath(a["run"]).name == run
            and a["ent_coef"] == coef_f
            and a["step"] == update_n
        ]
        assert len(agents) == 8, (run, update, coef)
        matrix = np.asarray(results["matrix_greedy"])
        block = matrix[np.ix_(agents, agents)]
        sp_value = np.diag(block).mean()
        assert sp_value == pytest.approx(float(sp), abs=5e-4)
        point = next(p for p in results["points"] if p["agents"] == agents)
        gap_value, gap_se = (float(x) for x in gap.split(" ± "))
        if results["num_players"] == 2:
            xp_value = block[~np.eye(8, dtype=bool)].mean()
            assert xp_value == pytest.approx(float(xp), abs=5e-4)
            assert sp_value - xp_value == pytest.approx(gap_value, abs=1e-3)
        else:  # XP over assignments of distinct agents, the paired gap
            assert point["xp_greedy"] == pytest.approx(float(xp), abs=5e-4)
            assert point["xp_greedy_gap"] == pytest.approx(gap_value, abs=5e-4)
        assert point["xp_greedy_gap_se"] == pytest.approx(gap_se, abs=5e-4)
        copies = np.asarray(results["symmetry"]["permuted_copy_scores"])[agents]
        drops = copies[:, 0] - copies[:, 1:].mean(-1)
        assert drops.mean() == pytest.approx(float(drop.split(" ± ")[0]), abs=5e-4)
        distances = np.asarray(results["conventions"]["aligned_distance"])
        labels = clusters(distances[np.ix_(agents, agents)], 0.1)
        assert max(labels) + 1 == int(count)
        records = {
            r["update"]: r for r in map(json.loads, (run_dir / "metrics.jsonl").open())
        }
        record = records[update_n]
        assert f"{record['env_steps'] / 1e6:.1f}M" == steps
        e = record["ent_coefs"].index(coef_f)
        assert np.mean(record["entropy"][e]) == pytest.approx(float(entropy), abs=5e-3)


def test_learning_curve_table_is_the_benchmarks_output():
    """docs/benchmarks_ippo.md's steps-to-score table of the like-for-like run is the
    committed output of that run, and ours with JaxMARL's network shape and
    observation reaches every score in no more env steps than theirs."""
    log = (RESULTS / "ippo_learning_curve" / "2026-11-26_like_for_like.txt").read_text()
    doc = (ROOT / "docs" / "benchmarks_ippo.md").read_text()
    section = doc.split("Env steps per run to reach a score")[1].split("\n\n")[1]

    def table(text: str) -> dict[str, list[str]]:
        rows = [line for line in text.splitlines() if line.startswith("| ")]
        return {
            row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]]
            for row in rows
            if row.split("|")[1].strip()[0].isdigit()
        }

    logged = table(log.split("env steps per run to reach a score")[1])
    documented = table(section)
    assert documented and all(documented[s] == logged[s] for s in documented)
    for score, (_, _, shared, theirs) in documented.items():
        if theirs != "not reached":
            assert int(shared.replace(",", "")) <= int(theirs.replace(",", "")), score


def test_gpu_ippo_throughput_table_is_the_benchmarks_output():
    """docs/benchmarks_ippo.md's GPU table of IPPO training, ours beside JaxMARL's,
    is the committed output of `scripts/gpu_ippo_throughput.sh`, cell by cell."""
    section = doc_section("## IPPO training: ours vs JaxMARL", "benchmarks_ippo.md")
    rows = section.split("| games x steps per update |")[1].split("\n\n")[0]
    rows = [line for line in rows.splitlines()[2:] if line.startswith("| ")]
    assert len(rows) == 4
    for line in rows:
        sizes, updates, ours, theirs, ratios = (
            cell.strip() for cell in line.strip("|").split("|")
        )
        games = sizes.split(" x ")[0].replace(",", "")
        log = RESULTS / "ippo_throughput_gpu" / f"ippo_{games}_{updates}.txt"
        text = log.read_text()
        assert "backend gpu" in text and f"x {updates} updates =" in text
        logged = {
            row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]]
            for row in text.splitlines()
            if row.startswith("| ")
        }
        for cell, name in (
            (ours, "ours (marl.deep.ippo)"),
            (theirs, "JaxMARL ippo_ff_hanabi"),
        ):
            assert cell == f"{logged[name][3]} ({logged[name][4]})", log
        ratio = logged["**ours / JaxMARL**"]
        assert ratios == f"{ratio[3].strip('*')} ({ratio[4].strip('*')})", log


def section_rows(heading: str, first_cell: str, doc: str) -> list[list[str]]:
    """The rows of the first table after `heading` in docs/<doc> whose header
    row starts with `first_cell`."""
    section = doc_section(heading, doc)
    table = section.split(f"| {first_cell} |")[1].split("\n\n")[0]
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in table.splitlines()[2:]
        if line.startswith("| ")
    ]


def test_bot_and_cross_run_tables_recompute_from_the_committed_results():
    """docs/agents.md: the bots' self-play is the benchmark's committed output;
    docs/studies/hanabi_3c3r.md: every cell of the cross-run table is the
    committed evaluation's group mean and 95% half-width."""
    from experiments.reports.pairs import group_table

    selfplay = read_rows(RESULTS / "hanabi_bots" / "selfplay_2p.json")
    rows = section_rows("# Agents you can use", "bot", "agents.md")
    assert len(rows) == 4
    for row, measured in zip(rows, selfplay, strict=True):
        assert row[0].lower().replace(" ", "_") == measured["bot"]
        cells = [measured, measured["by_position"], measured["original"]]
        cells.append(measured["v1"])
        for cell, result in zip(row[1:5], cells, strict=True):
            mean, se = (float(x) for x in cell.split(" ± "))
            assert (mean, se) == (round(result["mean"], 2), round(result["se"], 2))
        assert float(row[5]) == measured["jax_aht"]
        replay = measured["replay"]
        assert row[6] == f"{replay['allowed']:,} of {replay['moves']:,}"
    results = read(RESULTS / "hanabi_3c3r_crossrun" / "crossplay" / "results.json")
    assert results["num_games"] == 2000 and results["num_agents"] == 36
    groups, mean, half = group_table(results, "_greedy")
    rows = section_rows(
        "## Trained agents with bots, and across runs",
        "seat 1 / seat 2",
        "studies/hanabi_3c3r.md",
    )
    assert len(rows) == len(groups) == 8
    for a, row in enumerate(rows):
        for b, cell in enumerate(row[1:]):
            value, width = (float(x) for x in cell.split(" ± "))
            assert value == pytest.approx(mean[a, b], abs=5e-3), (a, b)
            assert width == pytest.approx(half[a, b], abs=5e-3), (a, b)


def doc_section(heading: str, doc: str) -> str:
    """The text of docs/<doc> from `heading` to the next heading of its level."""
    text = (ROOT / "docs" / doc).read_text()
    level = heading.split(" ")[0]
    return text.split(heading)[1].split(f"\n{level} ")[0]


def read_rows(path: pathlib.Path) -> list[dict]:
    return json.loads(path.read_text())


def shown(cell: str, value: float | None) -> bool:
    """A documented number is `value` to the digits it shows (2 significant
    digits for scientific notation)."""
    cell = cell.replace(",", "").strip()
    if value is None:
        return cell == "-"
    if "e" in cell:
        return value == pytest.approx(float(cell), rel=0.05)
    decimals = len(cell.split(".")[1]) if "." in cell else 0
    return abs(float(cell) - value) <= 0.5 * 10**-decimals + 1e-9


def pair(cell: str) -> list[str]:
    return [part.strip() for part in cell.split("/")]


MICRO_HANABI = {
    "hanabi_micro": "### The exact phase diagram (`hanabi_micro`, 8 turns)",
    "hanabi_micro_2l": "### The second size (`hanabi_micro_2l`, two lives, 8 turns)",
}


@pytest.mark.parametrize("name", list(MICRO_HANABI))
def test_micro_hanabi_exact_tables_recompute_from_the_committed_runs(name):
    """docs/hanabi_exact.md: every cell of the exact phase diagram of both sizes
    (SP, XP, tie-aware greedy SP / XP, conventions, converged seeds,
    equivariance error, Other-Play XP) and the tau* bracket are the committed
    run's results.json."""
    results = read(RESULTS / name / "exact" / "results.json")
    assert (results["game"], results["horizon"], results["num_seeds"]) == (name, 8, 8)
    heading = MICRO_HANABI[name]
    rows = section_rows(heading, "tau", "hanabi_exact.md")
    points = results["points"]
    assert [float(row[0]) for row in rows] == [p["tau"] for p in points]
    other_play = {p["tau"]: p for p in results.get("other_play", {}).get("points", [])}
    for row, p in zip(rows, points, strict=True):
        sp, xp, greedy, conventions, converged, error = row[1:7]
        assert shown(sp, p["sp"]) and shown(xp, p["xp"]), row
        greedy_sp, greedy_xp = pair(greedy)
        assert shown(greedy_sp, p["sp_greedy_ties"]), row
        assert shown(greedy_xp, p["xp_greedy_ties"]), row
        assert int(conventions) == p["num_conventions"], row
        assert converged == f"{p['converged']}/{results['num_seeds']}", row
        assert shown(error, p["equivariance_error"]), row
        if other_play:
            assert shown(row[7], other_play[p["tau"]]["xp"]), row
    search = results["critical_tau"]
    bracket = f"**tau\\* is in ({search['lower']:.4g}, {search['tau_star']:.4g}]**"
    assert bracket in doc_section(heading, "hanabi_exact.md")


MICRO_IPPO = {
    "hanabi_micro": "### IPPO on the same game",
    "hanabi_micro_2l": "### IPPO on the second size (`hanabi_micro_2l`, 8 turns)",
}


@pytest.mark.parametrize("name", list(MICRO_IPPO))
def test_micro_hanabi_ippo_tables_recompute_from_the_committed_runs(name):
    """docs/hanabi_exact.md: IPPO's rows beside the exact phase diagram (SP, XP,
    the gap and its standard error, argmax SP / XP and the equivariance error
    from the committed cross-play; the exact value of the policy read at the
    information states IPPO's play reaches and its total variation from the
    exact fixed points from the committed `hanabi_compare.json`)."""
    run = RESULTS / name
    training = read(run / "ippo" / "results.json")
    assert training["num_seeds"] == 8 and "cut after 8 turns" in training["game"]
    crossplay = {
        p["ent_coef"]: p
        for p in read(run / "ippo" / "crossplay" / "results.json")["points"]
    }
    compare = read(run / "compare" / "hanabi_compare.json")
    assert compare["game"] == name and compare["horizon"] == 8
    taus = compare["taus"]
    search = read(run / "exact" / "results.json")["critical_tau"]
    above = min(t for t in taus if t >= search["tau_star"])
    rows = section_rows(MICRO_IPPO[name], "ent_coef", "hanabi_exact.md")
    assert [float(row[0]) for row in rows] == [e["ent_coef"] for e in compare["ippo"]]
    for row, entry in zip(rows, compare["ippo"], strict=True):
        point = crossplay[entry["ent_coef"]]
        sp, value, xp, gap, greedy, error, tv_above, nearest, nearest_tv = row[1:]
        assert shown(sp, point["sp"]) and shown(xp, point["xp"]), row
        assert shown(value, entry["exact_value"]), row
        gap_value, gap_se = gap.rstrip(")").split(" (")
        assert shown(gap_value, point["xp_gap"]), row
        assert shown(gap_se, point["xp_gap_se"]), row
        greedy_sp, greedy_xp = pair(greedy)
        assert shown(greedy_sp, point["sp_greedy"]), row
        assert shown(greedy_xp, point["xp_greedy"]), row
        assert shown(error, point["equivariance_error"]), row
        assert shown(tv_above, entry["tv_by_tau"][taus.index(above)]), row
        assert float(nearest) == entry["nearest_tau"], row
        assert shown(nearest_tv, entry["nearest_tv"]), row


def test_micro_hanabi_sampled_table_recomputes_from_the_committed_runs():
    """docs/hanabi_exact.md, "The tabular sampled learner": the exact and the
    sampled learner's SP / XP, its greedy SP / XP and equivariance error."""
    rows = section_rows("### The tabular sampled learner", "game", "hanabi_exact.md")
    assert len(rows) == 12
    for row in rows:
        results = read(RESULTS / row[0] / "exact" / "results.json")
        tau = float(row[1])
        [exact_point] = [p for p in results["points"] if p["tau"] == tau]
        [sampled] = [p for p in results["sampled"]["points"] if p["tau"] == tau]
        exact_sp, exact_xp = pair(row[2])
        assert shown(exact_sp, exact_point["sp"]) and shown(exact_xp, exact_point["xp"])
        sampled_sp, rest = pair(row[3])
        sampled_xp, se = rest.rstrip(")").split(" (")
        assert shown(sampled_sp, sampled["sp"]) and shown(sampled_xp, sampled["xp"])
        assert shown(se, sampled["xp_se"]), row
        greedy_sp, greedy_xp = pair(row[4])
        assert shown(greedy_sp, sampled["sp_greedy"]), row
        assert shown(greedy_xp, sampled["xp_greedy"]), row
        assert shown(row[5], sampled["equivariance_error"]), row


def test_convention_counts_across_tolerances_recompute_from_the_evaluations():
    """docs/studies/hanabi_3c3r.md, "The counts across tolerances": every cell
    is the grid group's count at 0.1 with the merge heights around 0.1, and the
    last column the tolerances where 0.1 is one convention and 0.01 at least 6."""
    from marl.deep.conventions import merge_heights

    section = doc_section("## Conventions at matched stages", "studies/hanabi_3c3r.md")
    table = section.split("| update | 0.01 | 0.03 | 0.1 | 0.3 |")[1].split("\n\n")[0]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in table.splitlines()[2:]
        if line.startswith("| ")
    ]
    assert len(rows) == 4

    def cell(heights: np.ndarray) -> str:
        below = heights[heights < 0.1]
        above = heights[heights >= 0.1]
        low = f"{below.max():.3f}" if below.size else "0.000"
        high = f"{above.min():.3f}]" if above.size else "∞)"
        return f"{len(heights) + 1 - below.size}: ({low}, {high}"

    for row in rows:
        update = int(row[0].replace(",", ""))
        results = read(
            RESULTS
            / "hanabi_3c3r_gpu"
            / "crossplay"
            / f"grid_{update}"
            / "results.json"
        )
        between = np.asarray(results["conventions"]["aligned_distance"])
        heights = {}
        for coef in (0.01, 0.03, 0.1, 0.3):
            agents = [
                k
                for k, a in enumerate(results["agents"])
                if pathlib.PurePath(a["run"]).name == "grid"
                and a["ent_coef"] == coef
                and a["step"] == update
            ]
            assert len(agents) == 8
            heights[coef] = merge_heights(between[np.ix_(agents, agents)])
        assert row[1:5] == [cell(heights[c]) for c in (0.01, 0.03, 0.1, 0.3)]
        both = f"({heights[0.1].max():.3f}, {heights[0.01][2]:.3f}]"
        assert row[5] == both


def test_the_screen_table_recomputes_from_the_committed_cross_plays():
    """docs/studies/hanabi_screen.md: every row of its table is its size's
    committed cross-play (SP, greedy SP and XP, the permuted-copy drop and its
    share of SP, the convention count)."""
    page = (ROOT / "docs" / "studies" / "hanabi_screen.md").read_text()
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in page.splitlines()
        if line.startswith("| ")
        and line.split("|")[1].strip()[:2] in {"3c", "4c", "5c"}
    ]
    assert len(rows) >= 7
    for size, _, _, sp, sp_greedy, xp_greedy, drop, share, count in rows:
        (point,) = read(
            RESULTS / "hanabi_screen" / f"screen_{size}" / "crossplay.json"
        )["points"]
        assert point["ent_coef"] == 0.01 and point["num_seeds"] == 8
        assert sp == f"{point['sp']:.2f}" and sp_greedy == f"{point['sp_greedy']:.2f}"
        assert xp_greedy == f"{point['xp_greedy']:.2f}"
        value, se = point["permuted_copy_drop"], point["permuted_copy_drop_se"]
        assert drop == f"{value:.3f} +- {se:.3f}"
        assert share == f"{100 * value / point['sp']:.1f}%"
        assert count == str(point["num_conventions"])


def test_across_implementations_tables_recompute_from_the_committed_cross_play():
    """docs/studies/jaxmarl_crossplay_preregistered.md, "Result": the pairings and
    the registered tests recomputed from the committed cross-play (32 agents:
    8 seeds x 2 coefficients a side, 2,000 games a pair)."""
    from experiments.reports.across_implementations import summary

    run = RESULTS / "jaxmarl_crossplay"
    results = read(run / "crossplay" / "results.json")
    assert results["num_agents"] == 32 and results["num_games"] == 2000
    runs = sorted({a["run"] for a in results["agents"]})
    theirs = next(r for r in runs if r.endswith("theirs"))
    content, table = summary(results, theirs, [0.01, 0.1])
    assert content == read(run / "summary.json")
    assert (run / "summary.md").read_text() == table + "\n"
    # the study's Result quotes the tables unedited, and its answer
    page = (
        ROOT / "docs" / "studies" / "jaxmarl_crossplay_preregistered.md"
    ).read_text()
    assert table in page.split("## Result", 1)[1]
    assert content["registered"]["answer"] == "no"
