"""The environment room: the contract that the deep wing (IPPO, play, cross-play)
is written against (`contract`), its registry, and the environments that
implement it: Hanabi (`hanabi`) and JaxMARL's Overcooked V2 (`overcooked`, an
optional extra), each imported only when asked for by `make_env`. Nothing here
knows of the tabular room (`games.tabular`)."""

from games.envs.contract import (
    ENVIRONMENTS,
    Environment,
    EnvironmentOptionError,
    Symmetries,
    UnknownEnvironmentError,
    identity_symmetry,
    make_env,
    reject_options,
)

__all__ = [
    "ENVIRONMENTS",
    "Environment",
    "EnvironmentOptionError",
    "Symmetries",
    "UnknownEnvironmentError",
    "identity_symmetry",
    "make_env",
    "reject_options",
]
