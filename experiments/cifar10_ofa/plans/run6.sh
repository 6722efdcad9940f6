# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# Run 6 on a 4-GPU machine, detached from the calling command:
#   setsid bash experiments/gpu_run.sh experiments/cifar10_ofa/plans/run6.sh > runs/x6.log 2>&1 &
# BatchNorm recalibration now sees the training augmentation (conf/data: crop_padding, cutout). With it:
# GPU 0: the shipped supernet's max, min, mid and 10 random subnets; the BN-protocol comparison
#        (recalibration_check.py); accuracy-dataset parts 1 and 4.
# GPU 1: max trained alone (experiment=cifar10_scratch, 120 epochs), then its BN-protocol comparison.
# GPU 2: the middle arch trained alone, then accuracy-dataset part 2.
# GPU 3: min trained alone, then accuracy-dataset part 3.
# Accuracy dataset: 4 x 500 random subnets of the shipped supernet (seeds 1-4, as run 4). Results in runs/x6/results.
R=${R:-runs/x6}; mkdir -p $R/logs $R/results
S=nasedge/assets/cifar10_ofa_mbv3/supernet.pt
MID=experiments/cifar10_ofa/mid_arch.json; N_ACC=${N_ACC:-500}
scratch() {  # NAME GPU ARCH
  CUDA_VISIBLE_DEVICES=$2 nasedge train experiment=cifar10_scratch train.arch=$3 train.out_dir=$R/scratch_$1 \
    > $R/logs/scratch_$1.log 2>&1 && note "scratch $1 finished" || note "scratch $1 FAILED"
  cp $R/scratch_$1/metrics.json $R/results/metrics_scratch_$1.json 2>/dev/null
}
acc() {  # GPU SEED
  CUDA_VISIBLE_DEVICES=$1 nasedge eval --arch random:$N_ACC --supernet $S data=cifar10 seed=$2 --amp --batch-size 2500 \
    --out $R/results/acc_$2.jsonl > /dev/null 2>> $R/logs/acc.log && note "accuracy part $2 done"
}
note "start"
(for a in max min $MID random:10; do
   CUDA_VISIBLE_DEVICES=0 nasedge eval --arch $a --supernet $S data=cifar10 --json seed=100 2>> $R/logs/eval.log | grep "^{"
 done > $R/results/eval_shipped.jsonl; note "shipped supernet evaluated"
 CUDA_VISIBLE_DEVICES=0 python3 experiments/cifar10_ofa/recalibration_check.py --supernet $S --arch max --arch min \
   --arch $MID --out $R/results/recalibration_check.jsonl >> $R/logs/recal.log 2>&1
 acc 0 1; acc 0 4) &
(scratch max 1 max; CUDA_VISIBLE_DEVICES=1 python3 experiments/cifar10_ofa/recalibration_check.py \
   --model $R/scratch_max/model.pt --out $R/results/recalibration_check.jsonl >> $R/logs/recal.log 2>&1) &
(scratch mid 2 $MID; acc 2 2) &
(scratch min 3 min; acc 3 3) &
wait
for m in mid min; do
  python3 experiments/cifar10_ofa/recalibration_check.py --model $R/scratch_$m/model.pt \
    --out $R/results/recalibration_check.jsonl >> $R/logs/recal.log 2>&1
done
cat $R/results/acc_?.jsonl > $R/results/acc_dataset.jsonl
note "accuracy dataset: $(wc -l < $R/results/acc_dataset.jsonl) subnets"
cp $R/logs/*.log $R/results/ 2>/dev/null
note "DONE"
touch $R/results/DONE
