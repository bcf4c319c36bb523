"""Executes a notebook top to bottom and saves the executed copy.

    python -m experiments.notebooks notebooks/tabular_figures.ipynb \
        --out results/main/tabular_figures.ipynb --env LAB_RESULTS=results/main

The notebook runs with `notebooks/` as its working directory; `--env` sets
variables for it (the notebooks read LAB_RESULTS, LAB_FIGURES and LAB_QUICK, the
Hanabi one LAB_STEM too; the two folders are made absolute here). A
notebook that finds no results fails, and the exit status is 1 with one line
naming the error; figures go to LAB_FIGURES, by default `<LAB_RESULTS>/figures`
(the tracked docs/figures/ only when asked: LAB_FIGURES=docs/figures).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sys
import tempfile
from collections.abc import Iterator

import nbclient
import nbformat

from experiments.harness.arguments import ArgumentParser
from experiments.harness.entry import entry_point
from marl.files import OutputDirError, atomic_write_bytes, check_writable

KERNEL_NOISE = "Kernel is running over TCP without encryption"


@contextlib.contextmanager
def kernel_stderr_filtered() -> Iterator[None]:
    """The kernel inherits this process's stderr (file descriptor 2) and warns on
    it at every start that its local TCP transport is unencrypted; that line is
    dropped, anything else written meanwhile is passed on afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if KERNEL_NOISE not in line:
                    print(line, file=sys.stderr)


def execute_notebook(
    path: pathlib.Path, env: dict[str, str], timeout: int = 1200
) -> nbformat.NotebookNode:
    """The executed notebook; raises nbclient's CellExecutionError on a failing cell."""
    notebook = nbformat.read(path, as_version=4)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        with kernel_stderr_filtered():
            nbclient.NotebookClient(
                notebook,
                timeout=timeout,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser("experiments.notebooks", __doc__)
    parser.add_argument("notebook", type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"error: --env {item!r} is not KEY=VALUE", file=sys.stderr)
            return 2
        folder = key in ("LAB_RESULTS", "LAB_FIGURES")
        env[key] = str(pathlib.Path(value).resolve()) if folder else value
    try:
        check_writable(args.out.parent)
        notebook = execute_notebook(args.notebook, env)
    except nbclient.exceptions.CellExecutionError as error:
        what = f"{error.ename}: {error.evalue}" if error.ename else str(error)
        print(f"error: {args.notebook} failed: {what.splitlines()[0]}", file=sys.stderr)
        return 1
    except OSError as error:
        print(
            f"error: {args.notebook}: cannot read it ({error.strerror})",
            file=sys.stderr,
        )
        return 2
    except (ValueError, nbformat.reader.NotJSONError, OutputDirError) as error:
        print(f"error: {args.notebook}: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    atomic_write_bytes(args.out, nbformat.writes(notebook).encode())
    print(f"wrote {args.out}")
    return 0


cli = main.cli
"""The program: `python -m experiments.notebooks`, the console script."""

if __name__ == "__main__":
    cli()
