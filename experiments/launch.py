"""One job of several processes on this machine (multi-controller JAX).

    python -m experiments.launch --processes 2 -- experiments.ippo preset=hanabi_cpu
    python -m experiments.launch --processes 2 -- experiments.tabular game=lever
    python -m experiments.launch --processes 2 -- experiments.crossplay <ippo run>
    python -m experiments.launch --processes 4 --gpus -- experiments.ippo ...

Starts N copies of `python -m MODULE ARGS...` on localhost, joined into one JAX
job (experiments/harness/processes.py: the coordinator on a free port, gloo
collectives on CPU): every device of every process is one mesh, every process
computes the same results, and process 0 writes the run directory, its logs and
checkpoints. On CPU each process has one device (`--devices-per-process` for
more); with `--gpus` process i sees GPU i only. Process 0's output is shown here;
the others' goes to files in `--log-dir` (a temporary directory by default),
named on failure.

When any process fails (or is killed), the others are stopped and one line says
which; Ctrl-C (or SIGTERM) is passed to every process, which save what they would
save on their own, and the job exits 130. The exit status is the failed process's.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from experiments.harness.arguments import ArgumentParser
from experiments.harness.compose import LAUNCH_TIME
from experiments.harness.processes import (
    CLUSTER,
    COORDINATOR,
    LAUNCHER,
    LOOPBACK,
    NUM_PROCESSES,
    PROCESS_ID,
)

DEVICE_FLAG = "--xla_force_host_platform_device_count"
STARTING_SECONDS = 1.0
"""How long a process is left to start before an interrupt is passed to it."""
GRACE_SECONDS = 10.0
"""How long stopped processes get to exit before they are killed."""


def free_port() -> int:
    """A TCP port free on localhost now (for the coordinator)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK[0], 0))
        return int(probe.getsockname()[1])


def process_environment(
    base: dict[str, str],
    index: int,
    count: int,
    port: int,
    devices: int,
    gpus: bool,
    launched: float,
) -> dict[str, str]:
    """The environment of process `index` of `count`."""
    env = dict(base)
    env.pop(CLUSTER, None)
    env.update(
        {
            COORDINATOR: f"{LOOPBACK[0]}:{port}",
            NUM_PROCESSES: str(count),
            PROCESS_ID: str(index),
            LAUNCH_TIME: repr(launched),
            LAUNCHER: "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    flags = [
        f for f in env.get("XLA_FLAGS", "").split() if not f.startswith(DEVICE_FLAG)
    ]
    if devices > 1:
        flags.append(f"{DEVICE_FLAG}={devices}")
    if flags:
        env["XLA_FLAGS"] = " ".join(flags)
    else:
        env.pop("XLA_FLAGS", None)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = str(index)
    return env


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the launcher itself dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def others(processes: int) -> str:
    """'process 1' or 'processes 1-3': every process but 0."""
    return "process 1" if processes == 2 else f"processes 1-{processes - 1}"


def describe(status: int) -> str:
    """An exit status in words (a negative status is a signal)."""
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-status).name}"
        return f"signal {-status}"
    return f"status {status}"


def _stop(children: list[subprocess.Popen[bytes]], sig: int, wait: float) -> None:
    """Sends `sig` to every running child, waits up to `wait` seconds, then kills
    what still runs."""
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(sig)
    deadline = time.time() + wait
    while time.time() < deadline and any(c.poll() is None for c in children):
        time.sleep(0.05)
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


def launch(
    module: str,
    args: list[str],
    processes: int,
    *,
    devices_per_process: int = 1,
    gpus: bool = False,
    log_dir: Path | None = None,
    port: int | None = None,
) -> int:
    """Runs the job and returns its exit status (0 when every process ends with 0)."""
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="lab-launch-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    launched = time.time()
    print(
        f"launch: {processes} processes of {module} on localhost:{port} (the "
        f"output of {others(processes)} goes to {log_dir})"
        if processes > 1
        else f"launch: 1 process of {module}",
        file=sys.stderr,
        flush=True,
    )
    children: list[subprocess.Popen[bytes]] = []
    logs = []
    # Ctrl-C and SIGTERM set a flag that the loops below read: an exception
    # raised by the signal could land in a callback that swallows it (JAX's
    # garbage-collection hook prints "Exception ignored" and goes on).
    stop = [False]

    def interrupted(signum: int, frame: object) -> None:
        stop[0] = True

    previous = {
        sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        for index in range(processes):
            if stop[0]:
                break
            env = process_environment(
                dict(os.environ),
                index,
                processes,
                port,
                devices_per_process,
                gpus,
                launched,
            )
            out = None
            if index > 0:
                out = open(log_dir / f"process_{index}.log", "wb")  # noqa: SIM115
                logs.append(out)
            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", module, *args],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT if out else None,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            )
        started = time.time()  # of the last process
        failed: list[int] = []
        while not stop[0]:
            statuses = [c.poll() for c in children]
            failed = [i for i, s in enumerate(statuses) if s not in (None, 0)]
            if failed or all(s == 0 for s in statuses):
                break
            time.sleep(0.1)
        if stop[0]:
            print("launch: interrupted; passing it to every process", file=sys.stderr)
            # A process interrupted while Python itself starts, before the entry
            # point's handlers exist, prints a traceback: give each a moment.
            time.sleep(max(0.0, started + STARTING_SECONDS - time.time()))
            _stop(children, signal.SIGINT, 6 * GRACE_SECONDS)
            return 130
        if not failed:
            return 0
        return _ended(children, failed, module, log_dir)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for child in children:
            if child.poll() is None:
                child.kill()
        for out in logs:
            out.close()


def _ended(
    children: list[subprocess.Popen[bytes]],
    failed: list[int],
    module: str,
    log_dir: Path,
) -> int:
    """Stops a job one of whose processes failed; its one line, and the status."""
    # A process killed by a signal is the cause; the others lost it.
    first = min(failed, key=lambda i: (children[i].returncode >= 0, i))
    status = children[first].returncode
    # The others fail the same way on their own (a bad input) or lose their
    # peer; a moment for that, then they are stopped.
    deadline = time.time() + 2.0
    while time.time() < deadline and any(c.poll() is None for c in children):
        time.sleep(0.05)
    running = sum(c.poll() is None for c in children)
    _stop(children, signal.SIGTERM, GRACE_SECONDS)
    same = all(c.returncode == status for c in children)
    if not (same and status > 0):  # else process 0 has said why, in its line
        stopped = f"stopped the other {running}" if running else "the others ended"
        print(
            f"launch: process {first} of {module} ended with {describe(status)}; "
            f"{stopped} (output of {others(len(children))}: {log_dir})",
            file=sys.stderr,
        )
    return status if status > 0 else 128 - status


def parse(argv: list[str]) -> argparse.Namespace:
    """The launcher's arguments; a bad one is refused in one line (exit 2)."""
    parser = ArgumentParser(
        "experiments.launch",
        __doc__,
        epilog="Everything after -- is the entry point's module and its arguments.",
    )
    parser.add_argument("--processes", type=int, required=True, help="how many (>= 1)")
    parser.add_argument(
        "--devices-per-process",
        type=int,
        default=1,
        help="simulated CPU devices per process",
    )
    parser.add_argument("--gpus", action="store_true", help="process i sees GPU i only")
    parser.add_argument("--log-dir", type=Path, help="where processes 1.. write output")
    parser.add_argument(
        "--port", type=int, help="the coordinator's port (default: free)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("name the entry point after --, e.g. -- experiments.ippo")
    parser.require_at_least(args, processes=1, devices_per_process=1)
    module = command[0]
    if module.endswith(".py") or "/" in module:
        parser.error(f"{module}: name a module (experiments.ippo), not a file")
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        parser.error(f"{module}: no such module")
    args.module, args.args = module, command[1:]
    return args


def main() -> int:
    """`python -m experiments.launch` with `sys.argv`; returns the job's status."""
    args = parse(sys.argv[1:])
    return launch(
        args.module,
        args.args,
        args.processes,
        devices_per_process=args.devices_per_process,
        gpus=args.gpus,
        log_dir=args.log_dir,
        port=args.port,
    )


def cli() -> None:
    """The program: `python -m experiments.launch`, the console script. (Not a
    `experiments.harness.entry.Program`: the launcher itself joins no job.)"""
    sys.exit(main())


if __name__ == "__main__":
    cli()
