"""Tests of marl/deep/."""
