"""Executes a notebook top to bottom and saves the executed copy.

    python -m experiments.notebooks notebooks/tabular_figures.ipynb \
        --out results/main/tabular_figures.ipynb --env LAB_RESULTS=results/main

The notebook runs with `notebooks/` as its working directory; `--env` sets
variables for it (the notebooks read LAB_RESULTS, LAB_FIGURES and LAB_QUICK).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

import nbclient
import nbformat

from experiments.config import interruptible
from marl.files import atomic_write_bytes


def execute_notebook(
    path: pathlib.Path, env: dict[str, str], timeout: int = 1200
) -> nbformat.NotebookNode:
    """The executed notebook; raises nbclient's CellExecutionError on a failing cell."""
    notebook = nbformat.read(path, as_version=4)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
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


@interruptible
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
        env[key] = str(pathlib.Path(value).resolve()) if key != "LAB_QUICK" else value
    try:
        notebook = execute_notebook(args.notebook, env)
    except nbclient.exceptions.CellExecutionError as error:
        print(
            f"error: {args.notebook} failed: {str(error).splitlines()[0]}",
            file=sys.stderr,
        )
        return 1
    atomic_write_bytes(args.out, nbformat.writes(notebook).encode())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
