"""The sampled wing: IPPO with neural actor-critics on any environment of the
contract (`games.envs.contract`), playing trained agents together, and checkpoints."""
