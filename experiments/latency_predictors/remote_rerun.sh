#!/usr/bin/env bash
# rerun_meta.sh's chains (and the ablation) on the 16-core GPU host, through the device tool, each chain split into
# shards (run.py --shard) so that the long ones end within one call. From the repository root, carrying .whl,
# .carry/help (the HELP data) and, to resume, .carry/rerun (what an earlier call brought back):
#
#   bash experiments/gpu_run.sh -- env ONLY='^(help-|lodo$)' bash experiments/latency_predictors/remote_rerun.sh
#
# then here: python experiments/latency_predictors/run.py merge <files_at>/rerun/rerun.json
#
# ONLY=REGEX picks chains by name (rerun_meta.sh's); COLUMNS="meta ..." reruns those
# columns (default: every column of every experiment, so that every result is stamped with the code now in the tree).
# Jobs stop DEADLINE seconds after the start (default 530; the tool allows 600), keeping each result they finished;
# then every shard's results are merged into $OUT/rerun/rerun.json and the logs packed into $OUT/rerun/logs.tar.gz
# (the tool brings back at most 8 files). A later call with .carry/rerun/rerun.json skips what that file holds.
set -u
START=$(date +%s) DEADLINE=${DEADLINE:-530} CORES=$(nproc)  # before OMP_NUM_THREADS=1, which nproc would report
mkdir -p /tmp/ds/latency && ln -sfn "$PWD/.carry/help" /tmp/ds/latency/help
export NASEDGE_DATASETS=/tmp/ds OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
H=/tmp/ds/latency/help
WORK=$(mktemp -d /tmp/rerun.XXXX); mkdir -p "$OUT/rerun"  # fresh: a warm machine keeps /tmp between calls
SEED=.carry/rerun/rerun.json  # an earlier call's results: every shard starts from them and skips what they hold
shards() {  # how many jobs a chain is split into: about 3 minutes of one core each, by the chains' stored times
  case $1 in
    crosstype-fbnet*|typesplit-fbnet*|crosstype-nasbench201*|typesplit-nasbench201*) echo 10 ;;
    lodo*|ablation-*) echo 5 ;;
    crosstype-ofa*) echo 3 ;;
    *) echo 1 ;;
  esac
}
ONLY="${ONLY:-}" LIST=1 bash experiments/latency_predictors/rerun_meta.sh "$H" "$WORK" > "$WORK/chains"
while IFS= read -r chain; do
  n=$(shards "${chain%%|*}")
  for ((i = 0; i < n; i++)); do echo "$i/$n|$chain"; done
done < "$WORK/chains" > "$WORK/jobs"
echo "$(wc -l < "$WORK/chains") chains, $(wc -l < "$WORK/jobs") jobs on $CORES cores"
columns=${COLUMNS:+--columns $COLUMNS}
export START DEADLINE WORK SEED columns
xargs -P "$CORES" -I{} bash -c '
  shard="${1%%|*}"; rest="${1#*|}"; name="${rest%%|*}"; args="${rest#*|}"
  file="$WORK/${name}.${shard%/*}.json"
  [ -f "$SEED" ] && [ ! -f "$file" ] && cp "$SEED" "$file"
  left=$(( START + DEADLINE - $(date +%s) ))
  [ "$left" -gt 10 ] || { echo "$name $shard: no time left"; exit 0; }
  timeout "$left" python experiments/latency_predictors/run.py $args $columns --shard "$shard" --results "$file" \
    > "${file%.json}.log" 2>&1
  echo "$name $shard: exit $? ($(( $(date +%s) - START )) s)"' _ {} < "$WORK/jobs"
files=("$WORK"/*.json)
# SEED first, then what each shard stored over it: a shard's file holds SEED's copy of the results other shards
# recomputed, so only the keys a shard changed are taken from it (shard files never overwrite one another's)
if [ -f "$SEED" ]; then
  for f in "${files[@]}"; do
    python - "$SEED" "$f" <<'PY'
import json, sys
seed, shard = (json.load(open(p)) for p in sys.argv[1:])
json.dump({k: v for k, v in shard.items() if seed.get(k) != v}, open(sys.argv[2], "w"))
PY
  done
  files=("$SEED" "${files[@]}")
fi
python experiments/latency_predictors/run.py merge "${files[@]}" --results "$OUT/rerun/rerun.json" | tail -1
(cd "$WORK" && tar -czf "$OUT/rerun/logs.tar.gz" ./*.log chains jobs)
echo "merged: $(python -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$OUT/rerun/rerun.json") results"
