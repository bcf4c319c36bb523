"""The exact-learner benchmarks end to end at a tiny size: their timings are not
tested, their agreement checks are (the paths must reach the same policies or
values, or the script exits 1)."""

import subprocess
import sys
import types

import pytest

from tests import ROOT


def run_benchmark(module: str, *args: str) -> str:
    """Runs `benchmarks.<module>` in a subprocess (the scripts set XLA_FLAGS and
    BLAS threads for themselves) and returns its output, asserting exit 0."""
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_lever_benchmark_paths_agree_at_a_tiny_size():
    out = run_benchmark(
        "lever_phase_diagram",
        *("--taus-count", "3", "--seeds", "8", "--steps", "50", "--general"),
    )
    # The general path and the three NumPy references, each against the fast path.
    assert out.count(": PASS (atol") == 4
    assert "speed ratio JAX/NumPy" in out
    assert "speed ratio, the same algorithm" in out


def test_dpomdp_engine_benchmark_paths_agree_at_a_tiny_size():
    # Horizons 1 to 3: no last-two-steps contraction, that contraction alone, and
    # one full step before it; the hand-written adjoint must match autodiff on each.
    out = run_benchmark(
        "dpomdp_engine",
        *("--horizons", "1", "2", "3", "--batch", "4"),
        *("--steps", "2", "--numpy-steps", "1", "--check-steps", "2"),
        *("--repeats", "1"),
    )
    assert "PASS: every path agrees with numpy" in out
    assert out.count("**ratio**") == 2
    for horizon in (1, 2, 3):
        assert f"\n| {horizon} | " in out
    assert "horizon 3: recursion" in out and ", enumeration " in out


def test_dpomdp_profile_benchmark_runs_every_stage_at_a_tiny_size():
    """Horizons 1 to 3: a game without transitions, the last two steps alone,
    and one full step before them; every stage has a row and XLA's cost, and
    the last two steps' largest product is timed alone."""
    out = run_benchmark(
        "dpomdp_profile",
        *("--horizons", "1", "2", "3", "--batch", "4", "--matmul", "64"),
        *("--repeats", "1"),
    )
    assert "GFLOP/s; streaming scale-and-add" in out
    assert out.count("| J(pi), whole |") == 3 and out.count("census of J(pi)") == 3
    assert "| 0: last two steps from eta 2x1x1 |" in out
    stages = (
        "reward",
        "expansion (policies, transition, observations)",
        "pruning gather",
    )
    for stage in stages:
        assert f"| 0: {stage} |" in out
    assert "| 1: last two steps from eta 2x6x6 |" in out
    assert "| alone: 4 x 2 products [6 x 6] [6 x 18] |" in out


def test_ippo_learning_curve_benchmark_runs_ours_at_a_tiny_size():
    """Without JaxMARL's work tree it trains ours alone (two variants side by
    side: observations and widths) and says why the peer is missing; the curve
    and steps-to-score tables are printed."""
    out = run_benchmark(
        "ippo_learning_curve",
        *("--steps", "2048", "--num-envs", "32", "--num-steps", "16"),
        *("--seeds", "2", "--ours", "canonical:16", "v0_belief:16x8:shared"),
        *("--window", "2", "--scores", "0", "9"),
    )
    assert "game: Hanabi 3c x 3r, hand 3, 5 hints, 3 lives, 2 players" in out
    assert "jaxmarl: not run (no --jaxmarl-repo given)" in out
    assert "| env steps | ours canonical 16 | ours v0_belief 16x8 shared |" in out
    assert "| 0.0 | 512 | 512 |" in out  # the first update (lost games score 0)
    assert "| 9.0 | not reached | not reached |" in out
    assert "ours canonical 16: " in out and "env steps/s" in out


def test_ippo_throughput_peer_that_does_not_import_is_missing_in_one_line(
    tmp_path, monkeypatch
):
    """A JaxMARL work tree whose baseline script fails to import (a package it
    needs is absent, as gymnax was on a lent GPU) leaves the peer missing with
    the reason, so the benchmark times ours alone instead of ending in a
    traceback."""
    from benchmarks.ippo_throughput import BASELINE, BASELINE_CONFIG, load_peer

    monkeypatch.setitem(sys.modules, "distrax", types.ModuleType("distrax"))
    (tmp_path / BASELINE).parent.mkdir(parents=True)
    (tmp_path / BASELINE).write_text("import no_such_package_here\n")
    (tmp_path / BASELINE_CONFIG).parent.mkdir(parents=True)
    (tmp_path / BASELINE_CONFIG).write_text("NUM_ENVS: 4\n")
    peer = load_peer(tmp_path, None)
    if peer.missing == "the jaxmarl package is not installed":
        pytest.skip(peer.missing)
    assert peer.module is None
    assert peer.missing == (
        f"{tmp_path / BASELINE} does not import (ModuleNotFoundError: "
        "No module named 'no_such_package_here')"
    )


def test_their_script_imports_a_wandb_that_logs_nothing(tmp_path, monkeypatch):
    """Their baseline script's `import wandb` gets a stand-in whose `init` and
    `log` do nothing, whether wandb is installed or not, and the process's own
    wandb (none here, or one imported before) is as it was after."""
    from benchmarks.ippo_throughput import BASELINE, BASELINE_CONFIG, load_peer

    monkeypatch.setitem(sys.modules, "distrax", types.ModuleType("distrax"))
    (tmp_path / BASELINE).parent.mkdir(parents=True)
    (tmp_path / BASELINE).write_text(
        "import wandb\nLOGGED = wandb.log({'x': 1}), wandb.init(project='p')\n"
    )
    (tmp_path / BASELINE_CONFIG).parent.mkdir(parents=True)
    (tmp_path / BASELINE_CONFIG).write_text("NUM_ENVS: 4\n")
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    peer = load_peer(tmp_path, None)
    if peer.missing == "the jaxmarl package is not installed":
        pytest.skip(peer.missing)
    assert peer.module is not None, peer.missing
    assert peer.module.LOGGED == (None, None)
    assert peer.module.wandb.__spec__ is None  # a stand-in, not a package
    assert "wandb" not in sys.modules
    ours = types.ModuleType("wandb")
    monkeypatch.setitem(sys.modules, "wandb", ours)
    assert load_peer(tmp_path, None).module.LOGGED == (None, None)
    assert sys.modules["wandb"] is ours


def test_ippo_learning_curve_benchmark_gives_the_peer_the_same_objective():
    """JaxMARL's loss is 1/P of ours per acting decision: same entropy
    coefficient, value weight and gradient clip divided by the players."""
    from benchmarks.ippo_learning_curve import our_config, parse_args, peer_config
    from games.envs import hanabi

    args = parse_args(["--players", "3", "--ours", "canonical:8"])
    game = hanabi.make_params("Hanabi-Full", 3, colors=3, ranks=3, hand_size=3)
    config = our_config(args, (8,))
    assert our_config(args, (8, 4), "shared_mlp").network == "shared_mlp"
    theirs = peer_config({}, config, 0.02, game)
    assert theirs["ENT_COEF"] == 0.02
    assert theirs["VF_COEF"] == config.vf_coef / 3
    assert theirs["MAX_GRAD_NORM"] == config.max_grad_norm / 3
    for wrong in ("belief:8", "canonical:8:torso", "canonical:8x"):
        with pytest.raises(SystemExit):
            parse_args(["--ours", wrong])


def test_fixed_points_benchmark_runs_and_its_learners_agree_at_a_tiny_size():
    out = run_benchmark(
        "fixed_points",
        *("--games", "lever,tiny_hanabi_a", "--seeds", "2", "--window", "25"),
        *("--budget", "flow=1000,adam=500,npg=200"),
    )
    assert "PASS: where converged at tau = range" in out
    assert out.count("lever ") == 3 and out.count("tiny_hanabi_a ") == 3


def test_hanabi_bots_benchmark_runs_at_a_tiny_size(tmp_path):
    """One bot (each bot's three self-plays compile apart; the committed output
    has all four, tests/benchmarks/test_fossgalaxy.py)."""
    out = run_benchmark(
        "hanabi_bots",
        "--games",
        "8",
        "--bots",
        "outer",
        "--out",
        str(tmp_path / "b.json"),
    )
    assert "\nouter " in out and "\niggi " not in out
    assert "jax-aht" in out and (tmp_path / "b.json").stat().st_size > 0


def test_checkpoints_benchmark_sets_ours_beside_orbax_at_a_tiny_size():
    out = run_benchmark("checkpoints_vs_orbax", "--size", "8", "--saves", "5")
    assert "| kept | [4, 5] | [4, 5] |" in out
    assert "| bit-exact restore | True | True |" in out
    assert "| newest cut: error | CorruptCheckpointError, 1 lines" in out


def test_uniqueness_benchmark_paths_agree_at_a_tiny_size():
    out = run_benchmark(
        "uniqueness", "--boxes", "300", "--repeats", "1", "--seeds", "2"
    )
    assert "agreement: PASS" in out
    assert out.count("dectiger h2") == 4 and "batch" in out
    assert "radii that cannot pass skipped" in out
    assert "merged histories or every one" in out


IPPO_UPDATE_TINY = [
    "seeds=1",
    "ent_coefs=[0.01,0.1]",
    "ippo.num_envs=8",
    "ippo.num_steps=8",
    "ippo.hidden_sizes=[16]",
]


def test_ippo_update_benchmark_profiles_and_compares_with_a_commit(
    tmp_path, capsys, monkeypatch
):
    from benchmarks import ippo_update

    # The comparison's trees are extracted for real; the rate measured in each
    # (`experiments.estimate --measure`, a subprocess, tested with estimate) is
    # stood in for, so that only the benchmark's own parts cost time here.
    trees = []

    def rate(tree, overrides, updates, out):
        assert (tree / "experiments" / "estimate.py").is_file()
        assert overrides[0] == ippo_update.PRESET and updates == 1
        trees.append(tree)
        return 1000.0 * len(trees)

    monkeypatch.setattr(ippo_update, "measured_rate", rate)
    figures = tmp_path / "figures.json"
    args = ["--against", "HEAD", "--rounds", "2", "--updates", "1", "--repeats", "1"]
    assert ippo_update.main([*IPPO_UPDATE_TINY, *args, "--json", str(figures)]) == 0
    out = capsys.readouterr().out
    assert trees[0] == ippo_update.ROOT and trees[1] != ippo_update.ROOT
    assert trees == trees[:2] * 2  # in turns, round after round
    assert "| this checkout | 3,000 | 1,000, 3,000 |" in out
    assert "| HEAD | 4,000 | 2,000, 4,000 |" in out
    assert "this checkout / HEAD: 0.75x" in out
    data = __import__("json").loads(figures.read_text())
    parts = {p["part"]: p for p in data["profile"]["parts"]}
    assert set(parts) == {
        "whole update",
        "rollout",
        "advantages",
        "shuffles",
        "forward and backward",
        "optimizer",
    }
    assert all(p["seconds"] > 0 for p in parts.values())
    # XLA's count of the gradients' flops holds at least the network's own
    # matrix products at the same shapes (the reference's analytic count), for
    # every minibatch of the update's 4 epochs x 4 minibatches
    reference = data["profile"]["matmul_reference"]["flops"]
    assert parts["forward and backward"]["flops"] >= 16 * reference
    assert data["profile"]["matmul_merged"]["flops"] == reference
    assert "the layers that read the observation as one product:" in out


def test_ippo_update_matmul_reference_counts_what_xla_counts():
    import jax

    from benchmarks import ippo_update
    from experiments.deep.ippo_runs import IPPORunConfig
    from experiments.harness.compose import compose_config

    overrides = [ippo_update.PRESET, *IPPO_UPDATE_TINY]
    config = compose_config("ippo", overrides, IPPORunConfig)
    from marl.deep.ippo import make_policy_for

    policy = make_policy_for(config.ippo, config.environment)
    params = jax.vmap(policy.init)(jax.random.split(jax.random.key(0), 2))
    reference = ippo_update.matmul_reference(
        params, config.ippo, config.environment.obs_size, 2, 1
    )
    rows = config.ippo.batch_size // config.ippo.num_minibatches
    shapes = ippo_update.dense_shapes(jax.tree.map(lambda x: x[0], params))
    # actor and critic: a hidden layer reading the observation and a head each
    obs = config.environment.obs_size
    assert sorted(i for i, _ in shapes) == [16, 16, obs, obs]
    assert reference["flops"] == sum(
        2 * 2 * rows * i * o * (2 if i == shapes[0][0] else 3) for i, o in shapes
    )
    # and XLA's own count of the program agrees with the analytic one (to
    # 0.1%: XLA rewrites the value head's products of width 1 as a multiply
    # and a sum, which it counts a little differently)
    assert reference["xla_flops"] == pytest.approx(reference["flops"], rel=1e-3)
    # the two first layers as one product of twice the width: the same count
    merged = ippo_update.matmul_reference(params, config.ippo, obs, 2, 1, merged=True)
    assert merged["part"] == "matmuls alone, the observation's layers as one"
    assert merged["flops"] == reference["flops"]
    assert merged["xla_flops"] == pytest.approx(merged["flops"], rel=1e-3)


def test_a_benchmarks_older_commit_refuses_an_unknown_revision_in_one_line():
    from benchmarks import common

    with pytest.raises(SystemExit) as stop:
        common.extract("no-such-revision", ROOT / ".cache")
    assert str(stop.value).startswith("error: --against no-such-revision:")
    assert "\n" not in str(stop.value)


def test_tracer_benchmark_traces_the_same_diagram_in_both_trees():
    """The tracer at this checkout and at HEAD, on Dec-Tiger at horizon 2:
    the script exits 1 if the diagrams differ in any branch, point's
    stability or event."""
    out = run_benchmark("tracer", "--against", "HEAD", "--games", "dectiger:2")
    assert "dectiger:2: the diagrams are the same" in out


def test_the_tracer_benchmark_compares_taus_to_a_tolerance_and_counts_exactly():
    from benchmarks.tracer import same

    folds = [["fold", 11.281964256436096, 0, 0]]
    moved = [["fold", 11.281964256443427, 0, 0]]
    assert same(folds, folds, 0.0) and not same(folds, moved, 0.0)
    assert same(folds, moved, 1e-9) and not same(folds, moved, 1e-13)
    assert not same([3, 4], [3, 5], 0.5)  # counts exactly
    assert not same([[True, False]], [[True, True]], 1.0)  # stability exactly
    assert not same([1.0], [1.0, 1.0], 1.0)


def test_the_tracer_benchmark_compares_events_alone_whatever_their_branches():
    """`--events` compares kind, tau and crossing in order of tau, not the
    branch an event is on, nor the points."""
    from benchmarks.tracer import events_only, same

    mine = {
        "points": [10, 4],
        "folds": [["fold", 2.0, 1, 1], ["fold", 1.0, 0, -1]],
        "branch_points": [],
        "hopf": [],
        "unique_above": 2.0,
    }
    theirs = mine | {
        "points": [30],
        "folds": [["fold", 1.0, 0, -1], ["fold", 2.0, 0, 1]],
    }
    a, b = events_only(mine), events_only(theirs)
    assert all(
        same(a[k], b[k], 0.0) for k in ("folds", "branch_points", "unique_above")
    )
    other = theirs | {"folds": [["fold", 1.0, 0, 1], ["fold", 2.0, 0, 1]]}
    assert not same(a["folds"], events_only(other)["folds"], 0.0)  # crossing differs
