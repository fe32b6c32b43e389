#!/usr/bin/env bash
# Long training runs on a GPU lent by the device tool, which carries the working tree but not ../shared.
# Here, first: python benchmarks/gpu/carry.py pack ../shared/data/fer2013.npz .gpu/fer_jpeg.npz, the ImageNet
# weights copied to .gpu/shared/weights/, and the albumentations wheels downloaded to .whl/ (README.md).
#   benchmarks/gpu/train.sh unpack                    unpack the packs this call carried (.gpu/*_jpeg.npz) into
#                                                     .gpu/shared/data; a pack already unpacked is left alone
#   benchmarks/gpu/train.sh start "ARGS" ["ARGS" ...]  install, unpack, start one `ferlite train ARGS --amp` each;
#                                                     every ARGS names its run folder with --out
#   benchmarks/gpu/train.sh collect SECONDS           wait for the runs (at most SECONDS), then copy every
#                                                     run's best.pth and logs to $OUT
# The runs are started with setsid, so they outlive one device call while the machine stays warm.
set -euo pipefail
export PYTHONPATH=/tmp/site:$PWD/src FERLITE_SHARED=$PWD/.gpu/shared PYTHONUNBUFFERED=1
action=$1; shift
unpack_carried() {
    mkdir -p .gpu/shared/data
    # pack name -> the shared file it stands for, and how carry.py unpacks it
    for pair in fer_jpeg:fer2013:unpack rafdb_jpeg:rafdb_basic:unpack-wild affectnet_jpeg:affectnet_yolo96_gray:unpack-wild; do
        IFS=: read -r pack file how <<< "$pair"
        if [ -f ".gpu/$pack.npz" ] && [ ! -f ".gpu/shared/data/$file.npz" ]; then
            python3 benchmarks/gpu/carry.py "$how" ".gpu/$pack.npz" ".gpu/shared/data/$file.npz"
        fi
    done
}
case $action in
unpack)
    unpack_carried
    ;;
start)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    unpack_carried
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    workers=$(( $(nproc) / $# - 1 ))
    mkdir -p runs
    for run_args in "$@"; do
        name=$(basename "$(echo "$run_args" | sed -n 's/.*--out \([^ ]*\).*/\1/p')")
        [ -n "$name" ] || { echo "no --out in: $run_args" >&2; exit 2; }
        # shellcheck disable=SC2086  # ARGS is a list of options
        setsid nohup python3 -m ferlite train $run_args --amp --workers "$workers" --resume > "runs/$name.log" 2>&1 &
        echo "started $name: ferlite train $run_args --amp --workers $workers"
    done
    ;;
collect)
    deadline=$(( $(date +%s) + $1 ))
    while pgrep -f "ferlite train" > /dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 10; done
    for log in runs/*.log; do
        name=$(basename "$log" .log)
        echo "== $name"; grep -E "^epoch|^best|Error|error" "$log" | tail -n 40 || true
        [ -f "runs/$name/best.pth" ] && cp "runs/$name/best.pth" "$OUT/$name.best.pth"
    done
    tar -czf "$OUT/logs.tgz" runs/*.log runs/*/log.jsonl
    ;;
esac
