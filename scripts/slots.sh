# Sourced by scripts/main.sh: a queue of runs, two at a time, each on its own
# half of the cores. The caller defines `job <k> <args...>`, the k-th run.
#
# Each slot of the queue runs on its own half of the cores (one core each on
# two): XLA sizes its thread pool by the cores a process may use, and two runs
# that each spread over both spun against each other (Dec-Tiger beside fire
# fighting 5-9% faster pinned; the whole job 15.7 -> 11.5-13.1 minutes warm,
# docs/studies/tabular_main_job.md; experiments/harness/cores.py). A run that
# cannot be pinned runs anyway. Tested with stand-in jobs (tests/test_slots.py).

failed=0

finish() {  # finish <what>: waits for the jobs left; one line and status 1 if any failed
  for pid in $(jobs -p); do
    wait "$pid" || failed=1
  done
  if [ "$failed" -ne 0 ]; then
    echo "main.sh: $1 failed (the error is above)" >&2
    exit 1
  fi
}

pin() {  # pin <slot>: this shell, and what it starts, on the slot's half of the cores
  .venv/bin/python -c "from experiments.harness.cores import pin; pin($1, 2, $BASHPID)" \
    2>/dev/null || echo "main.sh: run slot $1 not pinned to its half of the cores: it runs on all" >&2
}

run_in_slots() {  # run_in_slots <n> <args...>: job 0 .. job n-1 in that order, two at a time
  local count=$1 k ended
  shift
  local free=(0 1)
  local -A slot_of=()  # the slot of each run's process
  for ((k = 0; k < count; k++)); do
    if [ "${#free[@]}" -eq 0 ]; then
      wait -n -p ended || failed=1
      free+=("${slot_of[$ended]}")
      unset "slot_of[$ended]"
    fi
    (pin "${free[0]}" && job "$k" "$@") &
    slot_of[$!]=${free[0]}
    free=("${free[@]:1}")
  done
  finish "a run"
}
