"""The bad-input table of tests/experiments/test_bad_inputs.py: each case an
entry point, its arguments and the words its one line must hold, and the input
files they read (`write_inputs`). The exact wing's entry points and the tools
that read any run are here; the deep wing's, `bad_inputs_deep.py`."""

from __future__ import annotations

import dataclasses
import gzip
import os
import pathlib
import shutil

from tests import ROOT
from tests.tiny_runs import HANABI_TINY, TINY

SHARED = ROOT.parent / "shared" / "dpomdp"

# Tiny settings that keep a run that is wrongly accepted short (a tabular run
# stops at learner.max_steps whether or not its seeds are converged).
TAB = TINY
HAN = [*HANABI_TINY, "env.preset=Hanabi-Very-Small", "ent_coefs=[0.01]"]


@dataclasses.dataclass(frozen=True)
class Bad:
    """One bad input: `python -m experiments.<module> *args` must fail in one
    line containing `message`. `{in}` in an argument is the prepared inputs'
    directory, `{out}` a fresh directory of the case's own (not created), `{run}`
    a fresh copy of the finished tiny Hanabi run."""

    id: str
    module: str
    args: tuple[str, ...]
    message: str
    file_limit: int | None = None
    """Bytes a file may grow to (RLIMIT_FSIZE: a full disk, as the kernel says
    it); such a case runs in a subprocess of its own."""
    leaves: bool = False
    """The run may leave the files it finished in `{out}` (for a resume), but
    no results file and no temporary file."""
    env: tuple[tuple[str, str], ...] = ()
    """Environment variables set for the case (name, value)."""


def bad(
    id: str,
    module: str,
    message: str,
    *args: str,
    file_limit: int | None = None,
    leaves: bool = False,
    env: dict[str, str] | None = None,
) -> Bad:
    hydra = module in ("tabular", "ippo")
    uses_dir = any("{out}" in a or "{run" in a or "{held}" in a for a in args)
    if hydra and not uses_dir and not any("hydra.run.dir" in a for a in args):
        args = (*args, "hydra.run.dir={out}")
    variables = tuple(sorted((env or {}).items()))
    return Bad(id, module, args, message, file_limit, leaves, variables)


TABULAR_CASES = [
    # --- experiments.tabular: config values --------------------------------------
    bad("tab-seeds-1", "tabular", "seeds=1 is impossible", "seeds=1"),
    bad("tab-seeds-word", "tabular", "'many'", "seeds=many"),
    bad(
        "tab-lr-neg",
        "tabular",
        "learner.learning_rate=-1.0",
        "learner.learning_rate=-1",
    ),
    bad(
        "tab-lr-inf",
        "tabular",
        "learner.learning_rate=inf",
        "learner.learning_rate=inf",
    ),
    bad(
        "tab-init-1e39",
        "tabular",
        "learner.init_scale=1e+39",
        "learner.init_scale=1e39",
    ),
    bad("tab-taus-neg", "tabular", "taus=[0.0, -1.0]", "taus=[0,-1]"),
    bad("tab-taus-nan", "tabular", "taus[1]=nan", "taus=[0,nan]"),
    bad("tab-taus-empty", "tabular", "taus=[]", "taus=[]"),
    bad("tab-horizon-neg", "tabular", "horizon=-1", "horizon=-1"),
    bad("tab-horizon-0", "tabular", "horizon=0", "horizon=0"),
    bad(
        "tab-hanabi-horizon",
        "tabular",
        "horizon=99 must be 1 to 13",
        "game=hanabi_micro",
        "horizon=99",
    ),
    bad("tab-engine", "tabular", "engine='magic'", "engine=magic"),
    bad("tab-tie-rtol", "tabular", "tie_rtol=1.0", "tie_rtol=1"),
    bad("tab-conv-tol", "tabular", "convention_tol=0.0", "convention_tol=0"),
    bad("tab-max-assign", "tabular", "max_assignments=0", "max_assignments=0"),
    bad("tab-steps-0", "tabular", "learner.steps", "learner.steps=0"),
    bad(
        "tab-objective",
        "tabular",
        "learner.objective='selfish'",
        "learner.objective=selfish",
    ),
    bad("tab-optimizer", "tabular", "learner.optimizer", "learner.optimizer=lbfgs"),
    # --- experiments.tabular: hydra's own composition errors ----------------------
    bad("tab-unknown-key", "tabular", "stepz", "learner.stepz=3"),
    bad("tab-unknown-top", "tabular", "foo", "foo=1"),
    bad("tab-plus-key", "tabular", "foo", "+foo=1"),
    bad("tab-syntax", "tabular", "taus=[0,1", "taus=[0,1"),
    bad("tab-config-name", "tabular", "nope", "--config-name", "nope"),
    bad("tab-bool-word", "tabular", "permute_agents", "permute_agents=perhaps"),
    bad(
        "tab-study",
        "tabular",
        "'other_plya', which is not a study",
        "studies=[other_plya]",
    ),
    # --- experiments.tabular: games -----------------------------------------------
    bad("tab-game-typo", "tabular", "unknown game 'levr'", "game=levr"),
    bad(
        "tab-file-missing",
        "tabular",
        "/nonexistent.yaml",
        "game_file=/nonexistent.yaml",
    ),
    bad("tab-file-binary", "tabular", "binary.yaml", "game_file={in}/binary.yaml"),
    bad("tab-file-empty", "tabular", "empty.yaml", "game_file={in}/empty.yaml"),
    bad("tab-file-list", "tabular", "list.yaml", "game_file={in}/list.yaml"),
    bad(
        "tab-file-dup-key",
        "tabular",
        "repeats the one at line 2",
        "game_file={in}/duplicate.yaml",
    ),
    bad("tab-file-1e39", "tabular", "1e+39", "game_file={in}/huge.yaml"),
    bad("tab-file-nan", "tabular", "nan.yaml", "game_file={in}/nan.yaml"),
    bad(
        "tab-file-one-player",
        "tabular",
        "cross-play needs 2",
        "game_file={in}/one_player.yaml",
    ),
    bad("tab-file-ragged", "tabular", "ragged.yaml", "game_file={in}/ragged.yaml"),
    bad(
        "tab-file-no-actor", "tabular", "no agent acts", "game_file={in}/no_actor.yaml"
    ),
    bad("tab-file-dir", "tabular", "inputs", "game_file={in}"),
    bad(
        "tab-file-alias-bomb",
        "tabular",
        "over 4,000,000 numbers and names",
        "game_file={in}/bomb.yaml",
    ),
    bad("tab-file-deep", "tabular", "over 32 deep", "game_file={in}/deep.yaml"),
    bad("tab-file-fifo", "tabular", "not a regular file", "game_file={in}/pipe.yaml"),
    bad(
        "tab-gz-bomb",
        "tabular",
        "unpacks to more than 268,435,456 bytes",
        "game_file={in}/bomb.dpomdp.gz",
        "horizon=2",
    ),
    bad(
        "tab-game-and-file",
        "tabular",
        "game=climbing and game_file=",
        "game=climbing",
        f"game_file={ROOT}/examples/lewis.yaml",
    ),
    bad(
        "tab-dpomdp-garbage",
        "tabular",
        "garbage.dpomdp",
        "game_file={in}/garbage.dpomdp",
        "horizon=2",
    ),
    bad(
        "tab-dpomdp-gz-truncated",
        "tabular",
        "truncated.dpomdp.gz",
        "game_file={in}/truncated.dpomdp.gz",
        "horizon=2",
    ),
    bad(
        "tab-dpomdp-no-horizon",
        "tabular",
        "a .dpomdp file has no horizon; set one",
        "game_file={in}/tiger.dpomdp",
    ),
    bad(  # named missing, not asked for its horizon first
        "tab-dpomdp-missing-no-horizon",
        "tabular",
        "missing.dpomdp: cannot read the file (No such file or directory)",
        "game_file={in}/missing.dpomdp",
    ),
    bad(  # the occupancy's size limit (both horizons 9 and 12 once had a row)
        "tab-too-big",
        "tabular",
        "at horizon 9: the occupancy after step 6 has 4,353,564,672 entries",
        "game=dectiger",
        "horizon=9",
    ),
    bad(
        "tab-matrix-horizon",
        "tabular",
        "'lever' is a matrix game: its horizon is 1",
        "game=lever",
        "horizon=3",
    ),
    bad(
        "tab-turns-horizon",
        "tabular",
        "has a turn schedule for horizon 2",
        "game=bad",
        "horizon=3",
    ),
    # --- experiments.tabular: the phase preset -------------------------------------
    bad(
        "phase-lower",
        "tabular",
        "critical_tau",
        "--config-name",
        "phase",
        "critical_tau.lower=-1",
    ),
    bad(
        "phase-noise",
        "tabular",
        "annealing.grad_noise",
        "--config-name",
        "phase",
        "annealing.grad_noise=[]",
    ),
    bad(
        "phase-batch",
        "tabular",
        "sampled.batch_size=1",
        "--config-name",
        "phase",
        "sampled.batch_size=1",
    ),
    # --- experiments.tabular: output directories -----------------------------------
    bad(
        "tab-out-is-file",
        "tabular",
        "Not a directory",
        *TAB,
        "hydra.run.dir={in}/binary.yaml/run",
    ),
    bad(
        "tab-being-written",
        "tabular",
        "is being written by another run (process",
        *TAB,
        "hydra.run.dir={held}",
    ),
    bad(
        "tab-disk-full",
        "tabular",
        "File too large",
        *TAB,
        file_limit=3000,
        leaves=True,
    ),
    bad(
        "tab-rerun-other-config",
        "tabular",
        "different configuration",
        "seeds=4",
        "hydra.run.dir={tabrun}",
    ),
    # --- experiments.compare ----------------------------------------------------------
    bad("cmp-missing", "compare", "/nonexistent", "/nonexistent"),
    bad("cmp-empty", "compare", "no readable results.json", "{in}/empty_dir"),
    bad(
        "cmp-truncated",
        "compare",
        "not a complete results file",
        "{in}/truncated_results",
    ),
    bad("cmp-hand-edited", "compare", "no integer 'num_seeds'", "{in}/edited_results"),
    bad("cmp-binary", "compare", "not a complete results file", "{in}/binary_results"),
    bad(
        "cmp-csv-dir",
        "compare",
        "a file is in the way",
        "{tabrun}",
        "--csv",
        "{in}/binary.yaml/t.csv",
    ),
    # --- experiments.estimate ---------------------------------------------------------
    bad("est-chunks-0", "estimate", "--chunks=0", "--chunks", "0"),
    bad("est-rate-0", "estimate", "--rate=0", "--rate", "0"),
    bad("est-rate-nan", "estimate", "--rate=nan", "--rate", "nan"),
    bad("est-unknown-key", "estimate", "foo", "foo=1"),
    bad("est-lr-inf", "estimate", "ippo.lr=inf", "ippo.lr=inf"),
    bad("est-syntax", "estimate", "cannot parse 'seeds=['", "seeds=["),
    # --json is checked before the work (it once failed after 20 s of compiling)
    bad("est-json-dir", "estimate", "is a directory", "--json", "{in}/empty_dir"),
    bad(
        "est-json-below-a-file",
        "estimate",
        "a file is in the way",
        "--json",
        "{in}/binary.yaml/plan.json",
    ),
    # --- experiments.notebooks --------------------------------------------------------
    bad(
        "nb-missing",
        "notebooks",
        "nope.ipynb",
        "{in}/nope.ipynb",
        "--out",
        "{out}/x.ipynb",
    ),
    bad(
        "nb-garbage",
        "notebooks",
        "garbage.ipynb",
        "{in}/garbage.ipynb",
        "--out",
        "{out}/x.ipynb",
    ),
    bad(
        "nb-env",
        "notebooks",
        "--env",
        "notebooks/tabular_figures.ipynb",
        "--out",
        "{out}/x.ipynb",
        "--env",
        "FOO",
    ),
    bad(
        "nb-no-results",
        "notebooks",
        "no tabular results.json",
        "notebooks/tabular_figures.ipynb",
        "--out",
        "{out}/x.ipynb",
        "--env",
        "LAB_RESULTS={in}/empty_dir",
    ),
]


def write_inputs(root: pathlib.Path) -> None:
    """The files the cases read."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (root / "empty.yaml").write_text("")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "duplicate.yaml").write_text(
        "name: dup\npayoff: [[1, 0], [0, 1]]\npayoff: [[1, 0], [0, 2]]\n"
    )
    (root / "huge.yaml").write_text("name: huge\npayoff: [[1e39, 0], [0, 1]]\n")
    (root / "nan.yaml").write_text("name: nan\npayoff: [[.nan, 0], [0, 1]]\n")
    (root / "one_player.yaml").write_text("name: solo\npayoff: [1, 0]\n")
    (root / "ragged.yaml").write_text("name: ragged\npayoff: [[1, 0], [0]]\n")
    (root / "no_actor.yaml").write_text(
        "name: idle\nhorizon: 1\nstates: [s]\ninitial: [1]\n"
        "acting: [[false, false]]\n"
        "agents:\n"
        "  - {name: a, actions: [x, y], observations: [o], observation: [[1]]}\n"
        "  - {name: b, actions: [x, y], observations: [o], observation: [[1]]}\n"
        "transition: [[[[1], [1]], [[1], [1]]]]\nreward: [[[1, 0], [0, 1]]]\n"
    )
    bomb = "&a0 [1, 2]"  # 2 ** 24 entries in 500 bytes
    for k in range(1, 24):
        bomb = f"&a{k} [{bomb}, *a{k - 1}]"
    (root / "bomb.yaml").write_text(f"name: bomb\npayoff: {bomb}\n")
    (root / "deep.yaml").write_text("payoff: " + "[" * 3000 + "1" + "]" * 3000)
    os.mkfifo(root / "pipe.yaml")
    with gzip.open(root / "bomb.dpomdp.gz", "wb", compresslevel=9) as packed:
        line = b"#" * 1023 + b"\n"
        for _ in range(2**18 + 1):  # 256 MiB and one line, in 300 KB
            packed.write(line)
    (root / "garbage.dpomdp").write_text("agents: 2\ndiscount: 1\nstates: two\n%%%\n")
    tiger = SHARED / "dectiger.dpomdp"
    if tiger.is_file():
        shutil.copy(tiger, root / "tiger.dpomdp")
        packed = gzip.compress(tiger.read_bytes())
        (root / "truncated.dpomdp.gz").write_bytes(packed[: len(packed) // 2])
    (root / "empty_dir").mkdir()
    for name, text in {
        "truncated_results": '{"game": "lever", "points": [{"tau": 0',
        "edited_results": '{"game": "lever", "points": "many"}',
    }.items():
        (root / name).mkdir()
        (root / name / "results.json").write_text(text)
    (root / "binary_results").mkdir()
    (root / "binary_results" / "results.json").write_bytes(bytes(range(256)))
    (root / "garbage.ipynb").write_text("not a notebook")


AS_A_USER = {
    "tab-unknown-key",  # hydra's composition, which writes its own stderr
    "tab-disk-full",  # a write that fails (file_limit: the process's own limit)
    "han-unknown-key",
    "xp-corrupt-ckpt",
    "cmp-truncated",
    "est-syntax",
    "nb-garbage",
    "ver-players-1",
    "hle-ent-index",
    "hc-missing",
    "launch-processes-0",
    "rp-seats",
}
"""The cases run in a subprocess: one per entry point, with its real streams and
exit status, and the case whose limit is the process's. Every other case runs in
the table's worker through the entry point's own `main` (until 2026-11-30 five
more ran as a user: a config value, a game file, a .dpomdp file, a run directory
holding another run, a corrupt checkpoint)."""
