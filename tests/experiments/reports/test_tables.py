"""The comparison's columns (experiments/reports/tables.py): what a tau* bracket's ends
rest on, from its `proven_ends`."""

from __future__ import annotations

from experiments.reports.tables import ends_rest_on


def test_a_bracket_says_which_ends_are_proven_and_an_agreeing_lower_end():
    def search(**proven):
        return {"tau_star": 0.3, "proven_ends": proven or None}

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
