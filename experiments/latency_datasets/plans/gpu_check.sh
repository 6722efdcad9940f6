# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# Does the machine check (a probe network timed before and after each group, protocol probe_s) make a shared
# host's GPU repeat itself? The lent GPU at fp16 batch 64 (devices/h100-torch-fp16-b64.yaml; named after the
# card the device tool gives), measured alone with `nasedge measure` over the first N archs (default 150) of
# the order of plans/unseen.sh, by four processes in turn, each for at most LIMIT seconds (default 110):
#   1. with the check, archs in the order; 2. without it, in the order;
#   3. with the check, shuffled with seed 1;  4. without it, shuffled with seed 1.
# repeat_agreement.py then compares 3 with 1 and 4 with 2 (two measurements of the same archs, minutes apart).
#   bash experiments/gpu_run.sh experiments/latency_datasets/plans/gpu_check.sh [N=150] [LIMIT=110] [SWAP=1]
# SWAP=1: the processes without the check first in each pair. Only the CSVs and agreement.txt are worth fetching.
dest=${DEST:-$OUT/gpu_check}
n=${N:-150}
limit=${LIMIT:-110}
mkdir -p "$dest"
python3 experiments/latency_datasets/unseen_order.py "$dest/order.jsonl"
head -n "$n" "$dest/order.jsonl" > "$dest/first.jsonl"
python3 - "$dest/first.jsonl" "$dest/shuffled.jsonl" <<'PY'
import random, sys
lines = open(sys.argv[1]).readlines()
random.Random(1).shuffle(lines)
open(sys.argv[2], "w").writelines(lines)
PY
nvidia-smi --query-gpu=name,driver_version,utilization.gpu --format=csv,noheader > "$dest/gpu.txt" 2>&1
gpu=h100
grep -q H200 "$dest/gpu.txt" && gpu=h200
dev=experiments/latency_datasets/devices/h100-torch-fp16-b64.yaml
sed "s/h100/$gpu/g; s/H100/$(echo $gpu | tr a-z A-Z)/g" "$dev" > "$dest/$gpu-torch-fp16-b64.yaml"
# the same device with the machine check: its probe runs where the subnets run, on the GPU
sed "s/name: $gpu-torch-fp16-b64/name: $gpu-torch-fp16-b64-check/; s/    group_size: 25/    group_size: 25\n    probe_s: 0.15\n    probe_tolerance: 0.15\n    probe_wait_s: 20/" \
  "$dest/$gpu-torch-fp16-b64.yaml" > "$dest/$gpu-torch-fp16-b64-check.yaml"
run() {  # device, archs, csv
  note "measuring $1 over $2 for at most ${limit}s ($(uptime | sed 's/.*load/load/'))"
  taskset -c 8-15 timeout -s TERM "$limit" python3 -m nasedge.cli measure --device "$dest/$1.yaml" \
    --archs "$dest/$2" --out "$dest/$3" > "$dest/$3.log" 2>&1
  note "$3: $(($(wc -l < "$dest/$3") - 1)) archs; $(tail -c 200 "$dest/$3.log" | tr '\r' '\n' | tail -n 1)"
}
if [ "${SWAP:-0}" = 1 ]; then  # the same four, each pair's place swapped: time, not the check, would move with it
  run "$gpu-torch-fp16-b64" first.jsonl plain.csv
  run "$gpu-torch-fp16-b64-check" first.jsonl check.csv
  run "$gpu-torch-fp16-b64" shuffled.jsonl plain.repeat.csv
  run "$gpu-torch-fp16-b64-check" shuffled.jsonl check.repeat.csv
else
  run "$gpu-torch-fp16-b64-check" first.jsonl check.csv
  run "$gpu-torch-fp16-b64" first.jsonl plain.csv
  run "$gpu-torch-fp16-b64-check" shuffled.jsonl check.repeat.csv
  run "$gpu-torch-fp16-b64" shuffled.jsonl plain.repeat.csv
fi
rm -f "$dest"/*.rounds.jsonl "$dest/order.jsonl"  # the device tool returns a limited number of files
python3 experiments/latency_datasets/repeat_agreement.py "$dest/check.csv" "$dest/check.repeat.csv" | tee "$dest/agreement.txt"
python3 experiments/latency_datasets/repeat_agreement.py "$dest/plain.csv" "$dest/plain.repeat.csv" | tee -a "$dest/agreement.txt"
