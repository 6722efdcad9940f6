# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# Independent repeats of the H200 batch-1 configs: one measuring process per GPU, each over all 1,010 archs
# in its own random order, on its own cores; compare_repeats.py compares them (at batch 1 on one host they
# disagree by 9-14 %, so they were not merged into the dataset: README, "Four measuring processes").
#   setsid bash experiments/gpu_run.sh experiments/latency_datasets/plans/repeats.sh [DEST=folder] [LIMIT=seconds]
# Writes DEST/p<gpu>/ofa_mbv3_w1.2/measurements/ and DEST/p<gpu>.log; resumable (run it again).
dest=${DEST:-$OUT/repeats}
limit=${LIMIT:-560}
devices=${DEVICES:-h200-torch-fp32-b1,h200-torch-fp16-b1}
n=$(nvidia-smi -L | wc -l)
per=$(( $(nproc) / n ))
mkdir -p "$dest"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv > "$dest/gpus_start.csv"
for g in $(seq 0 $((n - 1))); do
  CUDA_VISIBLE_DEVICES=$g taskset -c $((g * per))-$((g * per + per - 1)) \
    python experiments/latency_datasets/measure_gpu.py --fresh --shuffle "$g" --devices "$devices" \
      --time-limit "$limit" --out "$dest/p$g/ofa_mbv3_w1.2" >> "$dest/p$g.log" 2>&1 &
done
wait
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv > "$dest/gpus_end.csv"
echo done > "$dest/DONE"
