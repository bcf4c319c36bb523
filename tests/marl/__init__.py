"""Tests of marl/."""
