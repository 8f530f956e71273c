#!/bin/sh
# Entry point of the TensorRT images (and ExecStartPre of alpr-worker.service): on a TensorRT node,
# build the engines the worker will load into the engine cache, then exec "$@". It runs the
# worker's own loader (`alpr engines build --default`: same models, prepared copies, names and
# build options from the same ALPR_* settings), so the worker finds every engine and builds none.
# Engines whose sidecar JSON still matches are reused; stale ones are rebuilt. A Nano must build
# its own engines (they are tied to GPU and TensorRT version): minutes at first start.
set -eu
PYTHON="${ALPR_PYTHON:-python3}"  # `python3 -m alpr`: no console script needed (bare metal has none)
ALPR_ENGINE_CACHE_DIR="${ALPR_ENGINE_CACHE_DIR:-/var/cache/alpr/engines}"
export ALPR_ENGINE_CACHE_DIR  # the worker exec'd below reads the same cache

if [ "${ALPR_RUNTIME:-onnxruntime}" = "tensorrt" ] && [ "${ALPR_SKIP_ENGINE_BUILD:-0}" != "1" ]; then
    mkdir -p "$ALPR_ENGINE_CACHE_DIR"
    exec 9>"$ALPR_ENGINE_CACHE_DIR/.build.lock"
    flock 9  # one builder per cache, even with several containers on one node
    echo "alpr-entrypoint: TensorRT engines for the worker in $ALPR_ENGINE_CACHE_DIR (made at first start, minutes on a Nano; reused after)"
    "$PYTHON" -m alpr engines build --default
    flock -u 9
    exec 9>&-
fi
if [ "$#" -eq 0 ]; then
    exit 0  # ExecStartPre use: build only
fi
exec "$@"
