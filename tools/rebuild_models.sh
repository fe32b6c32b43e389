#!/usr/bin/env bash
# Rebuilds the shipped models on the CPU from the start of their chain in models/ (models/MANIFEST.toml), with the
# recipes in configs/. Hours on 2 cores; every training step resumes where it stopped, so after an interruption run
# the same command again. How each step was chosen, and what it measured: docs/EXPERIMENTS.md and MODEL_CARD.md.
#
#   tools/rebuild_models.sh [STAGE ...]       (default: in-the-wild fer2013 eyes)
#
#   ferplus224   models/ferplus8_224_full.int8.onnx from models/ferplus8_224_gpu.int8.onnx: annealed, then fine-tuned
#                in full (the GPU run itself: configs/ferplus8_224.toml, benchmarks/gpu/README.md)
#   in-the-wild  emotion_default and emotion_accurate from models/ferplus8_224_full.int8.onnx: three sources at 112 px,
#                a second cycle, the same at 160 px, then the default distilled from those two and fine-tuned under its
#                int8 rounding; accurate is the 160 px network and the default's, averaged in one file. Each is
#                calibrated on the validation domains, then reported on the test domains.
#   fer2013      emotion_fer2013 from models/ferplus8_224_gpu.int8.onnx, through the study's 5-class model
#                (models/ref5_224.int8.onnx is that step's file)
#   eyes         eye_state from scratch on CEW
#
# The files to copy to src/ferlite/assets/ are printed at the end of each stage. The TFLite files: make tflite-int8.
set -euo pipefail
cd "$(dirname "$0")/.."
FERLITE=${FERLITE:-.venv/bin/ferlite}
PYTHON=${PYTHON:-.venv/bin/python}

# ferlite from-onnx, once: a later stage, or a rerun after an interruption, reuses the rebuilt checkpoint.
rebuilt() { # ONNX DATASET OUT
	[ -f "$3/best.pth" ] || $FERLITE from-onnx "$1" --dataset "$2" --out "$3"
}

ferplus224() {
	rebuilt models/ferplus8_224_gpu.int8.onnx ferplus runs/from_gpu
	$FERLITE train --config configs/ferplus8_224_anneal.toml --init runs/from_gpu/best.pth --resume
	$FERLITE export runs/ferplus8_224_anneal/best.pth --int8 --dataset ferplus --out runs/export_ferplus8_224_anneal
	rebuilt runs/export_ferplus8_224_anneal/model.int8.onnx ferplus runs/from_accurate_anneal
	$FERLITE train --config configs/ferplus8_224_full.toml --resume
	$FERLITE export runs/ferplus8_224_full/best.pth --int8 --dataset ferplus --out runs/export_ferplus8_224_full
	echo "ferplus224: runs/export_ferplus8_224_full/model.int8.onnx (models/ferplus8_224_full.int8.onnx)"
}

# The second cycle: FERPlus and RAF-DB weigh more, classes are less balanced; then the same weights at 160 px.
SECOND_CYCLE=(--mixture ferplus:0.4,rafdb:0.45,affectnet:0.15 --class-balance 0.3 --lr 1.5e-4 --warmup-epochs 0.2 --epochs 10)
AT_160=(--input-size 160 --mixture ferplus:0.4,rafdb:0.45,affectnet:0.15 --class-balance 0.3 --lr 1e-4 --warmup-epochs 0.2 --epochs 5)

# export to int8, fit the logit bias and temperature on the validation domains, report on the test domains
export_calibrated() { # CHECKPOINT OUT NAME
	$FERLITE export "$1" --int8 --dataset mixture --calib-size 1024 --out "$2"
	$FERLITE calibrate "$2/model.int8.onnx" --out "$2" --name "$3" --threads 2
	$FERLITE evaluate "$2/$3" --domains test --threads 2 --out "$2/test_int8_calibrated"
}

in_the_wild() {
	rebuilt models/ferplus8_224_full.int8.onnx ferplus runs/from_accurate
	$FERLITE train --config configs/mixture8_112.toml --resume
	export_calibrated runs/mixture8_112/best.pth runs/export_mixture8_112 model_calibrated.int8.onnx
	rebuilt runs/export_mixture8_112/model_calibrated.int8.onnx affectnet runs/from_mixture8_112
	$FERLITE train --config configs/mixture8_112.toml --init runs/from_mixture8_112/best.pth "${SECOND_CYCLE[@]}" \
		--out runs/mixture8_112_c2 --resume
	export_calibrated runs/mixture8_112_c2/best.pth runs/export_mixture8_112_c2 model_calibrated.int8.onnx
	$FERLITE train --config configs/mixture8_112.toml --init runs/mixture8_112_c2/best.pth "${AT_160[@]}" \
		--out runs/mixture8_160 --resume
	export_calibrated runs/mixture8_160/best.pth runs/export_mixture8_160 model_calibrated.int8.onnx
	# The two teachers as their int8 files score (the recipe distils from what shipped, rounding included).
	rebuilt runs/export_mixture8_112_c2/model_calibrated.int8.onnx affectnet runs/rebuilt_c2
	rebuilt runs/export_mixture8_160/model_calibrated.int8.onnx affectnet runs/rebuilt_160
	$FERLITE train --config configs/mixture8_112_rgb_kd_long.toml --resume
	$FERLITE train --config configs/mixture8_112_rgb_kd_long_qat.toml --resume
	export_calibrated runs/mixture8_112_rgb_kd_long_qat/best.pth runs/export_default emotion_default.int8.onnx
	$PYTHON tools/ensemble_checkpoints.py runs/ensemble_accurate/best.pth runs/mixture8_160/best.pth \
		runs/mixture8_112_rgb_kd_long_qat/best.pth --gray
	export_calibrated runs/ensemble_accurate/best.pth runs/export_accurate emotion_accurate.int8.onnx
	echo "in-the-wild: runs/export_default/emotion_default.int8.onnx and runs/export_accurate/emotion_accurate.int8.onnx"
}

fer2013() {
	rebuilt models/ferplus8_224_gpu.int8.onnx ferplus runs/from_gpu
	$FERLITE train --config configs/ref5_224_from_accurate.toml --init runs/from_gpu/best.pth --resume
	$FERLITE train --config configs/ref5_224_from_accurate_long.toml --resume
	$FERLITE export runs/ref5_224_from_accurate_long/best.pth --int8 --out runs/export_ref5_224
	$FERLITE train --config configs/fer7_224_from_ref5.toml --resume
	$FERLITE train --config configs/fer7_224_from_ref5_long.toml --resume
	$FERLITE train --config configs/fer7_224_third_cycle.toml --resume
	$FERLITE export runs/fer7_224_third_cycle/best.pth --int8 --out runs/export_fer2013 --name emotion_fer2013
	$FERLITE evaluate runs/export_fer2013/emotion_fer2013.int8.onnx --split test --tta shift-flip --out runs/export_fer2013/test
	echo "fer2013: runs/export_fer2013/emotion_fer2013.int8.onnx (the 5-class step: runs/export_ref5_224/model.int8.onnx)"
}

eyes() {
	$FERLITE train --config configs/eyes_cew.toml --resume
	$FERLITE export runs/eyes_cew/best.pth --int8 --dataset cew --name eye_state
	echo "eyes: runs/eyes_cew/eye_state.int8.onnx"
}

stages=("$@")
[ $# -gt 0 ] || stages=(in-the-wild fer2013 eyes)
for stage in "${stages[@]}"; do # every name checked before hours of training start
	case "$stage" in
	ferplus224 | in-the-wild | fer2013 | eyes) ;;
	*)
		echo "rebuild_models.sh: unknown stage '$stage' (ferplus224, in-the-wild, fer2013, eyes)" >&2
		exit 2
		;;
	esac
done
for stage in "${stages[@]}"; do
	"${stage//-/_}"
done
