# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# The noise ceiling of the accuracy figures: how much a subnet's top-1 moves when only the 2,000 images
# BatchNorm is recalibrated on change (data.recalibration_seed; 0 is the protocol every figure uses).
#   bash experiments/gpu_run.sh experiments/cifar10_ofa/plans/noise.sh     # one GPU, about 3.5 min a seed
# Reads R (results folder, default runs/noise), SEEDS (default "1 2 3"; seed 0 is the run-6 results) and N (random subnets, default 150:
# the first N of accuracy-dataset part 1, seed=1, bf16 as that dataset was made). Analysis, on any machine:
#   python experiments/cifar10_ofa/noise_ceiling.py $R/results
R=${R:-runs/noise}; mkdir -p $R/logs $R/results
S=nasedge/assets/cifar10_ofa_mbv3/supernet.pt
MID=experiments/cifar10_ofa/mid_arch.json; N=${N:-150}
note "start"
for k in ${SEEDS:-1 2 3}; do
  for a in max min $MID; do
    nasedge eval --arch $a --supernet $S data=cifar10 data.recalibration_seed=$k --json 2>> $R/logs/eval.log | grep "^{"
  done > $R/results/fixed_recal$k.jsonl
  nasedge eval --arch random:$N --supernet $S data=cifar10 data.recalibration_seed=$k seed=1 --amp --batch-size 2500 \
    --out $R/results/random_recal$k.jsonl > /dev/null 2>> $R/logs/eval.log && note "recalibration seed $k done"
  cp -r $R/results "$OUT/" 2>/dev/null  # each seed's results come back even if a later one is cut off
done
note "end"
