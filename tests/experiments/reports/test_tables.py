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
