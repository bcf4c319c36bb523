"""Hydra entry points and the only place with side effects (files, logs, plots)."""
