# ferlite: the two commands of the README.
#   make demo  - set up, then run the bundled model on a real photo and a real video
#   make test  - set up, then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# glibc's eager trimming makes PyTorch on CPU about 3x slower on the project's machines.
export MALLOC_MMAP_THRESHOLD_ := 2147483647
export MALLOC_TRIM_THRESHOLD_ := 100000000000

.PHONY: setup setup-runtime web-vendor system-deps lint test test-fast demo study models models-in-the-wild tflite tflite-int8 clean

# make demo installs the runtime and the extras it uses (no torch, Ray or Flower); make test installs everything.
# Each stamp is remade when pyproject.toml changes; both share one virtual environment.
RUNTIME := $(VENV)/.ferlite-runtime
COMPLETE := $(VENV)/.ferlite-complete
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[cpu,video]"
	touch $@

$(COMPLETE): pyproject.toml | $(BIN)/python
	# torch 2.13.0 first: the local CPU wheel. An unpinned torch pulls GBs of CUDA packages.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[cpu,video,train,apps,scale,federated,test]"
	# supervision, for the Faces.to_detections test: it declares the GUI build opencv-python, which would install a
	# second cv2 over opencv-python-headless's, so it comes without its dependencies (the test extra lists them).
	$(BIN)/pip install -q --no-deps supervision==0.27.0
	touch $@ $(RUNTIME)

# The web page's on-device mode runs onnxruntime-web, fetched once from npm (pinned, integrity-checked) into the
# package; without it the page runs on the server only. Run it before building a wheel.
WEB_VENDOR := src/ferlite/apps/web/static/vendor/onnxruntime-web/VERSION
$(WEB_VENDOR): tools/vendor_onnxruntime_web.py
	$(PYTHON) tools/vendor_onnxruntime_web.py

web-vendor: $(WEB_VENDOR)

setup: $(COMPLETE)

setup-runtime: $(RUNTIME)

# The web app's browser test runs Debian's chromium and chromedriver; spoken cues use espeak-ng; npm fetches
# onnxruntime-web (make web-vendor). Only the missing ones are installed: Debian's npm conflicts with a Node.js that
# already brings its own npm (apt then refuses the whole list).
SYSTEM_COMMANDS := chromium:chromium chromedriver:chromium-driver espeak-ng:espeak-ng npm:npm
system-deps:
	@missing=$$(for pair in $(SYSTEM_COMMANDS); do command -v $${pair%%:*} >/dev/null || echo $${pair#*:}; done); \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# ruff (lint and format) on everything; mypy on the torch-free runtime and core.
lint: setup
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/mypy src/ferlite/runtime src/ferlite/core

test: system-deps setup web-vendor lint
	$(BIN)/python -m pytest -q

# Everyday work: no slow and no browser tests (under 90 s on 2 cores).
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not browser"

SHARED ?= ../shared
demo: setup-runtime
	$(BIN)/ferlite predict tests/fixtures/astronaut_nasa_512.png --annotate runs/demo
	$(BIN)/ferlite watch $(SHARED)/media/face1_emotions_pexels_640x480.mp4 -o runs/demo/face1_annotated.mp4 --records runs/demo/face1.csv
	@echo "annotated photo and video, and per-frame records, in runs/demo/"

study: setup
	$(BIN)/ferlite study --out runs/study_ref5 --report docs/RESULTS.md --note docs/RESULTS_note.md

# The CPU-trained models from scratch, in order (hours; each step resumes where it stopped). docs/experiments/fer7.toml
# starts from the study's 5-class MobileNetV2, the FERPlus model from it; the default FERPlus model is that one
# distilled from its own 128 px fine-tune (configs/ferplus8_kd.toml). The 224 px models (configs/ferplus8_224.toml: the
# bundled accurate model) need a GPU and are not here: ferlite train --config configs/ferplus8_224.toml --amp
# --resume (benchmarks/gpu/README.md), then here, on the CPU, from its int8 file: ferlite from-onnx
# models/ferplus8_224_gpu.int8.onnx --dataset ferplus --out runs/from_accurate, then ferlite train --config
# docs/experiments/ferplus8_224_anneal.toml --resume, and configs/ferplus8_224_full.toml (its header has the from-onnx step).
# The bundled fer2013 model continues from the same from_accurate checkpoint on the CPU
# (about 4 h): docs/experiments/ref5_224_from_accurate.toml, ref5_224_from_accurate_long.toml, fer7_224_from_ref5.toml,
# fer7_224_from_ref5_long.toml and fer7_224_third_cycle.toml, in that order (MODEL_CARD.md).
models: setup
	$(BIN)/ferlite study --out runs/study_ref5 --configs mobilenetv2_full
	$(BIN)/ferlite train --config docs/experiments/fer7.toml --resume
	$(BIN)/ferlite train --config docs/experiments/ferplus8.toml --resume
	$(BIN)/ferlite train --config docs/experiments/ferplus8_128.toml --resume
	$(BIN)/ferlite train --config configs/ferplus8_kd.toml --resume
	$(BIN)/ferlite train --config docs/experiments/fer7_long_mix.toml --resume
	$(BIN)/ferlite train --config configs/eyes_cew.toml --resume
	$(BIN)/ferlite export runs/fer7_long_mix/best.pth --int8 --out runs/export_fer7_long_mix
	$(BIN)/ferlite export runs/ferplus8_kd/best.pth --int8 --dataset ferplus --out runs/export_ferplus8_kd
	$(BIN)/ferlite export runs/eyes_cew/best.pth --int8 --dataset cew --name eye_state
	$(MAKE) models-in-the-wild

# The in-the-wild models (issue 19): FERPlus, RAF-DB and AffectNet together at 112 px, from the FERPlus 224 px model;
# selected on the cross-domain validation set, exported to int8, then its logit bias and temperature fitted on the
# validation domains (never a test split) and stored in the file. Then a second, shorter cycle from that file with
# FERPlus and RAF-DB weighing more and classes less balanced (the gray default until 2026-12-06,
# models/mixture8_112_c2.int8.onnx), then the same at 160 px from it (models/mixture8_160.int8.onnx). Then the default:
# a whole 112 px schedule of 20 epochs with colour input, distilled from those two networks, then 3 short epochs of
# quantization-aware fine-tuning before its int8 export. Last, the accurate model: the 160 px network and the
# default's, averaged in one file, each reading gray faces (MODEL_CARD.md).
# About 5 h on 2 CPU cores; each step resumes where it stopped.
SECOND_CYCLE := --mixture ferplus:0.4,rafdb:0.45,affectnet:0.15 --class-balance 0.3 --lr 1.5e-4 --warmup-epochs 0.2 --epochs 10
# The 160 px sibling of the default: the second cycle's weights at 160 px (the accurate model until 2026-12-03).
ACCURATE := --input-size 160 --mixture ferplus:0.4,rafdb:0.45,affectnet:0.15 --class-balance 0.3 --lr 1e-4 --warmup-epochs 0.2 --epochs 5
models-in-the-wild: setup
	$(BIN)/ferlite from-onnx models/ferplus8_224_full.int8.onnx --dataset ferplus --out runs/from_accurate
	$(BIN)/ferlite train --config configs/mixture8_112.toml --resume
	FERLITE=$(BIN)/ferlite benchmarks/in_the_wild.sh runs/mixture8_112
	$(BIN)/ferlite from-onnx runs/export_mixture8_112/emotion_default.int8.onnx --dataset affectnet --out runs/from_mixture8_112
	$(BIN)/ferlite train --config configs/mixture8_112.toml --init runs/from_mixture8_112/best.pth $(SECOND_CYCLE) \
		--out runs/mixture8_112_c2 --resume
	FERLITE=$(BIN)/ferlite benchmarks/in_the_wild.sh runs/mixture8_112_c2
	$(BIN)/ferlite train --config configs/mixture8_112.toml --init runs/mixture8_112_c2/best.pth $(ACCURATE) \
		--out runs/mixture8_160 --resume
	$(BIN)/ferlite export runs/mixture8_160/best.pth --int8 --dataset mixture --calib-size 1024 --out runs/export_mixture8_160
	$(BIN)/ferlite calibrate runs/export_mixture8_160/model.int8.onnx --out runs/export_mixture8_160 --name mixture8_160.int8.onnx
	$(BIN)/ferlite evaluate runs/export_mixture8_160/mixture8_160.int8.onnx --domains test --threads 2 \
		--out runs/export_mixture8_160/test_int8_calibrated
	$(BIN)/ferlite from-onnx runs/export_mixture8_112_c2/emotion_default.int8.onnx --dataset affectnet --out runs/rebuilt_c2
	$(BIN)/ferlite from-onnx runs/export_mixture8_160/mixture8_160.int8.onnx --dataset affectnet --out runs/rebuilt_160
	$(BIN)/ferlite train --config docs/experiments/mixture8_112_rgb_kd_long.toml --resume
	$(BIN)/ferlite train --config configs/mixture8_112_rgb_kd_long_qat.toml --resume
	$(BIN)/ferlite export runs/mixture8_112_rgb_kd_long_qat/best.pth --int8 --dataset mixture --calib-size 1024 \
		--out runs/export_rgb_kd_long_qat
	$(BIN)/ferlite calibrate runs/export_rgb_kd_long_qat/model.int8.onnx --out runs/export_rgb_kd_long_qat \
		--name emotion_default.int8.onnx --threads 2
	$(BIN)/ferlite evaluate runs/export_rgb_kd_long_qat/emotion_default.int8.onnx --domains test --threads 2 \
		--out runs/export_rgb_kd_long_qat/test_int8_calibrated
	$(BIN)/python tools/ensemble_checkpoints.py runs/ens_160_qat/best.pth runs/mixture8_160/best.pth \
		runs/mixture8_112_rgb_kd_long_qat/best.pth --gray
	$(BIN)/ferlite export runs/ens_160_qat/best.pth --int8 --dataset mixture --calib-size 1024 --out runs/export_ens_160_qat
	$(BIN)/ferlite calibrate runs/export_ens_160_qat/model.int8.onnx --out runs/export_ens_160_qat \
		--name emotion_accurate.int8.onnx --threads 2
	$(BIN)/ferlite evaluate runs/export_ens_160_qat/emotion_accurate.int8.onnx --domains test --threads 2 \
		--out runs/export_ens_160_qat/test_int8_calibrated
	@echo "the calibrated models: runs/export_rgb_kd_long_qat/emotion_default.int8.onnx and"
	@echo "runs/export_ens_160_qat/emotion_accurate.int8.onnx (copy them to src/ferlite/assets/)"

# TFLite (fp32 and fp16) from an exported ONNX model, in its own environment: TensorFlow
# pins numpy and protobuf versions that ferlite's environment does not share.
ONNX ?= exported/model.onnx
.venv-tflite/bin/onnx2tf:
	$(PYTHON) -m venv .venv-tflite
	.venv-tflite/bin/pip install -q tensorflow-cpu==2.21.0 tf-keras onnx2tf onnx onnx-graphsurgeon sng4onnx psutil \
		ai-edge-litert onnxruntime "opencv-python-headless<5" "numpy<2.4" scikit-learn
tflite: .venv-tflite/bin/onnx2tf
	.venv-tflite/bin/python tools/export_tflite.py $(ONNX) --out $(dir $(ONNX))tflite

# Full-integer TFLite (int8 input, output, weights and activations) for phones' NPUs and the Edge TPU: the bundled
# default rebuilt as an fp32 graph, and the eye-state recipe retrained (its small CNN has no BatchNorm for from-onnx
# to unfold), each converted by onnx2tf's int8 path, calibrated on training faces and checked against its ONNX int8
# model on the test splits (LiteRT interpreter). The files are then copied to models/ (SHA-256 in models/README.md).
tflite-int8: setup .venv-tflite/bin/onnx2tf
	$(BIN)/ferlite from-onnx src/ferlite/assets/emotion_default.int8.onnx --dataset affectnet --out runs/tflite/default
	$(BIN)/ferlite export runs/tflite/default/best.pth --dataset affectnet --out runs/tflite/default
	.venv-tflite/bin/python tools/export_tflite.py runs/tflite/default/model.onnx --int8 --reference default \
		--out runs/tflite/default/tflite
	$(BIN)/ferlite train --config configs/eyes_cew.toml --out runs/tflite/eye_state
	$(BIN)/ferlite export runs/tflite/eye_state/best.pth --int8 --dataset cew --out runs/tflite/eye_state
	.venv-tflite/bin/python tools/export_tflite.py runs/tflite/eye_state/model.onnx --int8 \
		--reference runs/tflite/eye_state/model.int8.onnx --calibration cew --domains cew:test --out runs/tflite/eye_state/tflite
	cp runs/tflite/default/tflite/model_full_integer_quant.tflite models/emotion_default.full_int8.tflite
	cp runs/tflite/eye_state/tflite/model_full_integer_quant.tflite models/eye_state.full_int8.tflite
	cp runs/tflite/eye_state/model.int8.onnx models/eye_state_retrained.int8.onnx

clean:
	rm -rf $(VENV) runs/demo .pytest_cache
