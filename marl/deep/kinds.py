"""The two policy kinds every evaluation plays and every results file names: the
trained (sampled) policy and its greedification (argmax over legal actions).
No JAX here: report code that only names the kinds loads nothing else."""

KINDS = ("", "_greedy")
"""The kinds, by the suffix their results carry (`scores`, `scores_greedy`)."""

KIND_NAMES = {"": "sampled", "_greedy": "greedy"}
"""Each kind's name (also `agent_measures.ConventionPlay`'s field for it)."""
