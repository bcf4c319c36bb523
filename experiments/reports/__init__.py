"""Figures (`plots`) and tables (`tables`; cross-play's in `pairs`) from
results files, for both wings: the entry points' outputs, `experiments.compare`
and the notebooks."""
