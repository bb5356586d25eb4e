#!/usr/bin/env bash
# The GPU study: ORT CUDA EP (I/O binding, CUDA graphs), TensorRT where its libraries are present,
# and PyTorch CUDA eager, into a results database and a report.
#
# On a GPU machine whose Python has onnxruntime-gpu and a CUDA build of torch:
#     bash benchmarks/gpu_study.sh --out study-gpu [--shapes 1x1000,64x100 --hidden 128,512 ...]
#   With ORT_GPU_WHEEL=/path/to/onnxruntime_gpu-*.whl it first installs that wheel and this project
#   into a private folder (no network), for machines whose Python carries the CPU onnxruntime.
# Without a GPU:
#     bash benchmarks/gpu_study.sh --dry-run --out /tmp/study-dry
#   runs the same Python with the current interpreter: CUDA/TensorRT rows are recorded as
#   unavailable with the reason and the CPU rows are measured.
set -euo pipefail
cd "$(dirname "$0")/.."

dry=0
for arg in "$@"; do [ "$arg" = "--dry-run" ] && dry=1; done

if [ "$dry" = 1 ]; then
    python=${PYTHON:-}
    if [ -z "$python" ]; then
        if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
    fi
    exec "$python" benchmarks/gpu_study.py "$@"
fi

python=${PYTHON:-python3}
if [ -n "${ORT_GPU_WHEEL:-}" ]; then
    prefix=$(mktemp -d)
    "$python" -m pip install -q --no-index --no-deps --no-compile --target "$prefix/site" "$ORT_GPU_WHEEL"
    "$python" -m pip install -q --no-index --no-deps --no-build-isolation --target "$prefix/proj" .
    export PYTHONPATH="$prefix/proj:$prefix/site${PYTHONPATH:+:$PYTHONPATH}"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
# The wheel's CUDA libraries are found only after preload_dlls (onnxruntime-gpu >= 1.21).
"$python" -c "import onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
exec "$python" benchmarks/gpu_study.py "$@"
