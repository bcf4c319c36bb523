"""Learners, cross-play and analysis for tabular games (and later Hanabi)."""
