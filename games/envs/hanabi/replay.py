"""A played Hanabi game as a record, a self-contained HTML page and hanab.live's
replay JSON.

`game_record(params, states, actors, actions, probs, names)` turns the states
of a game (numpy leaves, `HanabiState` or the cut game's `CutState`, before
every move and at the end) and its moves into a JSON-ready dict: per state the
hands, what each card's holder knows of it (plausible colors and ranks, as HLE's
card knowledge), fireworks, discards, tokens, deck and score; per move who made
it, what it was, what it touched or which card it played or discarded, and the
mover's policy (its most likely actions and their probabilities). `html_page`
renders a record as one HTML file with its data and script inline (no
network): both hands, fireworks, discards, hint and life tokens, the move list,
and a step control (buttons, arrow keys, `#step=N` in the address). `hanab_live`
gives the JSON that hanab.live's replay viewer imports (the deck in deal order,
and each move as {type, target, value}), where the game is one of its
variants: 5 ranks, 3 to 6 colors (HLE's W and B are its 4th and 5th suits),
the standard hand size, 8 hints and 3 lives.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from games.envs.hanabi.params import HanabiParams
from games.envs.hanabi.rules import COLOR_CHARS

TOP_ACTIONS = 5
"""How many of the mover's most likely actions a move keeps."""

HANAB_LIVE_NAMES = ("Alice", "Bob", "Cathy", "Donald", "Emily")


def card_text(card: int, params: HanabiParams) -> str:
    """'R1' for card id 0 (color letter, rank from 1); '' for an empty slot."""
    if card < 0:
        return ""
    color, rank = divmod(int(card), params.num_ranks)
    return f"{COLOR_CHARS[color]}{rank + 1}"


def action_text(action: int, actor: int, params: HanabiParams) -> str:
    """An action id as words, the hinted player by absolute seat."""
    hand = params.hand_size
    if action < hand:
        return f"discard slot {action + 1}"
    if action < 2 * hand:
        return f"play slot {action - hand + 1}"
    hint = action - 2 * hand
    if hint < params.num_color_hints:
        offset, color = divmod(hint, params.num_colors)
        target = (actor + offset + 1) % params.num_players
        return f"hint {COLOR_CHARS[color]} to P{target}"
    offset, rank = divmod(hint - params.num_color_hints, params.num_ranks)
    target = (actor + offset + 1) % params.num_players
    return f"hint {rank + 1} to P{target}"


def _game(state: Any) -> Any:
    return getattr(state, "game", state)  # a cut game keeps the game inside


def _state(state: Any, params: HanabiParams) -> dict[str, Any]:
    s = _game(state)
    return {
        "hands": [[card_text(c, params) for c in hand] for hand in s.hands.tolist()],
        "knows": [
            [
                "".join(COLOR_CHARS[c] for c in np.flatnonzero(s.color_plausible[p, h]))
                + " "
                + "".join(str(r + 1) for r in np.flatnonzero(s.rank_plausible[p, h]))
                if s.hands[p, h] >= 0
                else ""
                for h in range(params.hand_size)
            ]
            for p in range(params.num_players)
        ],
        "fireworks": s.fireworks.tolist(),
        "discards": [
            card_text(card, params)
            for card in range(params.num_card_types)
            for _ in range(int(s.discards[card]))
        ],
        "hints": int(s.information_tokens),
        "lives": int(s.life_tokens),
        "deck": params.deck_size - int(s.deck_position),
        "score": int(s.score),
        "turn": int(s.current_player),
    }


def game_record(
    params: HanabiParams,
    states: Sequence[Any],
    actors: Sequence[int],
    actions: Sequence[int],
    probs: Sequence[np.ndarray] | None,
    names: Sequence[str],
    title: str = "Hanabi",
) -> dict[str, Any]:
    """The JSON-ready record of one game (module docstring); `probs[t]` the
    mover's policy float[A] at move t, or None where unknown."""
    if len(states) != len(actions) + 1 or len(actors) != len(actions):
        raise ValueError("a record needs one state more than it has moves")
    moves = []
    for t, (actor, action) in enumerate(zip(actors, actions, strict=True)):
        after = _game(states[t + 1])
        move: dict[str, Any] = {
            "seat": int(actor),
            "action": int(action),
            "text": action_text(int(action), int(actor), params),
            "reward": int(after.score) - int(_game(states[t]).score),
        }
        if action < 2 * params.hand_size:
            move["card"] = card_text(int(after.last_card), params)
            move["slot"] = int(action) % params.hand_size
            move["scored"] = bool(after.last_scored)
        else:
            move["touched"] = np.flatnonzero(after.last_reveal).tolist()
            move["target"] = int(move["text"].rsplit("P", 1)[1])
        if probs is not None:
            p = np.asarray(probs[t], np.float64)
            order = np.argsort(-p, kind="stable")[:TOP_ACTIONS]
            move["policy"] = [
                [action_text(int(a), int(actor), params), round(float(p[a]), 4)]
                for a in order
                if p[a] > 0
            ]
        moves.append(move)
    return {
        "title": title,
        "players": list(names),
        "colors": COLOR_CHARS[: params.num_colors],
        "ranks": params.num_ranks,
        "deck": [card_text(c, params) for c in _game(states[0]).deck.tolist()],
        "states": [_state(state, params) for state in states],
        "moves": moves,
        "score": int(_game(states[-1]).score),
    }


def hanab_live(
    params: HanabiParams, states: Sequence[Any], actions: Sequence[int]
) -> dict[str, Any] | None:
    """hanab.live's replay JSON of a game (module docstring), or None where the
    game is none of its variants."""
    standard_hand = 5 if params.num_players <= 3 else 4
    if not (
        params.num_ranks == 5
        and 3 <= params.num_colors <= 6
        and params.hand_size == standard_hand
        and params.max_information_tokens == 8
        and params.max_life_tokens == 3
    ):
        return None
    first = _game(states[0])
    deck = [divmod(int(c), params.num_ranks) for c in first.deck.tolist()]
    hand = params.hand_size
    # Each slot's card by its order in the deck (hanab.live names cards so).
    orders = [list(range(p * hand, (p + 1) * hand)) for p in range(params.num_players)]
    moves = []
    for t, action in enumerate(actions):
        before, after = _game(states[t]), _game(states[t + 1])
        actor = int(before.current_player)
        if action < 2 * hand:
            order = orders[actor].pop(int(action) % hand)
            moves.append({"type": 0 if action >= hand else 1, "target": order})
            if int(after.deck_position) > int(before.deck_position):
                orders[actor].append(int(before.deck_position))
            continue
        hint = int(action) - 2 * hand
        color = hint < params.num_color_hints
        size = params.num_colors if color else params.num_ranks
        offset, value = divmod(hint if color else hint - params.num_color_hints, size)
        moves.append(
            {
                "type": 2 if color else 3,
                "target": (actor + offset + 1) % params.num_players,
                "value": value if color else value + 1,
            }
        )
    variant = "No Variant" if params.num_colors == 5 else f"{params.num_colors} Suits"
    return {
        "players": list(HANAB_LIVE_NAMES[: params.num_players]),
        "deck": [{"suitIndex": c, "rank": r + 1} for c, r in deck],
        "actions": moves,
        "options": {"variant": variant},
    }


def html_page(record: dict[str, Any]) -> str:
    """The record as one self-contained HTML page (module docstring)."""
    data = json.dumps(record).replace("</", "<\\/")
    return PAGE.replace("__TITLE__", html.escape(record["title"])).replace(
        "__DATA__", data
    )


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:18px;margin:0 0 8px}
.bar button{font-size:16px;margin-right:4px}
.row{display:flex;gap:24px;align-items:flex-start;margin:10px 0}
.hand{display:flex;gap:6px;margin:4px 0 10px}
.card{width:46px;height:64px;border:2px solid #555;border-radius:6px;display:flex;
 flex-direction:column;align-items:center;justify-content:center;font-weight:700;
 font-size:20px;background:#fff}
.card small{font-size:10px;font-weight:400;color:#333}
.card.touched{outline:4px solid #f0a;outline-offset:1px}
.card.moving{outline:4px dashed #09f;outline-offset:1px}
.R{color:#c00;border-color:#c00}.Y{color:#b8860b;border-color:#b8860b}
.G{color:#080;border-color:#080}.W{color:#777;border-color:#777}
.B{color:#00c;border-color:#00c}
.seat.turn h3:after{content:" to move";color:#09f;font-weight:400}
h3{margin:0;font-size:15px}
#moves{max-height:520px;overflow:auto;min-width:320px}
#moves li{cursor:pointer;padding:1px 4px}#moves li.now{background:#def}
.tokens span{margin-right:14px}
.policy td{padding:0 8px 0 0}
.policy .bar{background:#09f;height:10px;display:inline-block}
</style></head><body>
<h1>__TITLE__</h1>
<div class="bar"><button id="first">|&#9664;</button><button id="back">&#9664;</button>
<button id="next">&#9654;</button><button id="last">&#9654;|</button>
<span id="where"></span> <span id="result"></span></div>
<div class="row"><div id="table"></div><div><h3>Moves</h3><ol id="moves" start="0"></ol>
</div></div>
<script>
const game = __DATA__;
let step = 0;
const $ = (id) => document.getElementById(id);
function card(text, knows, cls) {
  const div = document.createElement("div");
  div.className = "card " + (text ? text[0] : "") + (cls ? " " + cls : "");
  div.innerHTML = text + (knows !== null ? "<small>" + knows + "</small>" : "");
  return div;
}
function draw() {
  const s = game.states[step], move = game.moves[step];
  const last = step > 0 ? game.moves[step - 1] : null;
  $("where").textContent = "step " + step + " / " + game.moves.length;
  const end = step === game.moves.length;
  $("result").textContent = end ? "final score " + game.score : "";
  const table = $("table");
  table.innerHTML = "";
  game.players.forEach((name, p) => {
    const seat = document.createElement("div");
    seat.className = "seat" + (s.turn === p && move ? " turn" : "");
    seat.innerHTML = "<h3>P" + p + ": " + name + "</h3>";
    const hand = document.createElement("div");
    hand.className = "hand";
    s.hands[p].forEach((text, h) => {
      let cls = "";
      const hinted = last && last.touched && last.target === p;
      if (hinted && last.touched.includes(h)) cls = "touched";
      if (move && move.seat === p && move.slot === h) cls = "moving";
      if (text) hand.appendChild(card(text, s.knows[p][h], cls));
    });
    seat.appendChild(hand);
    table.appendChild(seat);
  });
  const board = document.createElement("div");
  const fw = [...game.colors].map((c, i) => "<span class='" + c + "'>" + c +
      s.fireworks[i] + "</span>").join(" ");
  board.innerHTML = "<div class='tokens'><span>fireworks: " + fw +
      "</span><span>hints: " + s.hints + "</span><span>lives: " + s.lives +
      "</span><span>deck: " + s.deck +
      "</span><span>score: " + s.score + "</span></div><div>discards: " +
      (s.discards.join(" ") || "none") + "</div>";
  if (move && move.policy) {
    board.innerHTML += "<h3>P" + move.seat + "'s policy</h3><table class='policy'>" +
      move.policy.map(([t, p]) => "<tr><td>" + t + "</td><td>" + p.toFixed(3) +
      "</td><td><span class='bar' style='width:" + Math.round(120 * p) +
      "px'></span></td></tr>").join("") + "</table>";
  }
  table.appendChild(board);
  [...$("moves").children].forEach((li, i) => li.classList.toggle("now", i === step));
}
function go(to) { step = Math.max(0, Math.min(game.moves.length, to)); draw(); }
game.moves.forEach((m, i) => {
  const li = document.createElement("li");
  let text = "P" + m.seat + " " + m.text;
  const miss = m.text.startsWith("play") ? ", misplayed" : "";
  if (m.card) text += " (" + m.card + (m.scored ? ", scored" : miss) + ")";
  const slots = m.touched ? m.touched.map((h) => h + 1).join(", ") : "";
  if (m.touched) text += " (touched slot " + slots + ")";
  li.textContent = text;
  li.onclick = () => go(i);
  $("moves").appendChild(li);
});
$("first").onclick = () => go(0); $("back").onclick = () => go(step - 1);
$("next").onclick = () => go(step + 1); $("last").onclick = () => go(game.moves.length);
document.onkeydown = (e) => { if (e.key === "ArrowRight") go(step + 1);
  if (e.key === "ArrowLeft") go(step - 1); };
const asked = /step=(\\d+)/.exec(location.hash);
go(asked ? parseInt(asked[1]) : 0);
</script></body></html>
"""
