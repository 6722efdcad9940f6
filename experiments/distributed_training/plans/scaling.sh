# Scaling of progressive-shrinking training over the GPUs of one host (issue: 2, 4, 8 H200s).
# Run: bash experiments/gpu_run.sh experiments/distributed_training/plans/scaling.sh [NS="1 2 4 8"] [PARTS="bench train resume"]
# Reads: NS (world sizes, default 1 and every power of two up to the GPU count), PARTS, LIMIT (seconds for
# the whole plan, default 560), RECIPES (bench recipes, default "cifar32 imagenet224").
# Results (in $OUT): scaling.jsonl (one SCALING line per world size and recipe), train_<N>.log and
# train_<N>.json (a real `nasedge train` launch, data loading included), resume.log (a run continued at
# another world size), progress.log.
set -u
T0=$(date +%s); LIMIT=${LIMIT:-560}
GPUS=$(nvidia-smi -L | wc -l)
if [ -z "${NS:-}" ]; then NS=1; n=2; while [ $n -le "$GPUS" ]; do NS="$NS $n"; n=$((n * 2)); done; fi
PARTS=${PARTS:-bench train resume}; RECIPES=${RECIPES:-cifar32 imagenet224}
R=$OUT; mkdir -p "$R"
left() { echo $(( LIMIT - ($(date +%s) - T0) )); }
note "GPUs: $GPUS; world sizes: $NS; parts: $PARTS"
nvidia-smi --query-gpu=index,name,clocks.max.sm,power.limit --format=csv,noheader >> "$R/progress.log"
nvidia-smi topo -m >> "$R/progress.log" 2>&1
SUPERNET=nasedge/assets/cifar10_ofa_mbv3/supernet.pt
recipe_args() {
  case $1 in
    cifar32) echo "--per-gpu-batch 512 experiment=cifar10_ofa_finetune train.init_from=$SUPERNET" ;;
    imagenet224) echo "--per-gpu-batch 64 experiment=cifar10_ofa_finetune search_space=ofa_mbv3_w1.2 data.image_size=224 train.init_from=null" ;;
  esac
}

if [[ " $PARTS " == *" bench "* ]]; then
  for recipe in $RECIPES; do
    for n in $NS; do
      [ "$(left)" -gt 70 ] || { note "time is up before bench $recipe N=$n"; break 2; }
      note "bench $recipe N=$n"
      # shellcheck disable=SC2046
      timeout $(( $(left) - 20 )) python3 -m torch.distributed.run --standalone --nproc-per-node="$n" \
        experiments/distributed_training/scaling_bench.py --label $recipe --seeds ${SEEDS:-20} --rounds ${ROUNDS:-3} \
        $(recipe_args $recipe) \
        > "$R/bench_${recipe}_$n.log" 2>&1
      grep -h '^SCALING ' "$R/bench_${recipe}_$n.log" | cut -c9- >> "$R/scaling.jsonl" || tail -5 "$R/bench_${recipe}_$n.log" >> "$R/progress.log"
    done
  done
fi

# a real launch per world size: the elastic phase of the CIFAR recipe with its data pipeline, per-GPU batch 512
TRAIN=(experiment=cifar10_ofa_finetune train.init_from=$SUPERNET train.lr_reference_batch=512
       data.limit_test=1000 train.eval_every_epochs=100)
if [[ " $PARTS " == *" train "* ]]; then
  for n in $NS; do
    [ "$(left)" -gt 80 ] || { note "time is up before train N=$n"; break; }
    note "train N=$n"
    rm -rf runs/scal_$n
    timeout 75 python3 -m torch.distributed.run --standalone --nproc-per-node="$n" -m nasedge train "${TRAIN[@]}" \
      train.batch_size=$((512 * n)) data.limit_train=$((512 * n * 20)) train.out_dir=runs/scal_$n \
      "train.phases=[{name: expand3, epochs: 4, lr: 0.03, warmup_epochs: 0.5, subnets_per_step: 3, kd_weight: 1.0, sandwich: true}]" \
      > "$R/train_$n.log" 2>&1
    cp runs/scal_$n/metrics.json "$R/train_$n.json" 2>/dev/null || tail -5 "$R/train_$n.log" >> "$R/progress.log"
  done
fi

# continue at another world size: A stops at a checkpoint (max_minutes), B resumes it with other N; C is B's N uninterrupted
if [[ " $PARTS " == *" resume "* ]] && [ "$GPUS" -ge 2 ]; then
  A=${RESUME_FROM:-$GPUS}; B=${RESUME_TO:-$((GPUS / 2))}
  RUN=(experiment=cifar10_ofa_finetune train.init_from=$SUPERNET train.batch_size=1024 data.limit_train=51200
       data.limit_test=1000 train.eval_every_epochs=100
       "train.phases=[{name: expand3, epochs: 6, lr: 0.03, warmup_epochs: 0.5, subnets_per_step: 3, kd_weight: 1.0, sandwich: true}]")
  if [ "$(left)" -gt 150 ]; then
    rm -rf runs/resume runs/resume_ref
    note "resume: world size $A, stopped after ${STOP_MINUTES:-0.4} min"
    python3 -m torch.distributed.run --standalone --nproc-per-node="$A" -m nasedge train "${RUN[@]}" train.out_dir=runs/resume \
      train.max_minutes=${STOP_MINUTES:-0.4} > "$R/resume.log" 2>&1
    note "resume: continued at world size $B"
    timeout $(( $(left) / 2 )) python3 -m torch.distributed.run --standalone --nproc-per-node="$B" -m nasedge train "${RUN[@]}" \
      train.out_dir=runs/resume >> "$R/resume.log" 2>&1
    cp runs/resume/metrics.json "$R/resume.json" 2>/dev/null
    note "resume: reference, world size $B uninterrupted"
    timeout $(( $(left) - 5 )) python3 -m torch.distributed.run --standalone --nproc-per-node="$B" -m nasedge train "${RUN[@]}" \
      train.out_dir=runs/resume_ref > "$R/resume_ref.log" 2>&1
    cp runs/resume_ref/metrics.json "$R/resume_ref.json" 2>/dev/null
  else
    note "time is up before the resume runs"
  fi
fi
note "done"
