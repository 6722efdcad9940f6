# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# Does a fresh process on an idle GPU measure its first archs at the idle clock? The first 50 archs
# (reference archs first) on h200-torch-fp32-b1, without the GPU warm-up, then, after the GPU idled
# for 45 s, with it (measure.gpu_warmup_s, default 0.5 s per session):
#   bash experiments/gpu_run.sh experiments/latency_datasets/plans/warmup_check.sh [DEST=folder]
dest=${DEST:-$OUT/warmup_check}
mkdir -p "$dest"
clocks() { nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,power.draw --format=csv,noheader >> "$dest/clocks.txt"; }
clocks
python experiments/latency_datasets/measure_gpu.py --fresh --limit 50 --devices h200-torch-fp32-b1 \
  --gpu-warmup-s 0 --out "$dest/off/ofa_mbv3_w1.2" > "$dest/off.log" 2>&1
sleep 45
clocks
python experiments/latency_datasets/measure_gpu.py --fresh --limit 50 --devices h200-torch-fp32-b1 \
  --out "$dest/on/ofa_mbv3_w1.2" > "$dest/on.log" 2>&1
clocks
