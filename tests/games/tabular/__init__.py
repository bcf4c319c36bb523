"""Tests of games/tabular/."""
