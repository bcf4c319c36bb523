"""Overrides that make a tabular entry-point run tiny (tests only)."""

TINY = [
    "seeds=3",
    "taus=[0,1]",
    "learner.steps=20",
    "learner.window=10",
    "learner.max_steps=20",
]
