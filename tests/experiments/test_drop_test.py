"""The pre-registered analysis of docs/studies/hanabi_1life_grid.md
(experiments.reports.drop_test) on made-up cross-plays, before any of the
grid's: the drop as defined, the exact paired test against brute force, the
matching rule, Holm's steps, and a strong effect found where it was put."""

import itertools

import numpy as np
import pytest

from experiments.reports import drop_test

SEEDS = 16


def made_up(sp: dict[float, float], drop: dict[float, float], seed: int = 0) -> dict:
    """A cross-play of 16 seeds per coefficient: each agent scores `sp` with
    itself and `sp - drop` (plus noise) with its 5 permuted copies."""
    rng = np.random.default_rng(seed)
    agents, scores = [], []
    for coef in sp:
        for k in range(SEEDS):
            agents.append({"ent_coef": coef, "seed": k, "run": "r", "step": 1})
            copies = sp[coef] - drop[coef] + 0.05 * rng.standard_normal(5)
            scores.append([sp[coef], *copies])
    points = [{"ent_coef": c, "sp_greedy": s} for c, s in sp.items()]
    return {
        "agents": agents,
        "symmetry": {"permuted_copy_scores": scores},
        "points": points,
    }


def test_an_agents_drop_is_its_score_with_itself_less_its_mean_with_copies():
    results = {
        "agents": [{"ent_coef": 0.01, "seed": 3}, {"ent_coef": 0.1, "seed": 3}],
        "symmetry": {
            "permuted_copy_scores": [[2.0, 1.0, 1.5, 0.5], [1.0, 1.0, 1.0, 1.0]]
        },
    }
    assert drop_test.agent_drops(results) == {0.01: {3: 1.0}, 0.1: {3: 0.0}}
    results["agents"][1]["ent_coef"] = 0.01
    with pytest.raises(ValueError, match="two agents of seed 3"):
        drop_test.agent_drops(results)


def test_the_exact_sign_flip_test_is_the_brute_force_count():
    d = np.array([0.3, -0.1, 0.25, 0.05, 0.4, -0.2])
    found = drop_test.sign_flip_test(d)
    assert found["exact"] and found["relabelings"] == 2**6
    count = sum(
        np.mean([s * x for s, x in zip(signs, d, strict=True)]) >= d.mean() - 1e-12
        for signs in itertools.product((1, -1), repeat=6)
    )
    assert found["p_value"] == count / 64
    # beyond `draws` relabelings, random ones: near the exact share
    d = np.random.default_rng(0).normal(0.1, 0.5, 18)
    exact = drop_test.sign_flip_test(d, draws=2**18)
    drawn = drop_test.sign_flip_test(d, draws=20_000)
    assert exact["exact"] and not drawn["exact"] and drawn["relabelings"] == 20_000
    assert drawn["p_value"] == pytest.approx(exact["p_value"], abs=0.01)


def test_holm_compares_the_smaller_p_with_half_alpha_then_stops_at_the_first_kept():
    assert drop_test.holm({0.1: 0.01, 0.3: 0.04}) == {0.1: True, 0.3: True}
    assert drop_test.holm({0.1: 0.03, 0.3: 0.04}) == {0.1: False, 0.3: False}
    assert drop_test.holm({0.1: 0.06, 0.3: 0.02}) == {0.3: True, 0.1: False}
    assert drop_test.holm({0.1: 0.01}) == {0.1: True}


def test_the_matched_pair_is_the_closest_in_greedy_sp_within_ten_percent():
    sp = {
        100: {0.01: 1.0, 0.3: 0.5},
        300: {0.01: 2.0, 0.3: 0.95},
        600: {0.01: 3.0, 0.3: 1.4},
    }
    pair = drop_test.matched_pair(sp, 0.01, 0.3)
    assert (pair["low_step"], pair["high_step"]) == (100, 300) and pair["matched"]
    far = {100: {0.01: 3.0, 0.3: 1.0}, 300: {0.01: 4.0, 0.3: 2.0}}
    pair = drop_test.matched_pair(far, 0.01, 0.3)
    assert (pair["low_step"], pair["high_step"], pair["matched"]) == (100, 300, False)


def test_a_strong_effect_is_found_and_an_unmatched_coefficient_is_not_tested():
    coefs = (0.01, 0.03, 0.1, 0.3)
    drop = {0.01: 0.4, 0.03: 0.2, 0.1: 0.0, 0.3: 0.0}
    evaluations = {
        100: made_up({0.01: 1.5, 0.03: 1.4, 0.1: 1.2, 0.3: 0.6}, drop, seed=1),
        1200: made_up({0.01: 3.0, 0.03: 2.8, 0.1: 2.6, 0.3: 1.5}, drop, seed=2),
    }
    found = drop_test.report(evaluations)
    assert len(found["groups"]) == 2 * len(coefs)
    # 0.3 at 1,200 (1.5) matches 0.01 at 100 (1.5); 0.1's closest (1.5 vs 1.2,
    # 20% apart) is not matched: not tested
    t3, t1 = found["tests"][0.3], found["tests"][0.1]
    assert (t3["pair"]["low_step"], t3["pair"]["high_step"]) == (100, 1200)
    assert t3["test"]["exact"] and t3["test"]["p_value"] == 1 / 2**SEEDS
    assert t3["rejected"] is True
    assert not t1["pair"]["matched"] and "test" not in t1
    table = drop_test.markdown(found)
    assert "| 0.3 | 100, 1200 | 1.50, 1.50 |" in table and "rejected (Holm" in table
    assert "(not matched)" in table
    # no effect: the same drop at every coefficient keeps H0
    flat = {c: 0.2 for c in coefs}
    same = {
        100: made_up({0.01: 1.5, 0.03: 1.4, 0.1: 1.45, 0.3: 0.6}, flat, seed=3),
        1200: made_up({0.01: 3.0, 0.03: 2.8, 0.1: 2.6, 0.3: 1.5}, flat, seed=4),
    }
    kept = drop_test.report(same)["tests"]
    assert kept[0.3]["test"]["p_value"] > 0.01 and kept[0.1]["test"]["p_value"] > 0.01


def test_the_code_is_what_the_study_page_registered():
    from tests import ROOT

    page = (ROOT / "docs" / "studies" / "hanabi_1life_grid.md").read_text()
    registered = page.split("## Result")[0]
    assert drop_test.LOW == 0.01 and drop_test.HIGH == (0.1, 0.3)
    assert "each high coefficient c in {0.1, 0.3}" in registered
    assert f"at most {drop_test.MATCH_SHARE:.0%} of the larger" in registered
    assert f"alpha = {drop_test.ALPHA}" in registered
    # 16 seeds: every one of the 2^16 relabelings enumerated
    assert "2^16 = 65,536" in registered and drop_test.DRAWS >= 2**16
    assert "`experiments.reports.drop_test`" in registered


def test_p_values_below_a_thousandth_are_shown_as_counts():
    exact = {"p_value": 1 / 65536, "relabelings": 65536, "exact": True}
    assert drop_test.p_cell(exact) == "1/65,536 = 1.5e-05"
    assert drop_test.p_cell({**exact, "p_value": 0.0123}) == "0.0123"
    drawn = {"p_value": 2e-5, "relabelings": 100_000, "exact": False}
    assert drop_test.p_cell(drawn) == "2.0e-05"


def test_the_low_course_is_the_t_interval_of_the_mean_drop():
    """16 agents: the half width is t(0.975, 15) = 2.131 standard errors; the
    criterion is met by 1 point or by 10% of greedy SP."""
    found = {
        "groups": [
            {
                "step": 5,
                "ent_coef": 0.01,
                "sp_greedy": 3.0,
                "drop": 0.4,
                "drop_se": 0.1,
                "agents": 16,
            },
            {
                "step": 9,
                "ent_coef": 0.01,
                "sp_greedy": 20.0,
                "drop": 1.2,
                "drop_se": 0.1,
                "agents": 16,
            },
            {
                "step": 9,
                "ent_coef": 0.1,
                "sp_greedy": 3.0,
                "drop": 0.0,
                "drop_se": 0.1,
                "agents": 16,
            },
        ]
    }
    first, second = drop_test.low_course(found)
    assert first["low"] == pytest.approx(0.4 - 0.21314, abs=1e-4)
    assert first["high"] == pytest.approx(0.4 + 0.21314, abs=1e-4)
    assert first["meets"] and first["share"] == pytest.approx(0.4 / 3)
    assert second["meets"] and second["step"] == 9  # 1.2 points, 6% of SP


def test_the_study_page_shows_the_committed_grid_unedited():
    """docs/studies/hanabi_1life_grid.md's Result holds every table of
    `page` over docs/results/hanabi_1life_grid, and the test's verdicts."""
    from tests import ROOT

    directory = ROOT / "docs/results/hanabi_1life_grid"
    tested, every = drop_test.read_grid(directory)
    assert sorted(tested) == [100, 300, 600, 1200] and len(every) == 8
    found = drop_test.report(tested)
    assert all(t["rejected"] for t in found["tests"].values())
    result = (ROOT / "docs/studies/hanabi_1life_grid.md").read_text()
    result = result.split("## Result\n", 1)[1]
    for table in drop_test.page(directory).strip().split("\n\n"):
        assert table in result


def test_the_stages_figure_draws_the_committed_grid(tmp_path):
    """The figure is written, and its markers are the stage rows' points: the
    drop against greedy SP and against entropy, one marker a group and
    milestone."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection

    from experiments.reports import plots
    from tests import ROOT

    directory = ROOT / "docs/results/hanabi_1life_grid"
    path = tmp_path / "stages.png"
    drop_test.save_stages_figure(directory, path)
    assert path.read_bytes().startswith(b"\x89PNG")
    rows = drop_test.stage_rows(directory, drop_test.read_grid(directory)[1])
    rows = [r for r in rows if r["permuted_copy_drop"] is not None]
    fig, axes = plt.subplots(1, 2)
    plots.plot_matched_stages(axes, rows, "permuted_copy_drop")
    for ax, key in zip(axes, ("sp_greedy", "entropy"), strict=True):
        drawn = np.concatenate(
            [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
        )
        want = np.array([[r[key], r["permuted_copy_drop"]] for r in rows])
        order = np.lexsort(drawn.T[::-1]), np.lexsort(want.T[::-1])
        np.testing.assert_allclose(drawn[order[0]], want[order[1]])
    plt.close(fig)


def test_the_grid_tables_numbers_recompute_from_its_matrices():
    """What the page's tables take from each cross-play's points (greedy SP and
    XP, the permuted-copy drop) is the committed matrices' and scores' own:
    the diagonal and off-diagonal means of each group's greedy block, and the
    mean over its agents of identity minus permuted copies."""
    from tests import ROOT

    _, every = drop_test.read_grid(ROOT / "docs/results/hanabi_1life_grid")
    for results in every:
        matrix = np.asarray(results["matrix_greedy"])
        scores = np.asarray(results["symmetry"]["permuted_copy_scores"])
        for point in results["points"]:
            members = np.asarray(point["agents"])
            block = matrix[np.ix_(members, members)]
            off = ~np.eye(len(members), dtype=bool)
            assert block.diagonal().mean() == pytest.approx(
                point["sp_greedy"], abs=1e-6
            )
            assert block[off].mean() == pytest.approx(point["xp_greedy"], abs=1e-6)
            drop = scores[members, 0] - scores[members, 1:].mean(-1)
            assert drop.mean() == pytest.approx(point["permuted_copy_drop"], abs=1e-6)
