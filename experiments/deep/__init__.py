"""The deep wing's side of the entry points (marl.deep, games.envs): an IPPO run
and its directory (`ippo_runs`, `ippo_directory`), the curves it sends to
TensorBoard or W&B (`loggers`), the agents of finished runs (`agents`, and
`players` for users: load one, let it act, pair it with a bot), and cross-play
in rounds (`evaluation`)."""
