#!/usr/bin/env bash
# One call on the lent GPU machine: build pycuda from the carried sdist, run the GPU tests and
# the pre-processing bench. Usage (repo root, .whl/ carried): bash bench/gpu_preprocess_device.sh
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
ROOT=$(pwd)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/env.txt"
NVCC=$(command -v nvcc || ls /usr/local/cuda*/bin/nvcc | head -1)
CUDA_ROOT=$(dirname "$(dirname "$NVCC")")
"$NVCC" --version | tail -2 | tee -a "$OUT/env.txt"
python3 -c "import sys, numpy, cv2, cupy; print(sys.version.split()[0], numpy.__version__, cv2.__version__, cupy.__version__)" | tee -a "$OUT/env.txt"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:/tmp/pycuda-src:$ROOT
export PATH=$CUDA_ROOT/bin:$PATH
start=$(date +%s)
if [ -f .whl/pycuda-built.tgz ]; then  # built by an earlier call on the same image
  mkdir -p /tmp/pycuda-src && tar xzf .whl/pycuda-built.tgz -C /tmp/pycuda-src
  echo "pycuda: reused the carried build" | tee -a "$OUT/env.txt"
else
( rm -rf /tmp/pycuda-src && mkdir -p /tmp/pycuda-src && tar xzf .whl/pycuda-*.tar.gz -C /tmp/pycuda-src --strip-components=1 \
  && cd /tmp/pycuda-src \
  && python3 configure.py --cuda-root="$CUDA_ROOT" --cudadrv-lib-dir="$CUDA_ROOT/lib64/stubs" \
  && python3 setup.py build_ext --inplace -j 16 ) > "$OUT/pycuda_build.log" 2>&1
echo "pycuda build rc=$? in $(( $(date +%s) - start )) s" | tee -a "$OUT/env.txt"
tail -1 "$OUT/pycuda_build.log" | cut -c1-300
tar czf "$OUT/pycuda-built.tgz" -C /tmp/pycuda-src pycuda
fi
python3 -c "import pycuda.driver as c; c.init(); print('pycuda', __import__('pycuda').VERSION_TEXT, c.Device(0).name())" 2>&1 | tail -2 | tee -a "$OUT/env.txt"
python3 -m pytest -q -p no:cacheprovider tests/engines/test_preprocess_cuda.py -rs 2>&1 | tee "$OUT/pytest.txt" | tail -12
python3 -m bench.gpu_preprocess --out "$OUT" --repeats 200 2>&1 | tail -40
