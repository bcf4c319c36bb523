"""The tau* study's `critical_tau.uniqueness` (experiments/exact/proofs.py):
a small matrix game gets its diagram and a proven tau_unique bracket around
its fold; a game over the tracer's size is skipped, in words, before its
history form is built."""

from __future__ import annotations

import json
from types import SimpleNamespace

from experiments.exact.proofs import TRACE_MAX_VARIABLES, uniqueness
from games.tabular import compile_game, make_spec

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


def test_a_game_over_the_tracers_size_is_skipped_in_words():
    spec = make_spec("mars_rovers", 2)
    found, diagram = uniqueness(spec, compile_game(spec), SELF_PLAY, None)
    assert diagram is None
    assert found == {
        "skipped": f"156 policy variables, over {TRACE_MAX_VARIABLES} (the tracer's)"
    }


def test_other_play_gets_no_section():
    spec = make_spec("coordination_2")
    other = SimpleNamespace(
        config=SimpleNamespace(objective="other_play", entropy_weighting="reach"),
        label="op",
    )
    assert uniqueness(spec, compile_game(spec), other, None) == (None, None)
