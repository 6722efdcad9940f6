# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# Run 6b: the shipped supernet (run 4, variant C) fine-tuned by one more elastic phase of 20 epochs
# (every choice elastic, sandwich + 1 random subnet, distillation from its own largest subnet), at three
# learning rates on GPUs 1-3; each evaluated (max, min, mid, 10 random); the variant with the best min
# subnet whose max keeps >= 92 % gets the accuracy dataset (4 x 500 subnets). Results in runs/x6/results.
#   setsid bash experiments/gpu_run.sh experiments/cifar10_ofa/plans/run6b.sh > runs/x6b.log 2>&1 &
R=${R:-runs/x6}; mkdir -p $R/logs $R/results
S=nasedge/assets/cifar10_ofa_mbv3/supernet.pt
MID=experiments/cifar10_ofa/mid_arch.json
fork() {  # NAME GPU LR
  # the phase of conf/experiment/cifar10_ofa_finetune.yaml at another lr (composes to the config run 6 used)
  CUDA_VISIBLE_DEVICES=$2 nasedge train experiment=cifar10_ofa_finetune train.init_from=$S train.out_dir=$R/$1 \
    train.phases.0.epochs=${EPOCHS:-20} train.phases.0.lr=$3 > $R/logs/train_$1.log 2>&1 && note "$1 finished" || { note "$1 FAILED"; return 1; }
  for a in max min $MID random:10; do
    CUDA_VISIBLE_DEVICES=$2 nasedge eval --arch $a --supernet $R/$1/supernet_fp16.pt data=cifar10 --json seed=100 \
      2>> $R/logs/eval_$1.log | grep "^{"
  done > $R/results/eval_$1.jsonl
  cp $R/$1/metrics.json $R/results/metrics_$1.json
  note "evaluated $1: $(python3 -c "import json,sys; r=[json.loads(l)['top1'] for l in open(sys.argv[1])]; print(len(r), 'archs, max', r[0], 'min', r[1], 'mean', round(sum(r)/len(r), 2))" $R/results/eval_$1.jsonl)"
}
note "start 6b"
fork F03 1 0.03 & fork F01 2 0.01 & fork F05 3 0.05 & wait
best=$(python3 - $R/results <<'PY'
import json, sys
from pathlib import Path
best = None
for f in sorted(Path(sys.argv[1]).glob("eval_F*.jsonl")):
    r = [json.loads(l)["top1"] for l in f.read_text().splitlines() if l.strip()]
    if len(r) >= 2 and r[0] >= 92.0 and (best is None or r[1] > best[1]):
        best = (f.stem[5:], r[1])
print(best[0] if best else "")
PY
)
note "best fork (min subnet, max >= 92): ${best:-none}"
if [ -n "$best" ]; then
  echo $best > $R/results/best.txt
  cp $R/$best/supernet_fp16.pt $R/results/supernet_fp16_$best.pt
  for g in 0 1 2 3; do
    CUDA_VISIBLE_DEVICES=$g nasedge eval --arch random:500 --supernet $R/$best/supernet_fp16.pt data=cifar10 seed=$((g + 1)) \
      --amp --batch-size 2500 --out $R/results/accF_$g.jsonl > /dev/null 2>> $R/logs/accF.log &
  done
  wait
  cat $R/results/accF_?.jsonl > $R/results/acc_dataset_$best.jsonl
  note "accuracy dataset: $(wc -l < $R/results/acc_dataset_$best.jsonl) subnets of $best"
fi
cp $R/logs/*.log $R/results/ 2>/dev/null
note "DONE 6b"
touch $R/results/DONE6b
