"""The comparison's columns (experiments/reports/tables.py): what a tau* bracket's ends
rest on, from its `proven_ends`."""

from __future__ import annotations

from experiments.reports.tables import SUMMARY_SCREEN, ends_rest_on, format_table


def test_a_bracket_says_which_ends_are_proven_and_an_agreeing_lower_end():
    def search(**proven):
        return {"tau_star": 0.3, "upper": 0.3, "proven_ends": proven or None}

    assert ends_rest_on({"tau_star": None}) is None
    assert ends_rest_on(search()) == "estimated"
    assert ends_rest_on({"tau_star": 0.3, "proven_ends": {"skipped": "too large"}}) == (
        "estimated"
    )
    both = search(upper_agreement_proven=True, lower_disagreement_proven=True)
    assert ends_rest_on(both) == "proven"
    assert ends_rest_on(search(lower_disagreement_proven=True)) == "lower proven"
    # BAD's lower end 4.08: every seed proven at one fixed point, no disagreement.
    agreeing = search(upper_agreement_proven=True, lower_agreement_proven=True)
    assert ends_rest_on(agreeing) == "upper proven; lower end proven agreement"
    # Box pushing's upper end 2.08 estimated, agreement proven at 2.35 and 2.655
    # by the search's test: the smallest is said.
    settled = {**search(), "proven_agreements": [0.25, 2.655, 2.35]}
    assert ends_rest_on(settled) == "estimated; agreement proven at 2.35"
    settled["proven_ends"] = {"upper_agreement_proven": True}
    assert ends_rest_on(settled) == "upper proven"


def test_the_summary_prints_the_bracket_rounded_outward():
    """coordination_3's bracket (0.36016, 0.36426] holds its fold 0.364213:
    printed to 4 digits it must still hold it (issue 56)."""
    row = {"game": "coordination_3", "tau_star_lower": 0.36016, "tau_star": 0.36426}
    table = format_table([row], SUMMARY_SCREEN, legend=None)
    assert "0.3601" in table and "0.3643" in table
    assert "0.3602" not in table and "0.3642" not in table


def test_the_markdown_row_of_a_run_says_both_brackets_and_what_they_rest_on():
    """`compare --markdown`'s row of one run: coordination_3's tau_agree
    (0.36016, 0.36426] rounded outward with its ends proven, the seeds
    converged at its upper end, tau_unique (0.3634, 0.3715] beside it, the fold
    and branch point met, the search at the upper end; a benchmark too large to
    trace says why. The table is one line per row and no cell holds a pipe."""
    from experiments.reports.study_tables import markdown_rows, markdown_table

    search = {
        "tau_star": 0.36426,
        "lower": 0.36016,
        "upper": 0.36426,
        "upper_verdict": {"converged": 32, "seeds": 32, "steps": 7000},
        "proven_ends": {
            "upper_agreement_proven": True,
            "lower_disagreement_proven": True,
            "uniqueness_search": [
                {"proven_fixed_points": 1, "settled": 19, "starts": 43}
            ],
        },
        "uniqueness": {
            "lower": 0.36341,
            "upper": 0.37149,
            "lower_proven": True,
            "upper_proven": True,
            "folds": [{"tau": 0.364213}],
            "branch_points": [{"tau": 1 / 3}],
        },
    }
    results = {
        "game": "coordination_3",
        "horizon": 1,
        "num_seeds": 32,
        "symmetry": {"order": 6},
        "points": [{"tau": 0.5, "best_sp": 1.0}],
        "critical_tau": search,
    }
    big = {
        **results,
        "game": "box_pushing",
        "horizon": 3,
        "critical_tau": {"uniqueness": {"skipped": "608 policy variables"}},
    }
    rows = markdown_rows([(None, results), (None, big)])
    assert (
        rows[0]["game"] == "coordination_3" and rows[1]["game"] == "box_pushing (h 3)"
    )
    assert rows[0]["tau_agree in"] == "(0.3601, 0.3643] (proven)"
    assert rows[0]["converged at its upper end (steps)"] == "32/32 (7,000)"
    assert rows[0]["tau_unique in"] == "(0.3634, 0.3715] (proven)"
    assert rows[0]["folds, branch points"] == "folds 0.3642; branch points 0.3333"
    assert rows[0]["search at tau_agree's upper end"] == "1 (19 of 43)"
    assert rows[1]["tau_unique in"] == "not traced: 608 policy variables"
    table = markdown_table(rows).splitlines()
    assert len(table) == 4 and all(line.count("|") == 12 for line in table)


def test_a_grid_aligns_its_columns_by_letter_and_defaults_past_the_end():
    from experiments.reports.study_tables import markdown_grid

    table = markdown_grid(["a", "b", "c"], [["1", "x", "2"]], "r-")
    assert table == "| a | b | c |\n|---:|---|---|\n| 1 | x | 2 |"
