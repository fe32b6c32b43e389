#!/usr/bin/env bash
# The table of docs/FEDERATED.md: every federated variant on the same data and budget (configs/federated.toml:
# 10 rounds x 3 clients x 1 local epoch of 1,024 faces = 30,720 faces; centralized: 30 epochs of 1,024 faces),
# then the table written from each run's summary.json. About 45 min on 2 cores. Resumes: a finished run is skipped.
#   benchmarks/federated.sh [runs/federated]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/federated}
BIN=${BIN:-.venv/bin}
COMMON=(--config configs/federated.toml --rounds 10)
run() {
    local name=$1; shift
    if [ -f "$OUT/$name/summary.json" ]; then echo "$name: done"; return; fi
    echo "== $name: $*"
    "$BIN/ferlite" federate "${COMMON[@]}" "$@" --out "$OUT/$name" > "$OUT/$name.log" 2>&1
    tail -1 "$OUT/$name.log"
}
mkdir -p "$OUT"
run centralized --strategy centralized --partition iid
run fedavg_iid --partition iid
run fedavg_by_dataset --partition by-dataset
run fedprox_by_dataset --partition by-dataset --strategy fedprox --proximal-mu 0.01
run fedavg_dirichlet_0.3 --partition dirichlet:0.3
run secagg_by_dataset --partition by-dataset --secagg
# Differential privacy: every update (weights and batch-norm statistics) clipped to L2 norm 100 (a first round's
# updates measure about 110, mostly the statistics), then noise at two levels.
run clip100_by_dataset --partition by-dataset --clipping-norm 100
run dp_1e-4_by_dataset --partition by-dataset --clipping-norm 100 --noise-multiplier 1e-4
run dp_5e-4_by_dataset --partition by-dataset --clipping-norm 100 --noise-multiplier 5e-4
"$BIN/python" benchmarks/federated_table.py "$OUT" --write docs/FEDERATED.md
