#!/usr/bin/env bash
# The in-the-wild default's numbers (MODEL_CARD.md), from its training run to the final reports, in one go:
#   benchmarks/in_the_wild.sh [RUN]            (RUN: default runs/mixture8_112, trained by configs/mixture8_112.toml)
# 1. export to ONNX fp32 and int8 (calibration faces drawn from the training mixture), checked on the val domains;
# 2. fit the logit bias and temperature on the validation domains only (ferlite calibrate), before/after printed;
# 3. final reports on every test domain: the calibrated int8 file (what ships), and, for the int8-vs-fp32 and
#    before/after-calibration comparisons, the uncalibrated int8 and fp32 files;
# 4. the bundled default on the same domains, and both timed in one paired bench run (2 threads).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/mixture8_112}
OUT=runs/export_$(basename "$RUN")
FERLITE=${FERLITE:-.venv/bin/ferlite}
$FERLITE export "$RUN/best.pth" --int8 --dataset mixture --calib-size 1024 --out "$OUT"
$FERLITE calibrate "$OUT/model.int8.onnx" --out "$OUT" --name emotion_default.int8.onnx --threads 2
$FERLITE evaluate "$OUT/emotion_default.int8.onnx" --domains test --threads 2 --out "$OUT/test_int8_calibrated"
$FERLITE evaluate "$OUT/model.int8.onnx" --domains test --threads 2 --out "$OUT/test_int8_raw"
$FERLITE evaluate "$OUT/model.onnx" --domains test --threads 2 --out "$OUT/test_fp32_raw"
$FERLITE evaluate src/ferlite/assets/emotion_default.int8.onnx --domains test --threads 2 --out "$OUT/test_bundled_default"
$FERLITE bench --model src/ferlite/assets/emotion_default.int8.onnx --model "$OUT/emotion_default.int8.onnx" --threads 2 --frames 200
