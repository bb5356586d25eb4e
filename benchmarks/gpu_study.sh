#!/usr/bin/env bash
# The GPU study subset, prepared for a lent GPU machine (../shared/gpu/README.md), or a dry run here.
#
# On the GPU machine (call 5 of the README's carrying sequence, carrying .whl/part04):
#     bash benchmarks/gpu_study.sh --out "$OUT/study"
#   assembles the onnxruntime-gpu wheel from the pieces in $HOME/ch (calls 1-4 copied them there),
#   installs it and this project into $HOME (no network), runs benchmarks/gpu_study.py and leaves
#   results.db + report.md under --out. Pass extra options through (e.g. --shapes 1x1000,64x100).
# Here, without a GPU:
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

version=${ORT_GPU_VERSION:-1.31.1}
wheel="$HOME/onnxruntime_gpu-${version}-cp312-cp312-manylinux_2_28_x86_64.whl"
pieces=$(ls "$HOME"/ch/part0* 2>/dev/null | wc -l)
if [ "$pieces" -lt 5 ]; then
    [ -f .whl/part04 ] && { mkdir -p "$HOME/ch"; cp .whl/part04 "$HOME/ch/"; }
    pieces=$(ls "$HOME"/ch/part0* 2>/dev/null | wc -l)
fi
if [ "$pieces" -lt 5 ]; then
    echo "gpu_study.sh: found $pieces of 5 wheel pieces in $HOME/ch; the machine went cold between calls?" >&2
    echo "  carry .whl/part00..part04 one per call, back to back (../shared/gpu/README.md), or use --dry-run" >&2
    exit 3
fi
cat "$HOME"/ch/part0* > "$wheel"
python3 -m pip install -q --no-index --no-deps --no-compile --target "$HOME/site" "$wheel"
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target "$HOME/proj" .
export PYTHONPATH="$HOME/proj:$HOME/site${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 -c "import onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
exec python3 benchmarks/gpu_study.py "$@"
