# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
#   bash experiments/gpu_run.sh experiments/cifar10_ofa/plans/session.sh [LIMIT=seconds] [LAT_LIMIT=seconds]
# One GPU-machine session, run again and again (each call resumes from the machine's disk) until
# runs/results/DONE exists. In order, so that nothing else loads the GPU during latency measurement:
#   1. latency datasets on the H200 device configs (once, time-capped; see experiments/latency_datasets)
#   2. the cifar10_ofa supernet (progressive shrinking), stopping at a checkpoint before the call ends
#   3. top-1 of max, min and 10 random subnets; the accuracy-predictor dataset (2,000 random subnets)
T0=$(date +%s); LIMIT=${LIMIT:-560}
left() { echo $(( LIMIT - ($(date +%s) - T0) )); }
mkdir -p runs/results
if [ ! -f runs/results/latency.log ]; then
  python3 experiments/latency_datasets/measure_gpu.py --out runs/latency/ofa_mbv3_w1.2 \
    --time-limit ${LAT_LIMIT:-300} > runs/results/latency.log 2>&1
  tail -6 runs/results/latency.log
  tar czf $OUT/latency.tgz -C runs latency
fi
budget=$(python3 -c "print(round(max(0.5, ($(left) - 30) / 60), 2))")
if [ ! -f runs/cifar10_ofa/supernet.pt ]; then
  echo "training budget this call: $budget min"
  nasedge train experiment=cifar10_ofa train.max_minutes=$budget >> runs/results/train_supernet.log 2>&1
  grep -v '^\s*$' runs/results/train_supernet.log | grep -E 'top1|stopped|finished|rror' | tail -6 | cut -c1-260
fi
if [ -f runs/cifar10_ofa/supernet_fp16.pt ]; then
  S=runs/cifar10_ofa/supernet_fp16.pt
  cp $S $OUT/
  if [ ! -f runs/results/eval_final.jsonl ]; then
    for a in max min experiments/cifar10_ofa/mid_arch.json random:10; do
      nasedge eval --arch $a --supernet $S data=cifar10 --json seed=100 | grep "^{" >> runs/results/eval_final.tmp || exit 1
    done
    mv runs/results/eval_final.tmp runs/results/eval_final.jsonl
  fi
  python3 -c "import sys,json; [print(json.loads(l)['digest'], json.loads(l)['top1']) for l in open('runs/results/eval_final.jsonl')]"
  t=$(( $(left) - 15 ))
  if [ $t -gt 20 ]; then
    timeout $t nasedge eval --arch random:2000 --supernet $S data=cifar10 seed=1 --amp --batch-size 2500 \
      --out runs/results/acc_dataset.jsonl > /dev/null 2>&1
  fi
  n=$(cat runs/results/acc_dataset.jsonl 2>/dev/null | wc -l); echo "accuracy dataset: $n archs"
  [ "$n" -ge 2000 ] && touch runs/results/DONE
fi
[ -f runs/cifar10_ofa/metrics.json ] && cp runs/cifar10_ofa/metrics.json runs/results/metrics_supernet.json
tar czf $OUT/results.tgz -C runs results
ls -la $OUT
