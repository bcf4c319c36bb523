"""The lever benchmark end to end at a tiny size: its timings are not tested, its
agreement check is (the fast path, the general exact path and NumPy must reach the
same policies, or the script exits 1)."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_lever_benchmark_paths_agree_at_a_tiny_size():
    # A subprocess: the script sets XLA_FLAGS (host devices per core) for itself.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.lever_phase_diagram",
            *("--taus-count", "3", "--seeds", "8", "--steps", "50", "--general"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.count(": PASS (atol") == 3
    assert "speed ratio JAX/NumPy" in result.stdout
