"""experiments/reports/across_implementations.py: the tests registered in
docs/studies/jaxmarl_crossplay_preregistered.md, on a cross-play whose answer
is planted."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.reports.across_implementations import (
    pairings,
    registered_markdown,
    registered_tests,
    summary,
)


def test_the_registered_tests_find_a_boundary_only_the_low_coefficient_pays():
    """Five seeds a side at each coefficient (agents listed ours then theirs,
    as the cross-play lists its runs): cells an agent's skill plus noise, less
    2 across the boundary at 0.01 only. The answer is "yes": the primary test
    and 0.01's boundary test reject, 0.1's does not; the statistic is the
    boundary gap of 0.01's agents less 0.1's, over 2^10 relabelings."""
    rng = np.random.default_rng(1)
    agents = [
        {"run": run, "ent_coef": coef, "seed": seed}
        for run in ("ours", "theirs")
        for coef in (0.01, 0.1)
        for seed in range(5)
    ]
    side = np.array([a["run"] == "theirs" for a in agents])
    low = np.array([a["ent_coef"] == 0.01 for a in agents])
    skill = rng.normal(0.0, 0.3, 20) + 1.0 * side
    across = side[:, None] != side[None, :]
    greedy = 6.0 + skill[:, None] + skill[None, :] + rng.normal(0.0, 0.1, (20, 20))
    greedy -= 2.0 * (across & low[:, None] & low[None, :])
    results = {"agents": agents, "matrix_greedy": greedy, "matrix": greedy - 0.5}
    tests = registered_tests(results, "ours", [0.1, 0.01])
    assert tests["answer"] == "yes"
    primary, per_coef = tests["primary"], tests["per_coef"]
    assert primary["exact"] and primary["relabelings"] == 2**10
    assert primary["statistic"] == pytest.approx(
        per_coef["0.01"]["gap"] - per_coef["0.1"]["gap"]
    )
    assert per_coef["0.01"]["gap"] == pytest.approx(2.0, abs=0.1)
    assert per_coef["0.01"]["reject"] and not per_coef["0.1"]["reject"]
    assert per_coef["0.1"]["relabelings"] == 252
    text = registered_markdown(tests)
    assert "Answer: yes." in text
    assert f"| 0.01 | {per_coef['0.01']['gap']:.3f} |" in text
    # a unit with one coefficient only is refused, naming it
    with pytest.raises(ValueError, match=r"\(1, 4\)"):
        registered_tests({**results, "agents": agents[:-1]}, "ours", [0.01, 0.1])


def test_the_summary_names_ours_as_the_run_that_is_not_theirs():
    """`summary` (the benchmark's summary.json and summary.md) finds our run
    as the one that is not theirs, whichever order the cross-play lists them
    in, and holds the four pairings of each coefficient and matrix beside the
    registered tests."""
    agents = [
        {"run": run, "ent_coef": coef, "seed": seed}
        for run in ("/x/theirs", "/x/ours")
        for coef in (0.01, 0.1)
        for seed in range(3)
    ]
    rng = np.random.default_rng(0)
    greedy = rng.normal(5.0, 1.0, (12, 12))
    results = {"agents": agents, "matrix_greedy": greedy, "matrix": greedy - 1.0}
    content, text = summary(results, "/x/theirs", [0.01, 0.1])
    assert content["pairings"] == pairings(results, "/x/ours", "/x/theirs")
    assert content["registered"] == registered_tests(results, "/x/ours", [0.01, 0.1])
    assert [(r["ent_coef"], r["matrix"]) for r in content["pairings"]] == [
        (0.01, "greedy"),
        (0.1, "greedy"),
        (0.01, "sampled"),
        (0.1, "sampled"),
    ]
    theirs_sp = np.diag(greedy)[:3].mean()  # theirs listed first here
    assert content["pairings"][0]["sp_theirs"] == pytest.approx(theirs_sp)
    assert text.endswith(registered_markdown(content["registered"]))
