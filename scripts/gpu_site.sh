# Sourced by the scripts/gpu_*.sh scripts on a lent GPU machine, whose image has
# jax, flax, optax, numpy and matplotlib but not the rest: installs the wheels in
# $WHEELS (default .whl/, made by scripts/gpu_wheels.sh and carried to the
# machine) into /tmp/site, puts it on PYTHONPATH, and prints the card. Without
# wheels it changes nothing.
WHEELS="${WHEELS:-.whl}"
PYTHON="${PYTHON:-python3}"
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
