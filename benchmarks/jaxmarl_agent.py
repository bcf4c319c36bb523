"""A Hanabi agent trained by someone else: JaxMARL's recurrent MAPPO agent
comic-deluge-19, in JaxMARL's Hanabi as of its training and in the lab's.

    python -m benchmarks.jaxmarl_agent --jaxmarl ~/src/JaxMARL \\
        --out docs/results/jaxmarl_agent/results.json

JaxMARL's history holds the agent's actor parameters (commit 56ef0da,
`baselines/MAPPO/checkpoints/jaxmarl-hanabi/comic-deluge-19/model.safetensors`,
removed a commit later) and the Hanabi it trained on (the same commit's
`jaxmarl/environments/hanabi/`). Given a clone of JaxMARL with that history
(never copied here), the benchmark reads both with `git show` into a temporary
folder (with a stand-in for the one name the old environment imports from
gymnax, `Discrete`, taken from the installed jaxmarl), loads the agent with
the lab's one line (`experiments.deep.players.load`), and in one run:

1. plays games in both games from the same decks, with the same moves (IGGI's,
   or one time in five any legal move), and compares every observation bit for
   bit (theirs against the lab's `v0_belief`), the legal moves, the rewards and
   the ends;
2. plays the agent in self-play in both games from the same deals with the
   same random draws, and counts the games that are move for move the same;
3. plays it with the four rule-based bots (`games.envs.hanabi.bots`, which
   read the canonical encoding: each seat observes through its own).
"""

from __future__ import annotations

import functools
import importlib
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

from benchmarks.common import machine_lines
from experiments.harness.arguments import ArgumentParser

COMMIT = "56ef0da"
MODEL = "baselines/MAPPO/checkpoints/jaxmarl-hanabi/comic-deluge-19/model.safetensors"
HANABI = (
    "jaxmarl/environments/hanabi/hanabi.py",
    "jaxmarl/environments/hanabi/hanabi_game.py",
)


def _show(repo: pathlib.Path, path: str) -> bytes:
    done = subprocess.run(
        ["git", "-C", str(repo), "show", f"{COMMIT}:{path}"], capture_output=True
    )
    if done.returncode != 0:
        raise SystemExit(
            f"jaxmarl_agent: {repo} has no {path} at commit {COMMIT} "
            f"(a clone of FLAIROx/JaxMARL with its history is needed): "
            f"{done.stderr.decode().strip()[:200]}"
        )
    return done.stdout


def their_game(repo: pathlib.Path, into: pathlib.Path):
    """JaxMARL's HanabiEnv class as of `COMMIT`, importable from `into`."""
    package = into / "jaxmarl_hanabi_then"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for path in HANABI:
        (package / pathlib.Path(path).name).write_bytes(_show(repo, path))
    shim = into / "gymnax" / "environments"
    shim.mkdir(parents=True)
    (into / "gymnax" / "__init__.py").write_text("")
    (shim / "__init__.py").write_text("")
    (shim / "spaces.py").write_text(
        "from jaxmarl.environments.spaces import Discrete  # noqa: F401\n"
    )
    sys.path.insert(0, str(into))
    return importlib.import_module("jaxmarl_hanabi_then.hanabi").HanabiEnv


@functools.cache
def _ours(params) -> tuple:
    """The lab's Hanabi functions for `params`, jitted once."""
    import jax

    from games.envs.hanabi.belief import v0_belief
    from games.envs.hanabi.bots import bot
    from games.envs.hanabi.encoding import canonical
    from games.envs.hanabi.rules import legal_actions, reset, step

    iggi = bot("iggi", params)
    return (
        jax.jit(lambda key, deck: reset(key, params, deck=deck)),
        jax.jit(lambda state: v0_belief(state, params)),
        jax.jit(lambda state: legal_actions(state, params)),
        jax.jit(lambda state, action: step(state, action, params)),
        jax.jit(lambda state: iggi(canonical(state, params)[state.current_player])),
    )


@functools.cache
def _jitted(function):
    """`function` jitted once (JaxMARL's legal moves were not, then)."""
    import jax

    return jax.jit(function)


class Both:
    """One deal in both games, stepped together."""

    def __init__(self, theirs, params, deck: np.ndarray):
        import jax
        import jax.numpy as jnp

        self.theirs, self.params = theirs, params
        reset, self.v0, self.legal_of, self.step_of, self.iggi = _ours(params)
        self.their_legal = _jitted(theirs.get_legal_moves)
        onehot = np.zeros((params.deck_size, params.num_colors, params.num_ranks))
        onehot[np.arange(deck.size), *np.divmod(deck, params.num_ranks)] = 1
        self.their_obs, self.their_state = theirs.reset_from_deck(
            jax.random.key(0), jnp.asarray(onehot, jnp.float32)
        )
        self.state = reset(jax.random.key(0), jnp.asarray(deck))

    def observations(self) -> tuple[np.ndarray, np.ndarray]:
        """([P, O] the lab's v0_belief, [P, O] JaxMARL's)."""
        theirs = np.stack([np.asarray(self.their_obs[a]) for a in self.theirs.agents])
        return np.asarray(self.v0(self.state)), theirs

    def legal(self) -> tuple[np.ndarray, np.ndarray]:
        moves = self.their_legal(self.their_state)
        actor = int(self.state.current_player)
        theirs = np.asarray(moves[self.theirs.agents[actor]])[:-1] > 0
        return np.asarray(self.legal_of(self.state)), theirs

    def step(self, action: int) -> tuple[float, float, bool, bool]:
        """(our reward, theirs, our game over, theirs)."""
        import jax

        actor = int(self.state.current_player)
        noop = self.theirs.num_moves - 1
        joint = {
            a: (action if p == actor else noop)
            for p, a in enumerate(self.theirs.agents)
        }
        self.their_obs, self.their_state, rewards, dones, _ = self.theirs.step_env(
            jax.random.key(0), self.their_state, joint
        )
        self.state, reward, done = self.step_of(self.state, action)
        return (
            float(reward),
            float(rewards["__all__"]),
            bool(done),
            bool(dones["__all__"]),
        )


def _progress(what: str, game: int, games: int) -> None:
    """A line every tenth of the games (no silent minutes)."""
    if (game + 1) % max(1, games // 10) == 0 or game + 1 == games:
        print(f"  {what}: {game + 1} of {games} games", flush=True)


def conformance(theirs, params, games: int, seed: int) -> dict:
    """Games in both from the same decks, each move IGGI's (one of its rule's
    moves at random) or, one time in five, any legal move: observations, legal
    moves, rewards and ends compared at every state."""
    import jax

    from games.envs.hanabi.rules import reset

    rng = np.random.default_rng(seed)
    counts = {"games": games, "states": 0, "observations_differ": 0}
    counts.update(legal_differ=0, rewards_differ=0, ends_differ=0)
    counts.update(states_before_parting=0, differ_before_parting=0, games_parted=0)
    for g in range(games):
        deck = np.asarray(reset(jax.random.key(seed * 1000 + g), params).deck)
        both = Both(theirs, params, deck)
        done, parted_tokens = False, False
        while not done:
            ours, their_obs = both.observations()
            legal, their_legal = both.legal()
            differ = not np.array_equal(ours, their_obs)
            counts["states"] += 1
            counts["observations_differ"] += int(differ)
            counts["legal_differ"] += int(not np.array_equal(legal, their_legal))
            if not parted_tokens:
                counts["states_before_parting"] += 1
                counts["differ_before_parting"] += int(
                    differ or not np.array_equal(legal, their_legal)
                )
            choice = np.flatnonzero(np.asarray(both.iggi(both.state)) > -1e8)
            if rng.random() < 0.2:
                choice = np.flatnonzero(legal)
            action = int(rng.choice(choice))
            reward, their_reward, done, their_done = both.step(action)
            # JaxMARL's hint tokens of the time could part from HLE's (a token
            # for a card played at none left, a second one for some discards;
            # rewritten there in 2024-07): from that move on the games differ.
            tokens = int(np.asarray(both.their_state.info_tokens).sum())
            parted_tokens |= tokens != int(both.state.information_tokens)
            counts["rewards_differ"] += int(reward != their_reward)
            counts["ends_differ"] += int(done != their_done)
        counts["games_parted"] += int(parted_tokens)
        _progress("conformance", g, games)
    return counts


def self_play(theirs, agent, params, games: int, seed: int) -> dict:
    """The agent with itself in both games, same deals and draws."""
    import jax

    from games.envs.hanabi.rules import reset

    scores = {"ours": [], "theirs": []}
    same = 0
    for g in range(games):
        key = jax.random.key(seed * 1000 + g)
        deck = np.asarray(reset(key, params).deck)
        both = Both(theirs, params, deck)
        memory = {side: [agent.initial_state()] * 2 for side in scores}
        totals = {"ours": 0.0, "theirs": 0.0}
        identical, done, first = True, False, True
        while not done:
            key, draw = jax.random.split(key)
            observed = dict(zip(scores, both.observations(), strict=True))
            legal = both.legal()[0]
            actions = {}
            for side in scores:
                for seat in range(2):
                    move = agent.act(
                        observed[side][seat],
                        legal
                        if seat == int(both.state.current_player)
                        else np.ones_like(legal),
                        state=memory[side][seat],
                        key=draw,
                        first=first,
                    )
                    memory[side][seat] = move.state
                    if seat == int(both.state.current_player):
                        actions[side] = int(move.action)
            identical &= actions["ours"] == actions["theirs"]
            reward, their_reward, done, _ = both.step(actions["ours"])
            totals["ours"] += reward
            totals["theirs"] += their_reward
            first = False
        for side in scores:
            scores[side].append(totals[side])
        same += identical
        _progress("self-play", g, games)
    return {
        side: {
            "mean": float(np.mean(s)),
            "se": float(np.std(s, ddof=1) / np.sqrt(len(s))),
        }
        for side, s in scores.items()
    } | {"games": games, "identical_games": same}


def with_bots(agent, games: int, seed: int) -> dict:
    """The agent with each bot, in both seats (each seat its own encoding)."""
    import jax

    from experiments.deep.players import bot, play_game
    from games.envs.contract import make_env
    from games.envs.hanabi.bots import BOTS

    canonical = make_env("hanabi")
    out = {}
    for name in BOTS:
        partner = bot(canonical, name)
        scores = [
            play_game(
                [agent, partner][:: 1 if g % 2 == 0 else -1],
                key=jax.random.key(seed * 1000 + g),
                env=canonical,
            ).score
            for g in range(games)
        ]
        print(f"  with {name}: {games} games", flush=True)
        out[name] = {
            "mean": float(np.mean(scores)),
            "se": float(np.std(scores, ddof=1) / np.sqrt(games)),
            "games": games,
        }
    return out


def table(result: dict) -> str:
    """The results as the benchmark prints them (the tests recompute it)."""
    c, sp = result["conformance"], result["self_play"]
    lines = [
        f"games of IGGI and random moves, from the same decks: {c['games']} games, "
        f"{c['states']} states; observations differ at {c['observations_differ']}, "
        f"legal moves at {c['legal_differ']}, rewards at {c['rewards_differ']}, "
        f"ends at {c['ends_differ']}",
        f"  JaxMARL's hint tokens part from HLE's in {c['games_parted']} games; before "
        f"they do, {c['states_before_parting']} states, observations or legal moves "
        f"differ at {c['differ_before_parting']}",
        f"self-play, same deals and draws, {sp['games']} games: "
        f"ours {sp['ours']['mean']:.2f} +- {sp['ours']['se']:.2f}, "
        f"JaxMARL's {sp['theirs']['mean']:.2f} +- {sp['theirs']['se']:.2f}; "
        f"{sp['identical_games']} of {sp['games']} games move for move the same",
        "with the bots (seats alternating), in the lab's game:",
    ]
    for name, r in result["bots"].items():
        lines.append(
            f"  {name:<14} {r['mean']:.2f} +- {r['se']:.2f} ({r['games']} games)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("benchmarks.jaxmarl_agent", __doc__)
    parser.add_argument(
        "--jaxmarl",
        type=pathlib.Path,
        required=True,
        help="a clone of FLAIROx/JaxMARL with its history",
    )
    parser.add_argument(
        "--games", type=int, default=100, help="random games and self-play games (each)"
    )
    parser.add_argument("--bot-games", type=int, default=40, help="per bot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args(argv)
    parser.require_at_least(args, games=2, bot_games=2)
    for line in machine_lines():
        print(line)
    from experiments.deep.players import load
    from games.envs.hanabi.params import make_params

    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        model = folder / "comic-deluge-19" / "model.safetensors"
        model.parent.mkdir()
        model.write_bytes(_show(args.jaxmarl, MODEL))
        theirs = their_game(args.jaxmarl, folder)(num_agents=2)
        (agent,) = load(model)
        params = make_params("Hanabi-Full", 2)
        print(f"JaxMARL at {COMMIT}: {MODEL}, as {agent.name} ({agent.env.title})")
        result = {
            "commit": COMMIT,
            "model": MODEL,
            "conformance": conformance(theirs, params, args.games, args.seed),
            "self_play": self_play(theirs, agent, params, args.games, args.seed),
            "bots": with_bots(agent, args.bot_games, args.seed),
        }
    print(table(result))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
