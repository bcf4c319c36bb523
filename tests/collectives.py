"""The collectives a job of several processes relies on, checked by checksums
(tests/experiments/harness/test_processes.py runs this under the launcher):

    python -m experiments.launch --processes 2 -- tests.collectives OUT

Each process makes its own rows (different in every process), and the rows of
all processes form one global array split over the processes' devices. Then
every process records, in OUT/process_<i>.json, the checksum of the rows it sent
and of every row it received from three gathers: the trainers' in-program
gather (`marl.sharding.across_processes`, an all-gather), `process_allgather`,
and a `psum` of the rows. The test compares what each process sent with what
every process received.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from experiments.harness import processes
from marl.sharding import RUNS, across_processes, runs_mesh

ROWS_PER_PROCESS, WIDTH = 3, 1000


def checksum(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]


def main(out: pathlib.Path) -> None:
    processes.join()
    index, count = jax.process_index(), jax.process_count()
    rng = np.random.default_rng(1000 + index)
    mine = rng.standard_normal((ROWS_PER_PROCESS, WIDTH)).astype(np.float32)
    mesh = runs_mesh()
    split = NamedSharding(mesh, PartitionSpec(RUNS))
    rows = jax.make_array_from_process_local_data(split, mine)

    gathered = jax.jit(lambda x: across_processes(x * 1.0, mesh))(rows)
    allgathered = multihost_utils.process_allgather(rows, tiled=True)
    total = jax.jit(
        lambda x: across_processes(jnp.sum(x, axis=0), mesh),
        out_shardings=NamedSharding(mesh, PartitionSpec()),
    )(rows)
    record = {
        "process": index,
        "processes": count,
        "sent": checksum(mine),
        "sent_sum": mine.astype(np.float64).sum(0).tolist()[:5],
        "in_program": [
            checksum(
                np.asarray(gathered)[k * ROWS_PER_PROCESS : (k + 1) * ROWS_PER_PROCESS]
            )
            for k in range(count)
        ],
        "process_allgather": [
            checksum(allgathered[k * ROWS_PER_PROCESS : (k + 1) * ROWS_PER_PROCESS])
            for k in range(count)
        ],
        "psum": np.asarray(total).astype(np.float64).tolist()[:5],
        "fully_replicated": bool(gathered.is_fully_replicated),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"process_{index}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
