"""Exact values of tabular joint policies.

A joint policy is a tuple with one array per agent, float[K_i, A_i] of action
probabilities (rows sum to one); logits have the same shapes. All functions are pure
and jittable; `game` is a compiled `games.TabularGame`, evaluated by its engine:
the occupancy recursion (`occupancy_pass`) or the enumeration of terminal
histories (`history_probs`); see `games.tabular.occupancy` and `games.tabular.compile`.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from games.tabular import TabularGame
from games.tabular.occupancy import (
    Occupancy,
    OccupancyStep,
    agent_contractions,
    expand,
    last_two_steps_subscripts,
    letters,
    model_first,
    path_search,
)

Policy = tuple[jax.Array, ...]
ENTROPY_WEIGHTINGS = ("reach", "uniform")


def softmax_policy(logits: Policy, legal: Policy | None = None) -> Policy:
    """Per agent, softmax over the action axis: float[K_i, A_i]; with `legal`
    (per agent bool[K_i, A_i], a compiled game's `legal`), over the legal actions
    only, probability 0 (and gradient 0) on the others. Logits may carry leading
    batch axes."""
    if legal is None:
        return tuple(jax.nn.softmax(x, axis=-1) for x in logits)
    return tuple(
        jax.nn.softmax(x, axis=-1, where=m) for x, m in zip(logits, legal, strict=True)
    )


def history_probs(game: TabularGame, policy: Policy) -> jax.Array:
    """P(z) for every terminal history z, float[Z]: chance times every decision."""
    prob = game.chance
    for pi, infostate, action in zip(policy, game.infostate, game.action, strict=True):
        prob = prob * jnp.prod(pi[infostate, action], axis=-1)
    return prob


def step_policies(
    policy: Policy, acting: tuple[bool, ...], rows: tuple[int, ...], histories
) -> tuple[jax.Array, ...]:
    """Per agent, its policy at one step, float[H_i, B_i]: its rows of the table
    if it acts, else probability 1 on the placeholder action."""
    return tuple(
        pi[start : start + count] if moves else jnp.ones((count, 1), dtype=pi.dtype)
        for pi, moves, start, count in zip(policy, acting, rows, histories, strict=True)
    )


def occupancy_pass(
    occupancy: Occupancy, policy: Policy, *, with_play: bool = False
) -> tuple[jax.Array, tuple[jax.Array, ...], jax.Array | None]:
    """(E[sum_t discount^t r_t], per agent reach float[K_i], and with `with_play`
    the distribution of play float[prod_i H_i B_i] over the last step's joint
    histories and joint actions, states summed out, else None) by the forward
    recursion over occupancy states eta_t(s, h_1..h_n) (Dibangoye et al. 2016):

      eta_{t+1}(s', (h_i, a_i, o_i)_i) = sum_s eta_t(s, h) prod_i pi_i(a_i | h_i)
                                         T(s' | s, a) O(o | a, s'),
      E[r_t] = sum_{s, h, a} eta_t(s, h) prod_i pi_i(a_i | h_i) R(s, a).

    The reach of agent i's history h_i at step t is eta_t summed over the rest.
    Without `with_play` the last occupancy, the largest, is never built: the last
    step's reward and reach are contracted from its factors (`_last_step`).
    """
    n = len(policy)
    eta = occupancy.initial
    value = jnp.zeros((), eta.dtype)
    reach: list[list[jax.Array]] = [[] for _ in range(n)]
    hb = letters(2 * n, "sqz")
    hist, acts = hb[0::2], hb[1::2]
    terms = ",".join(f"{hist[i]}{acts[i]}" for i in range(n))
    play = None
    steps = occupancy.steps
    for t, step in enumerate(steps):
        factors = step_policies(policy, step.acting, step.rows, step.histories)
        for i in range(n):
            if step.acting[i]:
                reach[i].append(jnp.einsum(f"s{hist}->{hist[i]}", eta))
        if (
            not with_play
            and step.transition is not None
            and steps[t + 1].transition is None
        ):
            last = steps[t + 1]
            last_value, last_reach = _last_two_steps(eta, factors, step, last, policy)
            for i in range(n):
                if last.acting[i]:
                    reach[i].append(last_reach[i])
            value = value + last_value
            break
        if step.transition is None:
            value = value + jnp.einsum(
                f"s{hist},{terms},s{acts}->", eta, *factors, step.reward, optimize=True
            )
            if with_play:  # states summed out first: [(H B)_1, ..., (H B)_n]
                play = jnp.einsum(
                    f"s{hist},{terms}->{hb}", eta, *factors, optimize=True
                ).ravel()
            break
        value = value + contract_agents(eta, step.reward, factors)
        if step.moves is None:
            decide = jnp.einsum(f"s{hist},{terms}->s{hb}", eta, *factors)
            eta = expand(jnp, decide, step.transition, step.observation, n)
        else:
            eta = _expand_moves(eta, factors, step.moves)
        for i in range(n):
            eta = jnp.take(eta, step.children[i], axis=1 + i)
    return (
        value,
        tuple(
            jnp.concatenate(parts) if parts else jnp.zeros(0, eta.dtype)
            for parts in reach
        ),
        play,
    )


UNROLLED_STATES = 8
"""`_expand_moves` sums over at most this many states as a sum of broadcast
products, one per state (XLA fuses them into one loop); over more, as one
einsum (a matrix product over the states)."""


def _expand_moves(
    eta: jax.Array, factors: tuple[jax.Array, ...], moves: jax.Array
) -> jax.Array:
    """eta_{t+1} before pruning, [S', (H B O)_1, ..., (H B O)_n]:
    sum_s eta[s, h] moves[s, s', (b o)_1, ...] times prod_i pi_i(b_i | h_i), in
    the output's layout: over few states (UNROLLED_STATES) one broadcast
    product per state, summed and materialized once (the einsums of `expand`
    cost 5 to 7 times more at Dec-Tiger's horizon 5); over more, one einsum.
    (The same sum written as one reduction over a broadcast state axis made
    XLA's CPU backend crash, jax 0.10.2, when the arrays came in as arguments
    of an unbatched call.)"""
    n = len(factors)
    at = [1 + 3 * i for i in range(n)]  # agent i's h in [S', (H B O)_1, ...]
    size = 1 + 3 * n
    if moves.shape[0] <= UNROLLED_STATES:
        past = jnp.expand_dims(eta, [1, *(a + 1 + j for a in at for j in (1, 2))])
        ahead = jnp.expand_dims(moves, [a + 1 for a in at])
        # Materialized once: left as a sum, XLA fuses it into each of its
        # consumers (gathers, reaches, rewards) and computes it again in each.
        out = jax.lax.optimization_barrier(
            functools.reduce(
                jnp.add, (past[s] * ahead[s] for s in range(moves.shape[0]))
            )
        )
    else:
        hist = letters(n, "sq")
        pairs = letters(2 * n, "sq" + hist)
        joint = "".join(h + pairs[2 * i : 2 * i + 2] for i, h in enumerate(hist))
        out = jnp.einsum(f"s{hist},sq{pairs}->q{joint}", eta, moves)
    for a, p in zip(at, factors, strict=True):
        out = out * jnp.expand_dims(p, [j for j in range(size) if j not in (a, a + 1)])
    return out.reshape(out.shape[0], *(math.prod(out.shape[a : a + 3]) for a in at))


def _last_two_steps(
    eta: jax.Array,
    factors: tuple[jax.Array, ...],
    step: OccupancyStep,
    last: OccupancyStep,
    policy: Policy,
) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """The expected reward of the last two steps and the last step's reach per
    agent, float[H_i], from the occupancy eta of the step before the last and the
    policies there (`factors`), without building the last occupancy: that one,
    [S, (H B O)_1, ..., (H B O)_n], is the recursion's largest tensor by a factor
    prod_i |A_i||O_i|, while contracting from eta, one agent's histories at a
    time (`contract_agents`), needs nothing larger than eta. Each agent's last
    policy is laid out over its (h, b, o) extensions of step t's histories;
    pruned (unreachable) extensions have zero mass, so any row may stand in there.

    The models: step t's reward R[s, b]; for the reaches sum_q T[s, b, q]
    O[b, q, o] with the others' observations summed out; for the last reward
    M[s, (b o d)_1, ...] = sum_q T[s, b, q] O[b, q, o] R'[q, d], met by the
    factors pi_i(b | h) pi'_i(d | h b o). Where M is large (`model_first`),
    opt_einsum's path of `last_two_steps_subscripts` contracts the last reward.
    """
    assert step.transition is not None and step.observation is not None
    n = len(policy)
    laid_out = []
    for i, (pi, children) in enumerate(
        zip(
            step_policies(policy, last.acting, last.rows, last.histories),
            step.children,
            strict=True,
        )
    ):
        shape = (
            eta.shape[1 + i],
            factors[i].shape[1],
            step.observation.shape[n + 1 + i],
        )
        row = (
            jnp.zeros(math.prod(shape), jnp.int32)
            .at[children]
            .set(jnp.arange(children.shape[0], dtype=jnp.int32))
        )
        laid_out.append(pi[row].reshape(*shape, pi.shape[1]))
    hb = letters(2 * n, "sqz")
    acts = hb[1::2]
    obs = letters(n, "sqz" + hb)
    final = letters(n, "sqz" + hb + obs)
    transition, observation = step.transition, step.observation
    value = contract_agents(eta, step.reward, factors)
    if model_first(step, last):
        model = jnp.einsum(
            f"s{acts}q,{acts}q{obs},q{final}->s"
            + "".join(a + o + f for a, o, f in zip(acts, obs, final, strict=True)),
            transition,
            observation,
            last.reward,
        )
        model = model.reshape(model.shape[0], *(x.size // x.shape[0] for x in laid_out))
        value = value + contract_agents(
            eta,
            model,
            tuple(
                (p[:, :, None, None] * q).reshape(q.shape[0], -1)
                for p, q in zip(factors, laid_out, strict=True)
            ),
        )
    else:
        later = last_two_steps_subscripts(n)[1]
        moves = (eta, *factors, transition, observation)
        value = value + jnp.einsum(
            later, *moves, *laid_out, last.reward, optimize=path_search(n)
        )
    reach = []
    for i in range(n):
        seen = acts.replace(acts[i], acts[i] + obs[i])
        model = jnp.einsum(f"s{acts}q,{acts}q{obs}->s{seen}", transition, observation)
        model = model.reshape(*model.shape[: 1 + i], -1, *model.shape[3 + i :])
        kept = contract_agents(eta, model, factors, keep=i)
        reach.append(
            (factors[i][:, :, None] * kept.reshape(laid_out[i].shape[:3]))
            .ravel()
            .take(step.children[i])
        )
    return value, tuple(reach)


def contract_agents(
    eta: jax.Array,
    model: jax.Array,
    factors: tuple[jax.Array, ...],
    keep: int | None = None,
) -> jax.Array:
    """sum_{s, h, k} eta[s, h_1..h_n] prod_i factors_i[h_i, k_i] model[s, k_1..k_n]
    (each agent's k one axis), a scalar; with `keep` = i, agent i's factor is not
    used and [h_i, k_i] is left open, float[H_i, K_i]. One agent at a time, in
    the order of `games.tabular.occupancy.agent_contractions`: every product is a
    matrix product per state that reads eta in its own layout (batched over
    seeds, this is what keeps XLA from transposing eta; opt_einsum's order, by
    FLOPs alone, made the last two steps 4 times slower on the CPU)."""
    order, subscripts = agent_contractions(len(factors), keep)
    if not order:
        return jnp.sum(jnp.einsum(subscripts[0], eta, model), axis=0)
    out = jnp.einsum(subscripts[0], model, factors[order[0]])
    out = jnp.einsum(subscripts[1], eta, out)
    for j, subscript in zip(order[1:], subscripts[2:], strict=True):
        out = jnp.einsum(subscript, out, factors[j])
    return jnp.sum(out, axis=0)


def play_distribution(game: TabularGame, policy: Policy) -> jax.Array:
    """The distribution of play, float[M]: over terminal histories (enumeration) or
    over the last step's joint action-observation histories and joint actions
    (recursion). The state path given the joint play does not depend on the
    policy, so either gives the same total-variation distance between policies."""
    if game.engine == "recursion":
        play = occupancy_pass(game.occupancy, policy, with_play=True)[2]
        assert play is not None
        return play
    return history_probs(game, policy)


def expected_return(game: TabularGame, policy: Policy) -> jax.Array:
    """E[sum_t discount^t r_t] under the joint policy, a scalar."""
    if game.engine == "recursion":
        return occupancy_pass(game.occupancy, policy)[0]
    return jnp.dot(history_probs(game, policy), game.returns)


def infostate_entropy(pi: jax.Array) -> jax.Array:
    """Shannon entropy H(pi(.|h)) of each row, float[K]; 0 log 0 = 0."""
    return -jnp.sum(
        jnp.where(pi > 0, pi * jnp.log(jnp.where(pi > 0, pi, 1.0)), 0.0), -1
    )


def reach_probs(game: TabularGame, policy: Policy) -> Policy:
    """Per agent, float[K_i]: the probability that each information state is reached
    (summed over the histories through it; each is visited at most once)."""
    if game.engine == "recursion":
        return occupancy_pass(game.occupancy, policy)[1]
    prob = history_probs(game, policy)
    return tuple(
        jax.ops.segment_sum(
            jnp.broadcast_to(prob[:, None], infostate.shape).ravel(),
            infostate.ravel(),
            num_segments=pi.shape[0],
        )
        for pi, infostate in zip(policy, game.infostate, strict=True)
    )


def expected_entropy(
    game: TabularGame, policy: Policy, weighting: str = "reach"
) -> jax.Array:
    """The entropy term of J_tau, a scalar.

    reach:   E_pi[sum_t sum_i H(pi_i(.|h_i,t))], every information state weighted by
             the probability that the joint policy reaches it (the on-policy bonus
             that PPO and REINFORCE estimate).
    uniform: sum_i sum_h H(pi_i(.|h)) over all information states of positive
             chance probability, each weighted 1, reached or not.
    For a matrix game the two coincide.
    """
    if weighting not in ENTROPY_WEIGHTINGS:
        raise ValueError(f"entropy weighting must be one of {ENTROPY_WEIGHTINGS}")
    entropies = tuple(infostate_entropy(pi) for pi in policy)
    if weighting == "uniform":
        return sum(jnp.sum(h) for h in entropies)  # type: ignore[return-value]
    if game.engine == "recursion":
        reach = occupancy_pass(game.occupancy, policy)[1]
        return sum(  # type: ignore[return-value]
            jnp.dot(r, h) for r, h in zip(reach, entropies, strict=True)
        )
    prob = history_probs(game, policy)
    per_history = sum(
        jnp.sum(h[infostate], axis=-1)
        for h, infostate in zip(entropies, game.infostate, strict=True)
    )
    return jnp.dot(prob, per_history)


def regularized_objective(
    game: TabularGame,
    policy: Policy,
    tau: jax.Array | float,
    weighting: str = "reach",
) -> jax.Array:
    """J_tau(pi) = E[sum_t r_t] + tau * entropy term (see `expected_entropy`).

    Forkel et al. 2025 (arXiv:2511.22581), the entropy-regularized objective.
    """
    if game.engine == "recursion" and weighting == "reach":
        value, reach, _ = occupancy_pass(game.occupancy, policy)
        bonus = sum(
            jnp.dot(r, infostate_entropy(pi))
            for r, pi in zip(reach, policy, strict=True)
        )
        return value + tau * bonus
    return expected_return(game, policy) + tau * expected_entropy(
        game, policy, weighting
    )


def softmax_policy_gradient(game: TabularGame, logits: Policy) -> Policy:
    """d E[return] / d logits by the policy-gradient theorem, without autodiff.

    For softmax policies, grad_{theta_i(h, a)} = sum_{z through h} P(z) R(z)
    (1[a_i(z, h) = a] - pi_i(a | h)) (Williams 1992; Sutton et al. 2000). A second
    code path against which autodiff of J_0 is checked.
    """
    policy = softmax_policy(logits, game.legal)
    weighted = history_probs(game, policy) * game.returns  # float[Z]
    grads = []
    for pi, infostate, action in zip(policy, game.infostate, game.action, strict=True):
        num_infostates, num_actions = pi.shape
        flat = (infostate * num_actions + action).ravel()
        w = jnp.broadcast_to(weighted[:, None], infostate.shape).ravel()
        taken = jax.ops.segment_sum(w, flat, num_segments=num_infostates * num_actions)
        through = jax.ops.segment_sum(w, infostate.ravel(), num_segments=num_infostates)
        grads.append(taken.reshape(pi.shape) - through[:, None] * pi)
    return tuple(grads)
