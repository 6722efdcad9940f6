# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
#   bash experiments/gpu_run.sh experiments/cifar10_ofa/plans/train.sh [LIMIT=seconds]
# Idempotent GPU-machine step of the cifar10_ofa experiment: run it again and again (each call
# resumes from checkpoints on the machine's disk) until results/DONE appears in $OUT.
#   1. throughput benchmark (once)
#   2. supernet (progressive shrinking) and three archs trained alone from scratch, in parallel, each
#      stopping cleanly at a checkpoint (train.max_minutes) before the call's time runs out
#   3. once the supernet is trained: top-1 of min, max, 10 random subnets; the accuracy-predictor
#      dataset (2,000 random subnets, appended and resumable)
T0=$(date +%s); LIMIT=${LIMIT:-560}
left() { echo $(( LIMIT - ($(date +%s) - T0) )); }
mkdir -p runs/results
if [ ! -f runs/results/throughput.json ]; then
  python3 experiments/cifar10_ofa/throughput.py --warmup 100 --steps 30 --out runs/results/throughput.json \
    > runs/results/throughput.log 2>&1; tail -22 runs/results/throughput.log
fi
budget=$(python3 -c "print(round(max(0.5, ($(left) - 40) / 60), 2))")
echo "training budget this call: $budget min"
if [ ! -f runs/cifar10_ofa/supernet.pt ]; then
  nasedge train experiment=cifar10_ofa train.max_minutes=$budget >> runs/results/train_supernet.log 2>&1 &
fi
for a in min mid max; do
  arch=$a; [ $a = mid ] && arch=experiments/cifar10_ofa/mid_arch.json
  if [ ! -f runs/scratch_$a/model.pt ]; then
    nasedge train experiment=cifar10_scratch train.arch=$arch train.out_dir=runs/scratch_$a \
      train.max_minutes=$budget >> runs/results/train_scratch_$a.log 2>&1 &
  fi
done
wait
for f in runs/results/train_*.log; do echo "== $f"; grep -v '^\s*$' $f | tail -3 | cut -c1-300; done
if [ -f runs/cifar10_ofa/supernet_fp16.pt ]; then
  S=runs/cifar10_ofa/supernet_fp16.pt
  if [ ! -f runs/results/eval_final.jsonl ]; then
    for a in max min random:10; do
      nasedge eval --arch $a --supernet $S data=cifar10 --json seed=100 >> runs/results/eval_final.tmp || exit 1
    done
    mv runs/results/eval_final.tmp runs/results/eval_final.jsonl
  fi
  cat runs/results/eval_final.jsonl | python3 -c "import sys,json; [print(json.loads(l)['digest'], json.loads(l)['top1']) for l in sys.stdin]"
  t=$(( $(left) - 15 ))
  if [ $t -gt 30 ]; then
    timeout $t nasedge eval --arch random:2000 --supernet $S data=cifar10 seed=1 --out runs/results/acc_dataset.jsonl > /dev/null 2>&1
    echo "accuracy dataset: $(wc -l < runs/results/acc_dataset.jsonl) archs"
  fi
  [ "$(wc -l < runs/results/acc_dataset.jsonl)" -ge 2000 ] && touch runs/results/DONE
  cp $S $OUT/
fi
for d in runs/cifar10_ofa runs/scratch_min runs/scratch_mid runs/scratch_max; do
  [ -f $d/metrics.json ] && cp $d/metrics.json runs/results/metrics_$(basename $d).json
done
tar czf $OUT/results.tgz -C runs results
ls -la $OUT
