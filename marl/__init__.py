"""Learners, cross-play and analysis, in two wings over a shared core.

- `marl.tabular`: the exact wing: exact values of tabular joint policies, the
  exact (and sampled) entropy-regularized policy gradient, greedification,
  cross-play, conventions, symmetry groups, equivariance, Other-Play, tau*.
- `marl.deep`: the sampled wing: IPPO on any environment of the contract
  (`games.envs.contract`), its networks, rollout, PPO pieces, play and checkpoints.
- shared by both: the learner core and grid trainer (`marl.trainer`), sharding
  over devices (`marl.sharding`), the SP/XP summary (`marl.xp_stats`) and the
  atomic writer (`marl.files`).
"""
