"""benchmarks/suite_profile.py on a hand-made py-spy sampling: main threads of
workers and of their subprocesses, each stack in its one category."""

from __future__ import annotations

from benchmarks import suite_profile as sp

MASTER = 'process 1:"python -m pytest -n 2"'
WORKER = 'process 2:"python -u -c import sys;exec(eval(sys.stdin.readline()))"'
CHILD = 'process 3:"python -m experiments.ippo a=1;b=2"'
TEST = "<module> (<string>:1);pytest_runtestloop (xdist/remote.py:206);test_x (t.py:3)"
RUN = "_run_module_as_main (<frozen runpy>:198);main (experiments/ippo.py:9)"

LINES = [
    f"{MASTER};<module> (pytest:1);loop (xdist/dsession.py:1) 500",  # not counted
    f"{MASTER};{WORKER};{TEST};jit (api.py:1);_create_pjit_jaxpr (pjit.py:1) 40",
    f"{MASTER};{WORKER};{TEST};lower_jaxpr_to_module (mlir.py:1);f (mlir.py:2) 30",
    f"{MASTER};{WORKER};{TEST};lower_jaxpr_to_module (mlir.py:1);"
    "ModuleContext.__init__ (mlir.py:3);make_ir_context (mlir.py:627) 10",
    f"{MASTER};{WORKER};{TEST};_cache_read (compilation_cache.py:1) 4",
    f"{MASTER};{WORKER};{TEST};run (subprocess.py:1);Popen.communicate (s.py:1) 60",
    f"{MASTER};{WORKER};{TEST};block_until_ready (array.py:1) 16",
    f"{MASTER};{WORKER};Thread._bootstrap (threading.py:1002);run (t.py:1) 999",
    f"{MASTER};{WORKER};{CHILD};{RUN};_find_and_load (<frozen>:1);"
    "trace_to_jaxpr (pe.py:1) 8",  # importing, whatever the import runs
    f"{MASTER};{WORKER};{CHILD};{RUN};backend_compile_and_load (c.py:1) 12",
    f"{MASTER};{WORKER};{CHILD};WorkerPool._perform_spawn (gateway.py:1) 77",
    "python -c 'a",  # a command line's next line, as py-spy writes it
    "",
]


def test_each_stack_counts_once_in_its_category_on_main_threads_only(capsys, tmp_path):
    counts = sp.tally(LINES)
    assert dict(counts["workers"]) == {
        "tracing": 40,
        "lowering": 30,
        "MLIR contexts": 10,
        "compilation cache": 4,
        "waiting for a subprocess": 60,
        sp.REST: 16,
    }
    assert dict(counts["subprocesses"]) == {"importing": 8, "XLA compilation": 12}
    raw = tmp_path / "suite.txt"
    raw.write_text("\n".join(LINES) + "\n")
    assert sp.main([str(raw), "--rate", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    # Seconds at 2 samples a second; shares of the time not spent waiting (100).
    assert "| tracing | 20 | 40% | 0 | 0% |" in printed
    assert "| waiting for a subprocess | 30 | - | 0 | - |" in printed
    assert "| all | 80 |  | 10 |  |" in printed
    assert sp.main([str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt is not a file" in capsys.readouterr().err
