# ferlite: the two commands of the README.
#   make demo  - set up, then run the bundled model on a real photo and a real video
#   make test  - set up, then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# glibc's eager trimming makes PyTorch on CPU about 3x slower on the project's machines.
export MALLOC_MMAP_THRESHOLD_ := 2147483647
export MALLOC_TRIM_THRESHOLD_ := 100000000000

.PHONY: setup setup-runtime web-vendor system-deps lint test test-fast demo study models api-docs dist tflite tflite-int8 clean

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

# Tests run in TEST_WORKERS processes (pytest-xdist), a core each; tests that share a build or a local Ray instance
# keep to one worker (their xdist_group mark).
TEST_WORKERS ?= 2
test: system-deps setup web-vendor lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# Everyday work: no slow and no browser tests (under 90 s on 2 cores).
test-fast: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not slow and not browser"

SHARED ?= ../shared
demo: setup-runtime
	$(BIN)/ferlite predict tests/fixtures/astronaut_nasa_512.png --annotate runs/demo
	$(BIN)/ferlite watch $(SHARED)/media/face1_emotions_pexels_640x480.mp4 -o runs/demo/face1_annotated.mp4 --records runs/demo/face1.csv
	@echo "annotated photo and video, and per-frame records, in runs/demo/"

study: setup
	$(BIN)/ferlite study --out runs/study_ref5 --report docs/RESULTS.md --note docs/RESULTS_note.md

# The shipped models from the start of their chain in models/, on the CPU (hours; each step resumes where it
# stopped). The script's header lists its stages; models/MANIFEST.toml, the files.
models: setup
	tools/rebuild_models.sh

# The API reference, generated from the docstrings by pdoc, in docs/api/ (git-ignored).
api-docs: setup
	$(BIN)/pdoc ferlite --docformat google -o docs/api

# The release files in dist/: the sdist, and the wheel built from it (with onnxruntime-web, see setup.py), checked.
dist: setup
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

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
	rm -rf $(VENV) runs/demo .pytest_cache dist docs/api
