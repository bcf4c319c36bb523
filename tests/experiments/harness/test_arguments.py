"""experiments.harness.arguments: one-line errors, the program's own name, and
`require_at_least` and `require_above` over single values, lists, None and
non-finite numbers."""

from __future__ import annotations

import pytest

from experiments.harness.arguments import ArgumentParser


def parser() -> ArgumentParser:
    made = ArgumentParser("benchmarks.example", "An example.\n\nIts second paragraph.")
    made.add_argument("--seeds", type=int, default=8, help="seeds per run")
    made.add_argument("--sizes", type=int, nargs="+", default=[3, 4])
    made.add_argument("--tol", type=float, default=1e-4)
    made.add_argument("--updates", type=int, default=None, help="the preset's")
    made.add_argument("--name", default="all", help="which (default: all)")
    return made


def refused(argv: list[str], capsys, **least: float) -> str:
    p = parser()
    with pytest.raises(SystemExit) as stopped:
        p.require_at_least(p.parse_args(argv), **least)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(" (see --help)\n")
    return err


def test_values_at_their_least_and_none_pass(capsys):
    p = parser()
    args = p.parse_args(["--seeds", "1", "--sizes", "1", "5", "--tol", "0"])
    assert args.updates is None
    # no SystemExit, nothing said, the values left as parsed
    assert p.require_at_least(args, seeds=1, sizes=1, tol=0, updates=1) is None
    assert capsys.readouterr().err == ""
    assert (args.seeds, args.sizes, args.tol) == (1, [1, 5], 0.0)


@pytest.mark.parametrize(
    "argv, least, message",
    [
        (["--seeds", "0"], {"seeds": 1}, "error: --seeds=0 must be >= 1"),
        (["--sizes", "3", "0"], {"sizes": 1}, "error: --sizes=0 must be >= 1"),
        (["--tol", "nan"], {"tol": 0}, "error: --tol=nan must be >= 0"),
        (["--tol", "inf"], {"tol": 0}, "error: --tol=inf must be >= 0"),
        (["--updates", "1"], {"updates": 2}, "error: --updates=1 must be >= 2"),
        # the first option named whose value is wrong, in the order given
        (["--seeds", "0", "--tol", "-1"], {"tol": 0, "seeds": 1}, "--tol=-1.0"),
    ],
)
def test_the_first_value_below_its_least_is_refused_in_one_line(
    argv, least, message, capsys
):
    assert message in refused(argv, capsys, **least)


def test_above_refuses_its_bound_itself_and_passes_what_exceeds_it(capsys):
    p = parser()
    with pytest.raises(SystemExit) as stopped:
        p.require_above(p.parse_args(["--tol", "0"]), tol=0)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "error: --tol=0.0 must be > 0 (see --help)\n"
    with pytest.raises(SystemExit):
        p.require_above(p.parse_args(["--tol", "inf"]), tol=0)
    assert "--tol=inf must be > 0" in capsys.readouterr().err
    args = p.parse_args(["--tol", "1e-9"])
    assert p.require_above(args, tol=0, updates=0) is None  # updates: None
    assert capsys.readouterr().err == "" and args.tol == 1e-9


def test_a_bad_argument_is_one_line_and_help_names_the_program(capsys):
    with pytest.raises(SystemExit) as stopped:
        parser().parse_args(["--seeds", "many"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --seeds: invalid int value") and (
        err.count("\n") == 1
    )
    text = parser().format_help()
    assert text.startswith("usage: python -m benchmarks.example")
    assert "Its second paragraph." in text and "seeds per run (default: 8)" in text
    assert "the preset's\n" in text  # a None default is not shown
    assert "--tol TOL" in text and "default: 0.0001" in text  # no help text
    assert text.count("default: all") == 1  # its help names it: not twice
