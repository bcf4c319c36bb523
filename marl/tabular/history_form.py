"""A tabular game as the map whose fixed points are the entropy-regularized
flow's, over its terminal histories, in interval arithmetic
(`marl.tabular.intervals`) and in float64: what `marl.tabular.verified` proves
fixed points of.

The flow on J_tau (reach-weighted entropy, `marl.tabular.exact`) is at rest
where every agent plays pi_i(.|h) = softmax(Q_i(h, .) / tau) at every
information state h, Q_i the soft value (`marl.tabular.exact_pg.natural_direction`).
Over the game's terminal histories z (`HistoryForm`) that map is

    F(z)(h, a) = softmax_a(Q(h, a) / tau),  Q(h, a) = N(h, a) / R(h),
    N(h, a) = sum_{z through (h, a)} chance(z) prod_{other decisions} pi * U(z),
    R(h)    = sum_{z through h} P(z),
    U(z)    = return(z) + tau sum_{decisions on z} H(pi(.|h')),

over the variables z = pi(a|h) of every agent, legal actions only. U adds to
Q(h, .) the entropies of decisions before h's step and of the others' at h's
step, and the return before it: constants given h, which softmax ignores. Off
the simplices R(h) is not the reach of h; F still maps into them, and the
fixed points, and whether I - F' is singular at them, do not depend on how F
is extended off them.

`jacobian` encloses I - F' over a whole box by differentiating the sums above
term by term (the leave-one-out and leave-two-out products of each history);
softmax's range over a box is exact (`intervals.softmax`).

The data are the spec's float64 numbers: each history's chance (a product of
at most 2 horizon + 1 of them) and return (a sum of horizon discounted rewards)
are widened by the bound on their rounding in the enumeration.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np

from games.tabular import DecPOMDP, MatrixGame, TabularGame
from games.tabular.compile import count_histories, float64_histories
from marl.tabular import intervals as iv
from marl.tabular.intervals import Interval

MAX_VARIABLES = 800
"""The largest policy (legal actions over all information states) verified:
the Krawczyk step is dense in it."""
ONE_BINCOUNT = 1 << 18
"""Up to this many decisions (points x histories x decisions), the float64 map
sums a batch of points with one bincount; above it, point by point (measured:
on box pushing at horizon 3, 25 points, one bincount was 1.5x slower)."""
MAX_TERMS = 30_000_000
"""The largest number of history-decision-decision-action terms of the
Jacobian's enclosure (memory grows with it)."""


MAX_PAIRS = 4_000_000
"""The largest number of history-decision-decision pairs of a game the
continuation tracer follows (`point_log_jacobians` scatters one term per
pair at every step; Dec-Tiger at horizon 3 has 3.0M: about 0.5 s a step)."""


class HistoryForm(NamedTuple):
    """A tabular game over the n variables pi_i(a|h) of a joint policy (every
    agent's information states, legal actions only, agent by agent in the
    layout of `games.tabular.compile`), by its Z terminal histories of D
    decisions each."""

    chance: Interval  # [Z]: probability of the history's chance events
    returns: Interval  # [Z]: its discounted return
    taken: np.ndarray  # int[Z, D]: the variable of each decision
    info: np.ndarray  # int[Z, D]: its information state (numbered over agents)
    var_info: np.ndarray  # int[n]: the information state of each variable
    info_vars: np.ndarray  # int[K, A]: the variables of each, -1 padded
    var_index: tuple[np.ndarray, ...]  # per agent int[K_i, A_i]: variable or -1

    @property
    def size(self) -> int:
        return int(self.var_info.size)

    @property
    def num_infos(self) -> int:
        return int(self.info_vars.shape[0])


def _form(
    chance: Interval,
    returns: Interval,
    infostate: tuple[np.ndarray, ...],
    action: tuple[np.ndarray, ...],
    legal: tuple[np.ndarray, ...],
) -> HistoryForm:
    index, offset, info_offset, var_info = [], 0, 0, []
    for mask in legal:
        table = np.full(mask.shape, -1, np.int64)
        table[mask] = offset + np.arange(mask.sum())
        var_info.append(info_offset + np.nonzero(mask)[0])
        index.append(table)
        offset += int(mask.sum())
        info_offset += mask.shape[0]
    widest = max(mask.shape[1] for mask in legal)
    rows = [row[row >= 0] for table in index for row in table]
    info_vars = np.full((len(rows), widest), -1, np.int64)
    for k, row in enumerate(rows):
        info_vars[k, : row.size] = row
    starts = np.cumsum([0, *(mask.shape[0] for mask in legal)])
    taken = np.concatenate(
        [t[s, a] for t, s, a in zip(index, infostate, action, strict=True)], axis=1
    )
    info = np.concatenate(
        [s + start for s, start in zip(infostate, starts[:-1], strict=True)], axis=1
    )
    if (taken < 0).any():
        raise ValueError("a history takes an illegal action")
    return HistoryForm(
        chance, returns, taken, info, np.concatenate(var_info), info_vars, tuple(index)
    )


def matrix_form(payoff: np.ndarray) -> HistoryForm:
    """The 2-player matrix game with common payoff `payoff` float[n, m] (exact
    in float64): one history per joint action."""
    payoff = np.asarray(payoff, np.float64)
    n, m = payoff.shape
    a, b = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    zeros = np.zeros((n * m, 1), np.int64)
    return _form(
        iv.point(np.ones(n * m)),
        iv.point(payoff.ravel()),
        (zeros, zeros),
        (a.reshape(-1, 1), b.reshape(-1, 1)),
        (np.ones((1, n), bool), np.ones((1, m), bool)),
    )


def game_form(spec: DecPOMDP | MatrixGame, game: TabularGame) -> HistoryForm:
    """`spec` (compiled as `game`, whose policy layout the form keeps) from its
    float64 enumeration, chance and returns widened by their rounding there."""
    histories = float64_histories(spec, game)
    horizon = game.horizon
    chance_error = iv.gamma(2 * horizon + 2)
    largest = _largest_reward(spec)
    return_error = iv.up(iv.gamma(2 * horizon + 2) * horizon * largest)
    legal = tuple(
        np.ones((k, len(names)), bool) if game.legal is None else np.asarray(m)
        for k, names, m in zip(
            game.num_infostates,
            game.action_names,
            game.legal or (None,) * len(game.num_infostates),
            strict=True,
        )
    )
    c, r = histories.chance, histories.returns
    return _form(
        Interval(iv.down(c * (1 - chance_error)), iv.up(c * (1 + chance_error))),
        Interval(iv.down(r - return_error), iv.up(r + return_error)),
        histories.infostate,
        histories.action,
        legal,
    )


def merged(form: HistoryForm) -> HistoryForm:
    """`form` with the histories that take the same decisions merged into one.
    F depends on a history only through its decisions (the variables it takes
    and their information states) and the products chance * (return + tau *
    entropies), so a group of histories is one history of the group's total
    chance C and chance-weighted mean return R = sum chance * return / C: the
    same map, Jacobians and expected returns over fewer histories (Dec-Tiger at
    horizon 3: 83,232 to 11,664; box pushing: 35,920 to 23,872). The bounds
    stay rigorous: C and R are enclosed with every rounding accounted for
    (`intervals.segment_sum`, `intervals.div`; R also within the hull of the
    group's returns), so the interval map over the merged form encloses the
    exact one and serves the proofs; a history alone in its group keeps its
    bounds unchanged, and a form without two such histories (a matrix game)
    is returned as it is."""
    rows, first, inverse, count = np.unique(
        form.taken, axis=0, return_index=True, return_inverse=True, return_counts=True
    )
    if rows.shape[0] == form.taken.shape[0]:
        return form
    order = np.argsort(first)  # the groups in the order of their first history
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    group = rank[inverse.ravel()]
    num = rows.shape[0]
    alone = count[order] == 1
    chance = iv.segment_sum(form.chance, group, num)
    chance = Interval(np.maximum(chance.lo, 0.0), chance.hi)  # chances are >= 0
    weighted = iv.segment_sum(iv.mul(form.chance, form.returns), group, num)
    low, high = np.full(num, np.inf), np.full(num, -np.inf)
    np.minimum.at(low, group, form.returns.lo)
    np.maximum.at(high, group, form.returns.hi)
    positive = chance.lo > 0
    mean = iv.div(weighted.at(positive), chance.at(positive))
    low[positive] = np.maximum(low[positive], mean.lo)
    high[positive] = np.minimum(high[positive], mean.hi)
    single = first[order][alone]
    for bounds, original in ((chance, form.chance), ((low, high), form.returns)):
        bounds[0][alone], bounds[1][alone] = original.lo[single], original.hi[single]
    return form._replace(
        chance=chance,
        returns=Interval(low, high),
        taken=rows[order],
        info=form.info[first[order]],
    )


def _largest_reward(spec: DecPOMDP | MatrixGame) -> float:
    if isinstance(spec, MatrixGame):
        return float(np.abs(spec.payoff).max())
    return float(np.abs(spec.reward).max())


def variable_count(game: TabularGame) -> int:
    """The policy variables of `game`: legal actions over every information
    state of every agent (a `HistoryForm`'s size)."""
    legal = game.legal or (None,) * len(game.num_infostates)
    return sum(
        k * len(names) if mask is None else int(np.asarray(mask).sum())
        for k, names, mask in zip(
            game.num_infostates, game.action_names, legal, strict=True
        )
    )


def too_large(spec: DecPOMDP | MatrixGame, game: TabularGame) -> str | None:
    """Why `game_form` and the verified test would not fit (None: they fit),
    told from the counts alone, before any history is enumerated."""
    size = variable_count(game)
    if size > MAX_VARIABLES:
        return f"{size} policy variables, over {MAX_VARIABLES}"
    decpomdp = spec.to_decpomdp() if isinstance(spec, MatrixGame) else spec
    decisions = int(decpomdp.acting.sum())
    terms = count_histories(decpomdp) * decisions**2 * max(decpomdp.num_actions)
    if terms > MAX_TERMS:
        return (
            f"{terms:,} Jacobian terms (histories x decisions^2 x actions), "
            f"over {MAX_TERMS:,}"
        )
    return None


def too_large_to_trace(spec: DecPOMDP | MatrixGame, game: TabularGame) -> str | None:
    """Why the continuation tracer would not follow `game` (None: it would):
    `too_large`'s reasons, or more than MAX_PAIRS pairs of decisions."""
    why = too_large(spec, game)
    if why is not None:
        return why
    decpomdp = spec.to_decpomdp() if isinstance(spec, MatrixGame) else spec
    pairs = count_histories(decpomdp) * int(decpomdp.acting.sum()) ** 2
    if pairs > MAX_PAIRS:
        return (
            f"{pairs:,} pairs of decisions (histories x decisions^2), "
            f"over {MAX_PAIRS:,}"
        )
    return None


def flatten(form: HistoryForm, policy: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per agent policies float[..., K_i, A_i] as float64[..., n] (legal only)."""
    parts = [
        np.asarray(pi, np.float64)[..., table >= 0]
        for pi, table in zip(policy, form.var_index, strict=True)
    ]
    return np.concatenate(parts, axis=-1)


def uniform(form: HistoryForm) -> np.ndarray:
    """The uniform joint policy, float64[n]."""
    legal = (form.info_vars >= 0).sum(1)
    return 1.0 / legal[form.var_info]


# -- the map, in interval arithmetic ------------------------------------------


def _leave_out(pi: Interval, chance: Interval, skip: tuple[int, ...]) -> Interval:
    """chance * prod over decisions not in `skip` of pi [Z, D] -> [Z]."""
    out = chance
    for d in range(pi.shape[1]):
        if d not in skip:
            out = iv.mul(out, pi.at(np.s_[:, d]))
    return out


def _entropies(form: HistoryForm, z: Interval) -> tuple[Interval, Interval]:
    """(H per information state [K], dH/dz per variable [n] = -(log z + 1))."""
    logs = iv.log(z)
    terms = iv.neg(iv.mul(z, logs))
    per_info = iv.segment_sum(terms, form.var_info, form.num_infos)
    return per_info, iv.neg(iv.add(logs, iv.point(np.ones(z.shape))))


def _softmax_by_info(form: HistoryForm, u: Interval) -> Interval:
    lo, hi = np.empty(form.size), np.empty(form.size)
    for row in form.info_vars:
        vars_ = row[row >= 0]
        p = iv.softmax(u.at(vars_))
        lo[vars_], hi[vars_] = p.lo, p.hi
    return Interval(lo, hi)


class _Parts(NamedTuple):
    q: Interval  # [n]
    reach: Interval  # [K]
    utility: Interval  # [Z]
    without: list[Interval]  # per decision d: chance * prod_{e != d} pi, [Z]
    dh: Interval  # [n]


def _parts(form: HistoryForm, tau: float, z: Interval) -> _Parts:
    pi = z.at(form.taken)
    per_info, dh = _entropies(form, z)
    utility = iv.add(
        form.returns, iv.scale(iv.total(per_info.at(form.info), axis=1), tau)
    )
    without = [_leave_out(pi, form.chance, (d,)) for d in range(pi.shape[1])]
    through = Interval(
        np.stack([w.lo for w in without], 1), np.stack([w.hi for w in without], 1)
    )
    numerator = iv.segment_sum(
        iv.mul(through, utility.at(np.s_[:, None])), form.taken, form.size
    )
    full = iv.mul(through.at(np.s_[:, 0]), pi.at(np.s_[:, 0]))
    reach = iv.segment_sum(full.at(np.s_[:, None]), form.info, form.num_infos)
    q = iv.div(numerator, reach.at(form.var_info))
    return _Parts(q, reach, utility, without, dh)


def fixed_point_map(form: HistoryForm, tau: float, z: Interval) -> Interval:
    """F over the box z [n]."""
    return _softmax_by_info(form, iv.divide(_parts(form, tau, z).q, tau))


def jacobian(form: HistoryForm, tau: float, z: Interval) -> Interval:
    """G'(Z) = I - F'(Z) over the box z, [n, n]."""
    parts = _parts(form, tau, z)
    n, k = form.size, form.num_infos
    pi = z.at(form.taken)
    steps = form.taken.shape[1]
    numerator_terms, numerator_at, reach_terms, reach_at = [], [], [], []
    for d in range(steps):
        for e in range(steps):
            if e != d:  # d (h, a) and the other decision e both on z
                both = _leave_out(pi, form.chance, (d, e))
                numerator_terms.append(iv.mul(both, parts.utility))
                numerator_at.append(form.taken[:, d] * n + form.taken[:, e])
            # R(h) for h at d depends on every decision e's variable on z
            reach_terms.append(parts.without[e])
            reach_at.append(form.info[:, d] * n + form.taken[:, e])
    # U(z)'s entropies: every variable of every information state on z.
    cols = form.info_vars[form.info]  # [Z, D, A]
    valid = cols >= 0
    for d in range(steps):
        weight = iv.scale(parts.without[d], tau)  # [Z]
        slope = parts.dh.at(np.where(valid, cols, 0))  # [Z, D, A]
        term = iv.mul(
            Interval(weight.lo[:, None, None], weight.hi[:, None, None]), slope
        )
        term = Interval(np.where(valid, term.lo, 0.0), np.where(valid, term.hi, 0.0))
        numerator_terms.append(term)
        numerator_at.append(form.taken[:, d, None, None] * n + np.where(valid, cols, 0))
    d_num = _scatter(numerator_terms, numerator_at, n * n)
    d_num = Interval(d_num.lo.reshape(n, n), d_num.hi.reshape(n, n))
    d_reach = _scatter(reach_terms, reach_at, k * n)
    d_reach = Interval(d_reach.lo.reshape(k, n), d_reach.hi.reshape(k, n))
    rows = form.var_info
    q = parts.q
    d_q = iv.div(
        iv.sub(d_num, iv.mul(Interval(q.lo[:, None], q.hi[:, None]), d_reach.at(rows))),
        Interval(parts.reach.lo[rows, None], parts.reach.hi[rows, None]),
    )
    p = _softmax_by_info(form, iv.divide(q, tau))
    p_col = Interval(p.lo[:, None], p.hi[:, None])
    mean = iv.segment_sum(
        iv.mul(p_col, d_q),
        np.broadcast_to(rows[:, None] * n + np.arange(n), (n, n)),
        k * n,
    )
    mean = Interval(mean.lo.reshape(k, n), mean.hi.reshape(k, n))
    d_f = iv.divide(iv.mul(p_col, iv.sub(d_q, mean.at(rows))), tau)
    return iv.sub(iv.point(np.eye(n)), d_f)


def _scatter(terms: list[Interval], at: list[np.ndarray], size: int) -> Interval:
    lo = np.concatenate(
        [np.broadcast_to(t.lo, a.shape).ravel() for t, a in zip(terms, at, strict=True)]
    )
    hi = np.concatenate(
        [np.broadcast_to(t.hi, a.shape).ravel() for t, a in zip(terms, at, strict=True)]
    )
    index = np.concatenate([a.ravel() for a in at])
    return iv.segment_sum(Interval(lo, hi), index, size)


# -- float64 points ---------------------------------------------------------


def point_map(form: HistoryForm, tau: float, z: np.ndarray) -> np.ndarray:
    """F at points z float64[..., n], in float64 without rounding control (for
    polishing candidates and the search, not for proofs)."""
    u, starts = _point_logits(form, tau, z)
    e = np.exp(u)
    return e / np.add.reduceat(e, starts, axis=-1)[..., form.var_info]


def point_log_map(form: HistoryForm, tau: float, z: np.ndarray) -> np.ndarray:
    """log F at points z float64[..., n] (a log-softmax: no probability needs
    to be representable), as `point_map`."""
    u, starts = _point_logits(form, tau, z)
    total = np.add.reduceat(np.exp(u), starts, axis=-1)
    return u - np.log(total)[..., form.var_info]


def products_around(pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The products of each history's decisions' probabilities pi [..., D]
    before and after each decision d, float64[..., D] each (1 where there are
    none), each taken in order: numpy's cumprod of [1, pi...], bit for bit,
    a decision at a time over contiguous rows (its cumprod along a last axis
    of a few decisions is up to 2.5x slower)."""
    steps = pi.shape[-1]
    by_step = np.moveaxis(pi, -1, 0)
    before, after = np.empty(by_step.shape), np.empty(by_step.shape)
    before[0], after[-1] = 1.0, 1.0
    for d in range(1, steps):
        np.multiply(before[d - 1], by_step[d - 1], out=before[d])
        back = steps - 1 - d
        np.multiply(after[back + 1], by_step[back + 1], out=after[back])
    return np.moveaxis(before, 0, -1), np.moveaxis(after, 0, -1)


def _point_logits(
    form: HistoryForm, tau: float, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Q(h, a) / tau at points z [..., n], less its largest value at each
    information state, and the first variable of each (for reduceat)."""
    z = np.asarray(z, np.float64)
    batch = z.shape[:-1]
    flat = z.reshape(-1, form.size)
    chance = (form.chance.lo + form.chance.hi) / 2
    returns = (form.returns.lo + form.returns.hi) / 2
    starts = np.searchsorted(form.var_info, np.arange(form.num_infos))  # sorted
    pi = flat[:, form.taken]  # [S, Z, D]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(flat > 0, -flat * np.log(np.where(flat > 0, flat, 1.0)), 0.0)
    per_info = np.add.reduceat(terms, starts, axis=1)  # [S, K]
    utility = returns + tau * per_info[:, form.info].sum(-1)  # [S, Z]
    before, after = products_around(pi)
    through = chance[:, None] * before * after  # leave-one-out products [S, Z, D]
    weighted = through * utility[..., None]
    full = through[..., 0] * pi[..., 0]  # P(z)
    steps = pi.shape[-1]
    if len(flat) * form.taken.size <= ONE_BINCOUNT:
        # Small games in a batch (the tracer's differences): one bincount
        # for every point, saving Python's per-call overhead.
        samples = np.arange(len(flat))[:, None, None]
        numerator = np.bincount(
            (samples * form.size + form.taken).ravel(),
            weighted.ravel(),
            len(flat) * form.size,
        ).reshape(len(flat), form.size)
        reach = np.bincount(
            (samples * form.num_infos + form.info).ravel(),
            np.repeat(full[..., None], steps, -1).ravel(),
            len(flat) * form.num_infos,
        ).reshape(len(flat), form.num_infos)
    else:  # large ones point by point: no index arrays the batch's size
        numerator = np.stack(
            [np.bincount(form.taken.ravel(), w.ravel(), form.size) for w in weighted]
        )
        reach = np.stack(
            [
                np.bincount(form.info.ravel(), np.repeat(f, steps), form.num_infos)
                for f in full
            ]
        )
    with np.errstate(divide="ignore", invalid="ignore"):  # unreached: nan
        u = numerator / reach[:, form.var_info] / tau
    u = u - np.maximum.reduceat(u, starts, axis=1)[:, form.var_info]
    return u.reshape(*batch, form.size), starts


def point_map_one(form: HistoryForm, tau: float, z: np.ndarray) -> np.ndarray:
    """`point_map` at one point float64[n]."""
    return point_map(form, tau, np.asarray(z)[None])[0]


def point_jacobian(form: HistoryForm, tau: float, z: np.ndarray) -> np.ndarray:
    middle = jacobian(form, tau, iv.point(z))
    return (middle.lo + middle.hi) / 2


class PairScatter(NamedTuple):
    """Where `point_log_jacobians` scatters the terms of every pair (d, e) of
    a history's decisions, int64[Z * D * D] in the order (history, d, e)."""

    pairs: np.ndarray  # v_d * n + v_e: the entry (v_d, v_e) of an n x n matrix
    by_info: np.ndarray  # v_d * K + k_e: the entry (v_d, information state of e)
    reached: np.ndarray  # k_d * n + v_e: the entry (information state of d, v_e)


_SCATTERS: dict[tuple[int, int, int, int], PairScatter] = {}


def pair_scatter(form: HistoryForm) -> PairScatter:
    """`form`'s `PairScatter`, built once and kept while its `taken` and
    `info` arrays live (the tracer evaluates the Jacobians thousands of times
    per game). Refuses a form whose history takes a variable twice (the pairs'
    diagonal would not be empty)."""
    n, k = form.size, form.num_infos
    key = (id(form.taken), id(form.info), n, k)
    found = _SCATTERS.get(key)
    if found is not None:
        return found
    ordered = np.sort(form.taken, axis=1)
    if (ordered[:, 1:] == ordered[:, :-1]).any():
        raise ValueError("a history takes the same policy variable twice")
    taken, info = form.taken.astype(np.int64), form.info.astype(np.int64)
    found = PairScatter(
        (taken[:, :, None] * n + taken[:, None, :]).ravel(),
        (taken[:, :, None] * k + info[:, None, :]).ravel(),
        (info[:, :, None] * n + taken[:, None, :]).ravel(),
    )
    _SCATTERS[key] = found
    for array in (form.taken, form.info):
        weakref.finalize(array, _SCATTERS.pop, key, None)
    return found


def point_log_jacobians(
    form: HistoryForm, tau: float, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The derivatives of log F at one point z float64[n] > 0 with respect to
    log z and log tau: (float64[n, n], float64[n]), in float64 without
    rounding control (for the continuation tracer, not for proofs).

    With u_v = N_v / (R_k tau) the soft value of variable v at information
    state k, N_v = sum over histories h through v of c_h prod_{other
    decisions} pi * U_h, U_h = r_h + tau * (entropies of h's information
    states), and R_k the reach of k, each derivative is a sum over pairs of
    decisions of a history (one scatter of histories x decisions^2 terms),
    and log F = u - logsumexp over the information state."""
    z = np.asarray(z, np.float64)
    n, k = form.size, form.num_infos
    chance = (form.chance.lo + form.chance.hi) / 2
    returns = (form.returns.lo + form.returns.hi) / 2
    starts = np.searchsorted(form.var_info, np.arange(k))
    log_z = np.log(z)
    entropy = np.add.reduceat(-z * log_z, starts)  # [K]
    pi = z[form.taken]  # [Z, D]
    before, after = products_around(pi)
    through = chance[:, None] * before * after  # leave-one-out products [Z, D]
    full = through[:, 0] * pi[:, 0]  # P(h)
    entropies = entropy[form.info].sum(-1)  # [Z]
    utility = returns + tau * entropies
    steps = form.taken.shape[1]
    reach = np.bincount(form.info.ravel(), np.repeat(full, steps), k)
    scale = reach[form.var_info] * tau
    weighted = (through * utility[:, None]).ravel()
    u = np.bincount(form.taken.ravel(), weighted, n) / scale
    # Pairs of decisions (d, e) of each history, [Z, D, D] flattened: the
    # weight of (h, d) repeated over e.
    scatter = pair_scatter(form)
    pairs = np.bincount(scatter.pairs, np.repeat(weighted, steps), n * n)
    pairs = pairs.reshape(n, n)  # z_w dN_v/dz_w through w's own probability
    np.fill_diagonal(pairs, 0.0)  # d = e: a history's variables are distinct
    by_info = np.bincount(
        scatter.by_info, np.repeat(through.ravel(), steps), n * k
    ).reshape(n, k)
    reached = np.bincount(
        scatter.reached, np.repeat(full, steps * steps), k * n
    ).reshape(k, n)  # z_w dR_k/dz_w
    d_entropy = tau * z * (-log_z - 1.0)  # z_w d(tau e_k(w))/dz_w
    du = (pairs + by_info[:, form.var_info] * d_entropy) / scale[:, None]
    du -= u[:, None] * reached[form.var_info] / reach[form.var_info][:, None]
    du_s = (
        np.bincount(form.taken.ravel(), (through * entropies[:, None]).ravel(), n)
        / reach[form.var_info]
        - u
    )
    shifted = u - np.maximum.reduceat(u, starts)[form.var_info]
    e = np.exp(shifted)
    f = e / np.add.reduceat(e, starts)[form.var_info]
    mean = np.add.reduceat(f[:, None] * du, starts, axis=0)[form.var_info]
    mean_s = np.add.reduceat(f * du_s, starts)[form.var_info]
    return du - mean, du_s - mean_s
