#!/usr/bin/env bash
# What each bundled model reads in the shared real clips: the label shares and each second's most frequent label
# that `ferlite watch` prints at the end of a video. MODEL_CARD.md's "Why this model is the default" table quotes it.
#   benchmarks/clip_labels.sh [SHARED]     (SHARED: the shared folder, default ../shared)
# The fer2013 model runs with the ten-view TTA that PublicTest chose for it; the FERPlus models without TTA.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${1:-../shared}
FERLITE=${FERLITE:-.venv/bin/ferlite}
for clip in faces_multi_hikers_ccby_640x480 faces_multi_event_ccby_640x480 face1_emotions_pexels_640x480; do
    for model in "default" "accurate" "fer2013 --tta shift-flip"; do
        echo "== $clip.mp4, --model $model"
        # shellcheck disable=SC2086  # $model carries its own options
        "$FERLITE" watch "$SHARED/media/$clip.mp4" --model $model --threads 1 2>&1 | grep -E "labels of all|most frequent label" \
            || { echo "ferlite watch failed on $clip.mp4 with --model $model" >&2; exit 1; }
    done
done
