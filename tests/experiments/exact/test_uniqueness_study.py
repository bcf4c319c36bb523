"""The tau* study's `critical_tau.uniqueness` (experiments/exact/proofs.py):
a small matrix game gets its diagram and a proven tau_unique bracket around
its fold; a game over the tracer's size is skipped, in words, before its
history form is built."""

from __future__ import annotations

import json
from types import SimpleNamespace

from experiments.exact.proofs import critical_tau_json, uniqueness
from games import compile_game, make_spec
from marl.tabular import history_form
from marl.tabular.phase import AGREE, UNCERTAIN, Consensus, CriticalTau

SELF_PLAY = SimpleNamespace(
    config=SimpleNamespace(objective="selfplay", entropy_weighting="reach"),
    label="test",
)


def test_a_matrix_game_gets_its_diagram_and_a_proven_bracket():
    """coordination_2: the uniform branch's pitchfork at tau = 1/2 (A = I:
    I - F' has the eigenvalue 1 - 1/(2 tau))."""
    spec = make_spec("coordination_2")
    found, diagram = uniqueness(spec, compile_game(spec), SELF_PLAY, None)
    assert diagram is not None and found is not None
    assert found["lower"] < 0.5 < found["upper"] < 0.5 * 1.01
    assert found["lower_proven"] and found["upper_proven"]
    assert [round(b["tau"], 6) for b in found["branch_points"]] == [0.5]
    assert found["diagram"][0]["parent"] == -1
    assert json.loads(json.dumps(found)) == found  # JSON-ready


def test_a_dec_pomdp_gets_its_diagram_and_the_tracers_upper_end():
    """Dec-Tiger at horizon 2 (42 policy variables, 1,224 histories): traced,
    a lower end proven by two distinct fixed points, the upper end the
    tracer's (no whole-space proof for sequential games), and the notes say
    so."""
    spec = make_spec("dectiger", 2)
    found, diagram = uniqueness(spec, compile_game(spec), SELF_PLAY, None)
    assert diagram is not None and found is not None and "skipped" not in found
    assert found["folds"] and found["lower"] < found["estimate"] < found["upper"]
    assert found["lower_proven"] and not found["upper_proven"]
    assert any("2-player matrix games" in note for note in found["notes"])


def test_a_game_over_the_tracers_size_is_skipped_in_words(monkeypatch):
    monkeypatch.setattr(history_form, "MAX_PAIRS", 1_000)
    spec = make_spec("mars_rovers", 2)
    found, diagram = uniqueness(spec, compile_game(spec), SELF_PLAY, None)
    assert diagram is None
    assert found == {
        "skipped": "36,864 pairs of decisions (histories x decisions^2), over 1,000"
    }


def test_other_play_gets_no_section():
    spec = make_spec("coordination_2")
    other = SimpleNamespace(
        config=SimpleNamespace(objective="other_play", entropy_weighting="reach"),
        label="op",
    )
    assert uniqueness(spec, compile_game(spec), other, None) == (None, None)


def test_a_tau_star_search_is_shaped_for_the_results_file():
    """Its verdicts become objects with every field, its tuples lists, and
    the whole survives JSON unchanged."""
    upper = Consensus(0.7, AGREE, 8, 8, 1, 300, near_tolerance=True, proven=True)
    lower = Consensus(0.6, UNCERTAIN, 5, 8, 1, 900)
    found = CriticalTau(
        0.7, 0.6, 0.7, lower, upper, 4, ["a note"], [(0.7, 2.0)], (0.7,)
    )
    shaped = critical_tau_json(found)
    assert shaped["upper_verdict"] == upper._asdict()
    assert shaped["upper_verdict"]["near_tolerance"] is True
    assert shaped["proven_agreements"] == [0.7]
    assert shaped["agreement_intervals"] == [[0.7, 2.0]]
    assert json.loads(json.dumps(shaped)) == shaped
    empty = critical_tau_json(found._replace(lower_verdict=None, proven_agreements=()))
    assert empty["lower_verdict"] is None and empty["proven_agreements"] == []
