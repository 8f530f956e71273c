#!/bin/sh
# Entry point of the TensorRT images (and ExecStartPre of alpr-worker.service): on a TensorRT node,
# prepare the default models for this TensorRT and build the engines into the mounted cache
# (a Nano must build its own engines: they are tied to GPU and TensorRT version), then exec "$@".
# `alpr engines build` skips engines whose sidecar JSON still matches and rebuilds stale ones.
set -eu
CACHE="${ALPR_ENGINE_CACHE_DIR:-/var/cache/alpr/engines}"
TARGET="${ALPR_TRT_TARGET:-trt8.2}"
MODELS="$CACHE/models-$TARGET"

if [ "${ALPR_RUNTIME:-onnxruntime}" = "tensorrt" ] && [ "${ALPR_SKIP_ENGINE_BUILD:-0}" != "1" ]; then
    mkdir -p "$MODELS"
    exec 9>"$CACHE/.build.lock"
    flock 9  # one builder per cache, even with several containers on one node
    if ! ls "$MODELS"/*.onnx >/dev/null 2>&1; then
        echo "alpr-entrypoint: preparing the default models for $TARGET into $MODELS"
        alpr models prepare --default --target "$TARGET" --out-dir "$MODELS"
    fi
    echo "alpr-entrypoint: checking/building TensorRT engines in $CACHE (minutes on a Nano)"
    alpr engines build "$MODELS"/*.onnx
    flock -u 9
    exec 9>&-
fi
if [ "$#" -eq 0 ]; then
    exit 0  # ExecStartPre use: prepare only
fi
exec "$@"
