# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# Remeasure the H200 batch-1 archs of a bad stretch (ids 760-999) beside anchor archs (the reference archs and
# every 8th id of 0-759), in two processes one after the other on one GPU, each in its own random order:
#   bash experiments/gpu_run.sh experiments/latency_datasets/plans/anchored.sh [DEST=folder]
# anchored_merge.py rescales each process onto the dataset's level by the anchors and replaces the stretch.
dest=${DEST:-$OUT/anchored}
ids=experiments/latency_datasets/results/h200_b1_anchored/ids.txt
for p in 1 2; do
  python experiments/latency_datasets/measure_gpu.py --fresh --shuffle "$p" --ids "$ids" \
    --devices h200-torch-fp32-b1,h200-torch-fp16-b1 --time-limit 260 --out "$dest/p$p/ofa_mbv3_w1.2" \
    >> "$dest.p$p.log" 2>&1
done
