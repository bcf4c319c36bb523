"""Walton-Rivers et al.'s own Hanabi agents (fossgalaxy/hanabi, Java) beside the
lab's bots: build them from a checkout, play them, and replay their games
through `games.envs.hanabi.bots` decision by decision.

The checkout is never copied here: `build` compiles its sources, with the
driver `benchmarks/java/OriginalBotsSelfPlay.java` and compile-time stand-ins
for the one library these machines lack (org.reflections, which only the
framework's agent finder calls), into a folder of classes. Java 17 and Debian's
slf4j jars are all it needs.

Two things differ by construction between the framework and HLE, the game the
lab's bots play, and `replay` accounts for both:

- a drawn card takes the *position* of the card it replaces, where HLE keeps a
  hand oldest first; the framework's agents read their slots by position. The
  replay shows each decision's observation with the slots in the framework's
  positions (`positional`), and maps the choice back;
- DiscardOldestFirst reads draw times, which the positions do not show: that
  rule is read on the observation in HLE's order.
"""

from __future__ import annotations

import functools
import pathlib
import shutil
import subprocess
from typing import NamedTuple

import numpy as np

JAVA = pathlib.Path(__file__).resolve().parent / "java"
DRIVER = JAVA / "OriginalBotsSelfPlay.java"
SLF4J = ("/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-nop.jar")
"""Debian's slf4j (libslf4j-java): the framework logs through it."""


class FossgalaxyError(RuntimeError):
    """The checkout or the Java tools cannot do what was asked."""


def build(checkout: pathlib.Path, into: pathlib.Path) -> pathlib.Path:
    """Compiles the driver against `checkout`'s sources into `into`; returns the
    class path to run it with."""
    sources = checkout / "src" / "main" / "java"
    if not (sources / "com" / "fossgalaxy" / "games" / "fireworks").is_dir():
        raise FossgalaxyError(
            f"{checkout} is not a checkout of fossgalaxy/hanabi "
            "(no src/main/java/com/fossgalaxy/games/fireworks)"
        )
    for tool in ("javac", "java"):
        if shutil.which(tool) is None:
            raise FossgalaxyError(f"{tool} is absent (apt-get install default-jdk)")
    missing = [jar for jar in SLF4J if not pathlib.Path(jar).exists()]
    if missing:
        raise FossgalaxyError(
            f"{', '.join(missing)} absent (apt-get install libslf4j-java)"
        )
    into.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            "javac",
            "-nowarn",
            "-encoding",
            "UTF-8",
            "-cp",
            SLF4J[0],
            "-sourcepath",
            f"{sources}:{JAVA / 'stubs'}",
            "-d",
            str(into),
            str(DRIVER),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise FossgalaxyError(f"javac failed on {checkout}:\n{done.stderr[-2000:]}")
    return into


def play(
    classes: pathlib.Path,
    agent: str,
    *,
    players: int,
    games: int,
    first_seed: int = 0,
    zero_on_lives_out: bool = True,
    trace: bool = False,
) -> str:
    """The driver's output for `games` games of `agent` in self-play."""
    done = subprocess.run(
        [
            "java",
            "-cp",
            ":".join([str(classes), *SLF4J]),
            "OriginalBotsSelfPlay",
            agent,
            str(players),
            str(games),
            str(first_seed),
            "zero" if zero_on_lives_out else "kept",
            *(["trace"] if trace else []),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise FossgalaxyError(f"the {agent} games failed:\n{done.stderr[-2000:]}")
    return done.stdout


class Game(NamedTuple):
    """One traced game: `events` are its lines after "game", as tuples."""

    seed: int
    events: tuple[tuple, ...]
    score: int


def scores(text: str) -> np.ndarray:
    """int[N]: the scores in the driver's output."""
    lines = [line.split() for line in text.splitlines()]
    return np.asarray([int(line[2]) for line in lines if line[0] == "score"])


def games(text: str) -> list[Game]:
    """The traced games of the driver's output."""
    out: list[Game] = []
    events: list[tuple] = []
    seed = None
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind == "game":
            seed, events = int(fields[0]), []
        elif kind == "score":
            if seed is None:
                raise FossgalaxyError("a score line before any game line (no trace?)")
            out.append(Game(seed, tuple(events), int(fields[1])))
            seed = None
        else:
            events.append((kind, *(int(x) for x in fields)))
    return out


def positional(obs, params, order):
    """The canonical observation `obs` with each hand's slots in the framework's
    positions: `order` int[P, H] gives, per seat offset (0: the observer), the
    HLE slot shown at each position (jit-able)."""
    import jax.numpy as jnp

    from games.envs.hanabi.encoding import canonical_sections

    players, hand = params.num_players, params.hand_size
    types = params.num_card_types
    sizes = canonical_sections(params)
    start = sum(size for name, size in sizes.items() if name != "card_knowledge")
    assert list(sizes)[-1] == "card_knowledge"
    cards = jnp.arange((players - 1) * hand * types).reshape(players - 1, hand, types)
    width = types + params.num_colors + params.num_ranks
    known = start + jnp.arange(players * hand * width).reshape(players, hand, width)
    index = jnp.concatenate(
        [
            jnp.take_along_axis(cards, order[1:, :, None], 1).reshape(-1),
            jnp.arange(cards.size, start),
            jnp.take_along_axis(known, order[:, :, None], 1).reshape(-1),
        ]
    )
    return obs[index]


def start_order(params) -> np.ndarray:
    """int[P, H]: each player's HLE slot at each position after the deal."""
    return np.tile(np.arange(params.hand_size), (params.num_players, 1))


def decider(name: str, params):
    """(state, order int[P, H]) -> (rule int32[], weights float32[A]): what bot
    `name` does as the current player on its observation with every hand's
    slots in the framework's positions (`order[p]`: player p's HLE slot at each
    position), as weights on HLE's action ids. DiscardOldestFirst, which reads
    draw times, decides on the observation in HLE's order."""
    import jax.numpy as jnp

    from games.envs.hanabi import bots
    from games.envs.hanabi.encoding import canonical

    choices = bots._choices(name, params)
    rules = bots.RULES[name]
    oldest = rules.index(bots.discard_oldest) if bots.discard_oldest in rules else -1
    hand = params.hand_size

    def decide(state, order):
        actor = state.current_player
        obs = canonical(state, params)[actor]
        seen = jnp.roll(order, -actor, axis=0)  # by seat offset
        by_position = choices(positional(obs, params, seen))
        rule = jnp.argmax((by_position > 0).any(-1))
        row = by_position[rule]
        mapped = row.at[seen[0]].set(row[:hand])
        mapped = mapped.at[hand + seen[0]].set(row[hand : 2 * hand])
        return rule, jnp.where(rule == oldest, choices(obs)[rule], mapped)

    return decide


def moved(order, state, action, params):
    """`order` after the current player's `action` in `state`: a played or
    discarded card's position takes the card drawn for it, which HLE puts
    last (or, with the deck empty, stays empty, HLE's first empty slot)."""
    import jax.numpy as jnp

    hand = params.hand_size
    actor = state.current_player
    row = order[actor]
    slot = action % hand
    held = (state.hands[actor] >= 0).sum()
    after = (
        jnp.where(row > slot, row - 1, row).at[jnp.argmax(row == slot)].set(held - 1)
    )
    return order.at[actor].set(jnp.where(action < 2 * hand, after, row))


@functools.cache
def _compiled(name: str, params) -> tuple:
    """`decider`, `moved` after a step, jitted once per bot and game."""
    import jax

    from games.envs.hanabi.rules import step

    def advance(state, order, action):
        return step(state, action, params)[0], moved(order, state, action, params)

    return jax.jit(decider(name, params)), jax.jit(advance)


def self_play_by_position(name: str, params, *, key, num_games: int) -> np.ndarray:
    """float32[N]: `bots.self_play` of bot `name` with every hand read in the
    framework's positions, as its own agents play (HLE's rules otherwise)."""
    import jax
    import jax.numpy as jnp

    from games.envs.hanabi.rules import reset, step

    decide = decider(name, params)

    def one(key):
        def body(carry):
            state, order, key = carry
            key, sub = jax.random.split(key)
            _, weights = decide(state, order)
            action = jax.random.categorical(sub, jnp.log(weights))
            order = moved(order, state, action, params)
            return step(state, action, params)[0], order, key

        deal, key = jax.random.split(key)
        first = (reset(deal, params), jnp.asarray(start_order(params)), key)
        state, _, _ = jax.lax.while_loop(lambda c: ~c[0].terminal, body, first)
        return state.score.astype(jnp.float32)

    return np.asarray(jax.jit(jax.vmap(one))(jax.random.split(key, num_games)))


class Decision(NamedTuple):
    """One move of a traced game, and what the lab's bot would do there."""

    seat: int
    action: int  # the framework's move as an HLE action id
    rule: int  # the lab's rule that decides (index in bots.RULES[name])
    agrees: bool  # the move is among those that rule allows


def replay(game: Game, name: str, params) -> list[Decision]:
    """Plays `game` again in the lab's Hanabi, move for move, asking the lab's
    bot `name` at every move what it would do on the same observation (slots in
    the framework's positions)."""
    import jax
    import jax.numpy as jnp

    from games.envs.hanabi.rules import reset

    players, hand, ranks = params.num_players, params.hand_size, params.num_ranks
    drawn = [e for e in game.events if e[0] == "draw"]
    deck = [color * ranks + rank - 1 for _, _, _, color, rank in drawn]
    rest = list(params.sorted_deck())
    for card in deck:
        if card not in rest:
            raise FossgalaxyError(
                f"game {game.seed}: more copies of card {card} drawn than a deck holds"
            )
        rest.remove(card)
    state = reset(jax.random.key(0), params, deck=np.asarray(deck + rest))
    order = jnp.asarray(start_order(params))
    decide, advance = _compiled(name, params)
    held: list[dict[int, int]] = [{} for _ in range(players)]  # position: card
    out: list[Decision] = []
    for event in game.events:
        kind, actor, *fields = event
        if kind == "draw":
            position, color, rank = fields
            held[actor][position] = color * ranks + rank - 1
            continue
        if int(state.current_player) != actor:
            raise FossgalaxyError(f"game {game.seed}: {actor} moved out of turn")
        if kind in ("play", "discard"):
            position = fields[0]
            slot = int(order[actor, position])
            if int(state.hands[actor, slot]) != held[actor].pop(position, -1):
                raise FossgalaxyError(f"game {game.seed}: hands disagree at {event}")
            action = slot + (hand if kind == "play" else 0)
        else:
            target, value = fields
            offset = (target - actor - 1) % players
            if kind == "color":
                action = 2 * hand + offset * params.num_colors + value
            else:
                action = 2 * hand + params.num_color_hints + offset * ranks + value - 1
        rule, weights = decide(state, order)
        out.append(Decision(actor, action, int(rule), bool(weights[action] > 0)))
        state, order = advance(state, order, jnp.asarray(action))
    if int(state.score) != game.score:
        raise FossgalaxyError(
            f"game {game.seed}: the lab's game scores {int(state.score)}, "
            f"the framework's {game.score}"
        )
    return out
