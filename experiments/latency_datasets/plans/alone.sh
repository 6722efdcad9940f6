# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# One device that no shipped prior holds, measured alone with `nasedge measure` (the user's command) over the
# 1,010 archs of latency_predictors/data/ofa_mbv3_w1.2 in the order of plans/unseen.sh (the 10 reference archs,
# then the others shuffled with seed 0), pinned to CORES (default 4-7), until LIMIT seconds (default 480). Run it
# again with the CSV in DEST to go on (measure resumes). REPEAT=N then measures the first N archs of the order
# again in a second process, shuffled with seed 1, for at most REPEAT_LIMIT seconds: how far two measurements
# of the same archs agree.
#   bash experiments/gpu_run.sh experiments/latency_datasets/plans/alone.sh \
#       DEVICE=experiments/latency_datasets/devices/gpuhost-ort-t1.yaml [DEST=folder] [LIMIT=480] [REPEAT=N]
dev=${DEVICE:?DEVICE=<device yaml> is needed}
name=$(basename "$dev" .yaml)
dest=${DEST:-$OUT/alone}
limit=${LIMIT:-480}
cores=${CORES:-4-7}
mkdir -p "$dest"
order=$dest/order.jsonl
[ -f "$order" ] || python3 experiments/latency_datasets/unseen_order.py "$order"
# the device tool lends whichever host is free: results of another CPU must not be appended to this device's file
host() { grep -E "^(Model name|CPU\(s\)|L[23] cache):" "$1"; }
lscpu > "$dest/lscpu.now.txt" 2>&1
if [ -f "$dest/lscpu.txt" ] && [ "$(host "$dest/lscpu.txt")" != "$(host "$dest/lscpu.now.txt")" ]; then
  note "alone: this host's CPU is not the one $dest was measured on; not resuming"
  diff <(host "$dest/lscpu.txt") <(host "$dest/lscpu.now.txt")
  exit 3
fi
mv "$dest/lscpu.now.txt" "$dest/lscpu.txt"
uptime > "$dest/uptime.txt" 2>&1
note "alone: measuring $name for ${limit}s on cores $cores into $dest ($(uptime))"
taskset -c "$cores" timeout -s TERM "$limit" python3 -m nasedge.cli measure --device "$dev" \
  --archs "$order" --out "$dest/$name.csv" > "$dest/$name.log" 2>&1
note "$name: $(($(wc -l < "$dest/$name.csv") - 1)) archs; $(tail -c 300 "$dest/$name.log" | tr '\r' '\n' | tail -n 2)"
if [ "${REPEAT:-0}" -gt 0 ]; then
  python3 - "$order" "$dest/repeat.jsonl" "$REPEAT" <<'PY'
import random, sys
lines = open(sys.argv[1]).readlines()[:int(sys.argv[3])]
random.Random(1).shuffle(lines)
open(sys.argv[2], "w").writelines(lines)
PY
  taskset -c "$cores" timeout -s TERM "${REPEAT_LIMIT:-150}" python3 -m nasedge.cli measure --device "$dev" \
    --archs "$dest/repeat.jsonl" --out "$dest/$name.repeat.csv" > "$dest/$name.repeat.log" 2>&1
  note "repeat: $(($(wc -l < "$dest/$name.repeat.csv") - 1)) archs ($(uptime))"
fi
