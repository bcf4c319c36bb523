"""The standard Dec-POMDP benchmarks: each a function of the horizon, built from
its paper's definition (`games.tabular.benchmark_problems`,
`games.tabular.grid_worlds`) and equal to the MADP toolbox's file of it (tested
when `../shared/dpomdp` is present), with the published optima per horizon.

`games.tabular.catalogue` adds them to the catalogue; docs/tabular.md describes them.
"""

from __future__ import annotations

from collections.abc import Callable

from games.tabular.benchmark_problems import (
    broadcast_channel,
    dectiger,
    fire_fighting,
    recycling_robots,
)
from games.tabular.grid_worlds import box_pushing, mars_rovers, meeting_grid_2x2
from games.tabular.spec import DecPOMDP

# Standard Dec-POMDP benchmarks. Optimal values of the undiscounted finite-horizon
# problems, per horizon, from the table at masplan.org ("Optimal values for
# finite-horizon Dec-POMDPs", which credits most of them to GMAA*-Cluster:
# Oliehoek, Spaan, Whiteson 2009, "Lossless clustering of histories in
# decentralized POMDPs", AAMAS; and the incremental expansion of GMAA*-ICE:
# Oliehoek, Spaan, Amato, Whiteson 2013, JAIR 46), which sets the discount to 1
# whatever a file says. A horizon missing here has no optimum we could source, and
# results say so (null). Mars rovers at horizon 5 (13.26, in earlier versions of
# this table) had no source and is dropped.
BENCHMARK_OPTIMA: dict[str, dict[int, float]] = {
    "dectiger": {
        2: -4.0,
        3: 5.190812,
        4: 4.802755,
        5: 7.026451,
        6: 10.381625,
    },
    "broadcast_channel": {
        2: 2.0,
        3: 2.99,
        4: 3.89,
        5: 4.79,
        6: 5.69,
        7: 6.59,
        8: 7.49,
        9: 8.39,
        10: 9.29,
    },
    "recycling_robots": {2: 7.0, 3: 10.660125, 4: 13.38, 5: 16.486},
    "meeting_grid_2x2": {2: 0.91, 3: 1.550444, 4: 2.241577, 5: 2.970496, 6: 3.717168},
    "fire_fighting": {2: -4.383496, 3: -5.736969, 4: -6.578834, 5: -7.069874},
    "box_pushing": {2: 17.6, 3: 66.081, 4: 98.593613},
    "mars_rovers": {2: 5.8, 3: 9.38, 4: 10.1808},
}


BENCHMARKS: dict[str, Callable[..., DecPOMDP]] = {
    "dectiger": dectiger,
    "broadcast_channel": broadcast_channel,
    "recycling_robots": recycling_robots,
    "meeting_grid_2x2": meeting_grid_2x2,
    "fire_fighting": fire_fighting,
    "box_pushing": box_pushing,
    "mars_rovers": mars_rovers,
}
"""Catalogue games with a `horizon` parameter, and the MADP file each equals."""
BENCHMARK_FILES = {
    "dectiger": "dectiger.dpomdp",
    "broadcast_channel": "broadcastChannel.dpomdp",
    "recycling_robots": "recycling.dpomdp",
    "meeting_grid_2x2": "GridSmall.dpomdp",
    "fire_fighting": "fireFighting_2_3_3.dpomdp.gz",
    "box_pushing": "boxPushingUAI07.dpomdp.gz",
    "mars_rovers": "Mars.dpomdp.gz",
}
