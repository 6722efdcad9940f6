# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# The CIFAR-10 supernet on a 4-GPU machine in one go, detached from the calling command:
#   setsid bash experiments/gpu_run.sh experiments/cifar10_ofa/plans/x4.sh > runs/x4.log 2>&1 &
# GPU 0: the supernet (experiment=cifar10_ofa, elastic lr 0.10), in bounded invocations of
#        train.max_minutes (as on preemptible GPUs), keeping the supernet after each phase.
# GPU 1: max trained alone (cifar10_scratch), then elastic lr 0.03 from GPU 0's full phase.
# GPU 2: the middle arch trained alone, then the GPU-efficiency measurement.
# GPU 3: min trained alone, then elastic lr 0.06 from GPU 0's full phase.
# Starting from the kept full phase takes exactly the steps a whole run with that elastic lr takes
# (tests/train), so each variant is `nasedge train experiment=cifar10_ofa` with other elastic phases.
# Then: top-1 of max, min, mid and 10 random subnets of each variant; the variant with the best mean
# gets the accuracy-predictor dataset (2,000 random subnets, 500 per GPU). Results in runs/x4/results.
# Environment: PS, SCRATCH (overrides; defaults the real runs), MID (arch file), N_ACC, BOUND (minutes).
[ -n "${DRY:-}" ] || R=${R:-runs/x4}; mkdir -p $R/logs $R/results
PS=${PS:-experiment=cifar10_ofa}; SCRATCH=${SCRATCH:-experiment=cifar10_scratch}; EVAL=${EVAL:-data=cifar10}
MID=${MID:-experiments/cifar10_ofa/mid_arch.json}; N_ACC=${N_ACC:-500}; BOUND=${BOUND:-8}

train_bounded() {  # NAME GPU OVERRIDES...: run until finished, one bounded invocation after another
  local name=$1 gpu=$2 rc; shift 2
  for i in $(seq 1 30); do
    CUDA_VISIBLE_DEVICES=$gpu nasedge train $PS "$@" train.max_minutes=$BOUND >> $R/logs/$name.log 2>&1; rc=$?
    [ $rc -eq 0 ] && { note "$name finished (invocation $i)"; return 0; }
    [ $rc -ne 75 ] && { note "$name FAILED (exit $rc)"; return 1; }
    note "$name stopped at a checkpoint (invocation $i), resuming"
  done
}
scratch() {  # NAME GPU ARCH
  CUDA_VISIBLE_DEVICES=$2 nasedge train $SCRATCH train.arch=$3 train.out_dir=$R/scratch_$1 > $R/logs/scratch_$1.log 2>&1 \
    && note "scratch $1 finished" || note "scratch $1 FAILED"
  cp $R/scratch_$1/metrics.json $R/results/metrics_scratch_$1.json 2>/dev/null
}
fork() {  # NAME GPU LR: elastic phases at LR from GPU 0's full phase
  while [ ! -f $R/A/phases/full.pt ]; do sleep 5; [ -f $R/A.failed ] && return 1; done
  train_bounded $1 $2 train.out_dir=$R/$1 train.init_from=$R/A/phases/full.pt \
    "$(python3 experiments/cifar10_ofa/elastic_phases.py --lr $3 $PS)"
}
note "start"
(train_bounded A 0 train.out_dir=$R/A || touch $R/A.failed) &
(scratch max 1 max; fork C 1 0.03) &
(scratch mid 2 $MID; [ -n "${DRY:-}" ] || CUDA_VISIBLE_DEVICES=2 python3 experiments/cifar10_ofa/throughput.py --warmup 100 --steps 30 \
   --out $R/results/throughput.json > $R/logs/throughput.log 2>&1; note "throughput done") &
(scratch min 3 min; fork B 3 0.06) &
wait

evaluate() {  # NAME GPU
  local s=$R/$1/supernet_fp16.pt
  [ -f $s ] || return 1
  for a in max min $MID random:10; do
    CUDA_VISIBLE_DEVICES=$2 nasedge eval --arch $a --supernet $s $EVAL --json seed=100 2>> $R/logs/eval_$1.log | grep "^{"
  done > $R/results/eval_$1.jsonl
  cp $R/$1/metrics.json $R/results/metrics_$1.json
  note "evaluated $1: $(python3 -c "import json,sys; r=[json.loads(l)['top1'] for l in open(sys.argv[1])]; print(len(r), 'archs, max', r[0], 'min', r[1], 'mean', round(sum(r)/len(r), 2))" $R/results/eval_$1.jsonl)"
}
evaluate A 0 & evaluate B 3 & evaluate C 1 & wait
best=$(python3 - $R/results <<'PY'
import json, sys
from pathlib import Path
means = {}
for f in Path(sys.argv[1]).glob("eval_*.jsonl"):
    rows = [json.loads(l)["top1"] for l in f.read_text().splitlines() if l.strip()]
    if len(rows) >= 3:
        means[f.stem[5:]] = sum(rows) / len(rows)
print(max(means, key=means.get) if means else "")
PY
)
note "best variant by mean top-1 of its evaluated subnets: ${best:-none}"
if [ -n "$best" ]; then
  echo $best > $R/results/best.txt
  for g in 0 1 2 3; do
    CUDA_VISIBLE_DEVICES=$g nasedge eval --arch random:$N_ACC --supernet $R/$best/supernet_fp16.pt $EVAL seed=$((g + 1)) \
      --amp --batch-size 2500 --out $R/results/acc_$g.jsonl > /dev/null 2>> $R/logs/acc.log &
  done
  wait
  cat $R/results/acc_?.jsonl > $R/results/acc_dataset.jsonl
  note "accuracy dataset: $(wc -l < $R/results/acc_dataset.jsonl) subnets of $best"
fi
for v in A B C; do cp $R/$v/supernet_fp16.pt $R/results/supernet_fp16_$v.pt 2>/dev/null; done
cp $R/logs/*.log $R/results/ 2>/dev/null
note "DONE"
touch $R/results/DONE
