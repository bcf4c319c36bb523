"""The test suite, in folders that mirror the house: games/tabular, games/envs,
marl/tabular, marl/deep and marl (the shared trainer pieces), experiments (the
entry points, run as a user would) and benchmarks; the helpers the folders share
(tiny run settings, brute force, a toy environment, sharded runs) at the top."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
"""The checkout's root."""
