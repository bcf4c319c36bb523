"""Tests of benchmarks/ and of the GPU scripts in scripts/."""
