"""logger=tensorboard and logger=wandb (experiments/deep/loggers.py): a tiny run's
curves, read back with each library's own reader (wandb's offline run file is
read as the records its protobuf defines), equal metrics.jsonl."""

from __future__ import annotations

import json
import pathlib
import struct

import numpy as np
import pytest

from experiments.deep.ippo_directory import read_metrics
from experiments.deep.loggers import scalars
from tests.tiny_runs import train


def test_tensorboard_events_hold_the_metrics(tmp_path):
    pytest.importorskip("tensorboardX")
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    )
    run = tmp_path / "run"
    train(run, "logger=tensorboard")
    events = accumulator.EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    records = read_metrics(run / "metrics.jsonl")
    assert len(records) == 1  # one chunk of 2 updates
    expected = scalars(records[-1])
    assert set(events.Tags()["scalars"]) == set(expected)
    assert "entropy/ent_coef_0.1" in expected and len(expected) > 10
    for tag, value in expected.items():
        logged = events.Scalars(tag)
        assert [e.step for e in logged][-1] == records[-1]["env_steps"]
        assert logged[-1].value == pytest.approx(value, rel=1e-6)


def wandb_records(path: pathlib.Path) -> list:
    """The protobuf records of a wandb run file (a LevelDB-style log: a 7-byte
    header, then 32 KiB blocks of chunks, each with a 7-byte header of CRC,
    length and kind: 1 whole, 2 first, 3 middle, 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, at, block = [], b"", 7, 32768
    while at + 7 <= len(data):
        if block - at % block < 7:
            at += block - at % block  # the block's padding
            continue
        _, length, kind = struct.unpack("<IHB", data[at : at + 7])
        chunk, at = data[at + 7 : at + 7 + length], at + 7 + length
        if kind == 0 and length == 0:
            break
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def test_wandb_offline_run_holds_the_metrics(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline by default
    run = tmp_path / "run"
    train(run, "logger=wandb")
    files = list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    history = [
        {
            item.key or "/".join(item.nested_key): json.loads(item.value_json)
            for item in record.history.item
        }
        for record in wandb_records(files[0])
        if record.WhichOneof("record_type") == "history"
    ]
    records = read_metrics(run / "metrics.jsonl")
    assert len(history) == len(records)
    for logged, record in zip(history, records, strict=True):
        assert logged["env_steps"] == record["env_steps"]
        for tag, value in scalars(record).items():
            assert logged[tag] == pytest.approx(value, rel=1e-9), tag
    assert np.isfinite(history[-1]["entropy/ent_coef_0.1"])


def test_an_unknown_logger_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        train(tmp_path / "run", "logger=mlflow")
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "logger" in error[0] and "tensorboard" in error[0]
