"""Tests of games/envs/."""
