"""The GPU scripts' Python halves (gpu_grid, gpu_hanabi), importable as
modules (`from scripts import gpu_grid`); each also runs as a file
(`python scripts/gpu_grid.py`, as the .sh scripts call it)."""
