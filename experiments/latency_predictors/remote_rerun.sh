#!/usr/bin/env bash
# rerun_meta.sh's chains and seed_spread.py's 10-seed figures side by side on the 16-core GPU host (device tool),
# carrying .carry/help (the HELP data) and, on a second call, .carry/rerun (what the first call left: both resume):
#   COLUMNS="meta regressor totals" bash experiments/latency_predictors/remote_rerun.sh
# Results come back under $OUT/rerun (run.py results, one file per chain) and $OUT/spread (seed_spread.py JSON
# lines); merge them here with `run.py merge DIR/rerun/*.json`. Every job stops at LIMIT seconds (default 540),
# within the tool's 10 minutes, keeping what it finished.
set -u
mkdir -p /tmp/ds/latency && ln -sfn "$PWD/.carry/help" /tmp/ds/latency/help
export NASEDGE_DATASETS=/tmp/ds PYTHONPATH="$PWD" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$OUT/rerun" "$OUT/spread"
[ -d .carry/rerun ] && cp -r .carry/rerun/. "$OUT/"
H=/tmp/ds/latency/help LIMIT=${LIMIT:-540}
# the seed spreads first (the longest jobs), then the chains, as rerun_meta.sh lists them
{ for b in ${SPREAD-ct-fb ct-nb ctr-ofa help-nb transfer lodo}; do echo "spread $b"; done
  ONLY="${ONLY:-}" LIST=1 bash experiments/latency_predictors/rerun_meta.sh "$H" "$OUT/rerun" | sed 's/^/chain /'; } |
  xargs -P 16 -I{} bash -c '
    set -- $1; kind=$1; shift
    if [ "$kind" = spread ]; then
      cd experiments/latency_predictors && timeout '"$LIMIT"' python seed_spread.py $1 --seeds 10 \
        --out "$OUT/spread/$1.jsonl" > "$OUT/spread/$1.log" 2>&1; echo "spread $1: exit $?"
    else
      name="${1%%|*}"; line="$*"; args="${line#*|}"
      timeout '"$LIMIT"' python experiments/latency_predictors/run.py $args --columns ${COLUMNS:-meta} \
        --results "$OUT/rerun/$name.json" > "$OUT/rerun/$name.log" 2>&1; echo "chain $name: exit $?"
    fi' _ {}
