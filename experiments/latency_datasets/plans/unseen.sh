# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# Two devices that no shipped prior holds, measured side by side with `nasedge measure` (the user's command):
# the host CPU with onnxruntime on 4 threads (cores 4-7) and the GPU (an H100; an H200 is a repeat of
# h200-torch-fp16-b64) at fp16 batch 64 (launching thread on core 15), each over the 1,010 archs of
# latency_predictors/data/ofa_mbv3_w1.2 in one order (the 10 reference archs, then the others shuffled with
# seed 0), until LIMIT seconds (default 480); run it again with the CSVs in DEST to go on (measure resumes):
#   bash experiments/gpu_run.sh experiments/latency_datasets/plans/unseen.sh [DEST=folder] [LIMIT=480]
# experiments/latency_datasets/unseen_dataset.py turns the CSVs into a dataset for nasedge predictor eval.
dest=${DEST:-$OUT/unseen}
limit=${LIMIT:-480}
mkdir -p "$dest"
order=$dest/order.jsonl
[ -f "$order" ] || python3 experiments/latency_datasets/unseen_order.py "$order"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$dest/gpu.txt" 2>&1
lscpu > "$dest/lscpu.txt" 2>&1
note "unseen: measuring for ${limit}s into $dest"
dev=experiments/latency_datasets/devices
taskset -c 0-7 timeout -s TERM "$limit" python3 -m nasedge.cli measure --device "$dev/gpuhost-ort-t4.yaml" \
  --archs "$order" --out "$dest/gpuhost-ort-t4.csv" > "$dest/gpuhost-ort-t4.log" 2>&1 &
# the device tool lends an H100 or an H200: the GPU's config is named after the card it gets
gpu=h100
grep -q H200 "$dest/gpu.txt" && gpu=h200
sed "s/h100/$gpu/g; s/H100/$(echo $gpu | tr a-z A-Z)/g" "$dev/h100-torch-fp16-b64.yaml" > "$dest/$gpu-torch-fp16-b64.yaml"
taskset -c 8-15 timeout -s TERM "$limit" python3 -m nasedge.cli measure --device "$dest/$gpu-torch-fp16-b64.yaml" \
  --archs "$order" --out "$dest/$gpu-torch-fp16-b64.csv" > "$dest/$gpu-torch-fp16-b64.log" 2>&1 &
wait
for d in gpuhost-ort-t4 $gpu-torch-fp16-b64; do
  note "$d: $(($(wc -l < "$dest/$d.csv") - 1)) archs; $(tail -c 300 "$dest/$d.log" | tr '\r' '\n' | tail -n 2)"
done
# REPEAT=N: then N archs of the order again on the GPU, shuffled with seed 1, into <gpu>-torch-fp16-b64.repeat.csv
# (a second process: how far two measurements of the same archs agree), for at most REPEAT_LIMIT seconds
if [ "${REPEAT:-0}" -gt 0 ]; then
  python3 - "$order" "$dest/repeat.jsonl" "$REPEAT" <<'PY'
import random, sys
lines = open(sys.argv[1]).readlines()[:int(sys.argv[3])]
random.Random(1).shuffle(lines)
open(sys.argv[2], "w").writelines(lines)
PY
  taskset -c 8-15 timeout -s TERM "${REPEAT_LIMIT:-150}" python3 -m nasedge.cli measure \
    --device "$dest/$gpu-torch-fp16-b64.yaml" --archs "$dest/repeat.jsonl" --out "$dest/$gpu-torch-fp16-b64.repeat.csv" \
    > "$dest/$gpu-torch-fp16-b64.repeat.log" 2>&1
  note "repeat: $(($(wc -l < "$dest/$gpu-torch-fp16-b64.repeat.csv") - 1)) archs"
fi
