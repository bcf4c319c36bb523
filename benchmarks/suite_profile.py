"""Where a test run's time goes (issue 60): a py-spy sampling of the suite,
every process's main thread, sorted by what JAX or Python was doing.

    py-spy record --subprocesses --idle --rate 20 --format raw -o suite.txt -- \\
        .venv/bin/python -m pytest -n 2 --dist loadfile -p no:randomly
    python -m benchmarks.suite_profile suite.txt --rate 20

py-spy (`pip install --target DIR py-spy`, kept out of the venv) writes one line
per distinct stack: `process A:"cmd";process B:"cmd";frame;...;frame COUNT`, the
processes from pytest's down to the sampled one. Depth 2 is an xdist worker,
deeper a process a test started; only a main thread's program counts. A stack
counts as waiting for a subprocess or importing where any frame is one (the
outermost decides), else as the innermost JAX phase it sits in (tracing,
lowering, an MLIR context, the compilation cache, XLA's compiler), else as the
rest: running programs and every other line of Python. With `--idle`, a
thread's waits are samples too.
"""

from __future__ import annotations

import collections
import pathlib
import re
import sys
from collections.abc import Iterable

from experiments.harness.arguments import ArgumentParser
from experiments.reports.study_tables import markdown_grid

OUTER = (
    ("waiting for a subprocess", ("Popen.wait", "Popen.communicate", "Popen._wait")),
    ("importing", ("_find_and_load",)),
)
"""Whatever runs below these frames is what they wait for or import."""
INNER = (
    ("tracing", ("trace_to_jaxpr_dynamic", "_create_pjit_jaxpr", "trace_to_jaxpr")),
    ("lowering", ("lower_jaxpr_to_module", "_cached_lowering_to_hlo")),
    ("MLIR contexts", ("make_ir_context",)),
    ("compilation cache", ("_cache_read", "_cache_write", "get_executable_and_time")),
    ("XLA compilation", ("backend_compile", "backend_compile_and_load")),
)
"""JAX's phases, the innermost deciding (an MLIR context is made while lowering)."""
REST = "running and other Python"
WAITING = OUTER[0][0]
PROCESSES = re.compile(r'(process \d+:".*?";)+')
"""The processes of a stack (a command line may hold ';')."""
MAIN = ("<module> ", "_run_module_as_main ")
"""A main thread's first frame (a script's, `python -c`'s or `python -m`'s):
other threads start in threading's `_bootstrap` or a pool's spawn, and the
interpreter's exit handlers run outside the program."""
CATEGORIES = [name for name, _ in OUTER + INNER] + [REST]
KINDS = ("workers", "subprocesses")


def category(frames: list[str]) -> str:
    """The category of one stack (frames root first, each `function (file:line)`)."""
    found = REST
    for frame in frames:
        function = frame.split(" (", 1)[0]
        for name, functions in OUTER:
            if function in functions:
                return name
        for name, functions in INNER:
            if function in functions:
                found = name
    return found


def tally(lines: Iterable[str]) -> dict[str, collections.Counter[str]]:
    """Samples per kind of process (main threads only) and category."""
    counts: dict[str, collections.Counter[str]] = {
        k: collections.Counter() for k in KINDS
    }
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not count.isdigit():
            continue  # a line of a multi-line command, or empty
        processes = PROCESSES.match(stack)
        depth = processes.group(0).count('";') if processes else 0
        calls = stack[processes.end() if processes else 0 :].split(";")
        if depth < 2 or not calls[0].startswith(MAIN):
            continue  # pytest's own process, or not a main thread's program
        kind = KINDS[0] if depth == 2 else KINDS[1]
        counts[kind][category(calls)] += int(count)
    return counts


def table(counts: dict[str, collections.Counter[str]], rate: float) -> str:
    """Seconds per category and kind, and each one's share of the kind's time
    not spent waiting for a subprocess."""
    header = ["category"]
    for kind in KINDS:
        header += [f"{kind} s", f"{kind} share"]
    rows = []
    for name in CATEGORIES:
        row = [name]
        for kind in KINDS:
            busy = sum(counts[kind].values()) - counts[kind][WAITING]
            share = counts[kind][name] / busy if busy and name != WAITING else None
            row += [
                f"{counts[kind][name] / rate:.0f}",
                f"{share:.0%}" if share is not None else "-",
            ]
        rows.append(row)
    total = ["all"]
    for kind in KINDS:
        total += [f"{sum(counts[kind].values()) / rate:.0f}", ""]
    rows.append(total)
    return markdown_grid(header, rows, "lrrrr")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("benchmarks.suite_profile", __doc__)
    parser.add_argument("raw", type=pathlib.Path, help="py-spy's --format raw output")
    parser.add_argument("--rate", type=float, default=20.0, help="py-spy's --rate")
    args = parser.parse_args(argv)
    if not args.raw.is_file():
        print(f"suite_profile: {args.raw} is not a file", file=sys.stderr)
        return 2
    with args.raw.open() as f:
        print(table(tally(f), args.rate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
