"""Tests of marl/tabular/."""
