#!/usr/bin/env bash
# ferlite against the `fer` package, in one run on the same inputs (see compare.py).
#   benchmarks/peers/run.sh [--model M.onnx] [--write docs/BENCHMARKS.md]
# fer gets its own venv: it needs TensorFlow, and its declared dependencies (moviepy,
# facenet-pytorch, full opencv) would pull in torch with CUDA, so it is installed with
# --no-deps plus what its FER class really imports.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${PEERS_VENV:-.venv-peers}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import fer, tensorflow" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-deps fer==25.10.3
    # setuptools<81: fer imports pkg_resources. numpy<2.4: what tensorflow-cpu supports.
    "$VENV/bin/pip" install -q tensorflow-cpu "opencv-contrib-python<5" "setuptools<81" pandas pillow requests \
        onnxruntime tqdm scikit-learn "numpy<2.4"
fi
# ferlite's runtime beside it, without its dependencies: opencv-contrib-python already provides cv2.
"$VENV/bin/pip" install -q --no-deps .
export TF_CPP_MIN_LOG_LEVEL=2
exec "$VENV/bin/python" benchmarks/peers/compare.py "$@"
