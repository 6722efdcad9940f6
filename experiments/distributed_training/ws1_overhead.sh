#!/usr/bin/env bash
# DDP at world size 1 (torchrun --nproc-per-node=1) against the plain path (nasedge train), on one GPU:
# the CIFAR recipe's elastic phase (expand3: 3 subnets per step, sandwich, distillation) started from
# the shipped supernet, launches interleaved plain/DDP/DDP/plain/plain/DDP, each a fresh process.
# Run from a folder holding nasedge/, conf/, search_spaces/, .whl/ (hydra-core, omegaconf, antlr4) and
# cifar10-jpeg.npz (see README.md). Results: $OUT/ws1_summary.json, $OUT/ws1_runs.log.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || exit 1
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore NASEDGE_CIFAR10=$PWD/cifar10-jpeg.npz
OUT=${OUT:-runs/ws1}; mkdir -p "$OUT" runs
T0=$(date +%s); LIMIT=${LIMIT:-410}; NEED=${NEED:-85}   # seconds: the whole script, one launch at most
EPOCHS=${EPOCHS:-5}
ARGS=(experiment=cifar10_ofa_finetune train.init_from=nasedge/assets/cifar10_ofa_mbv3/supernet.pt
      data.limit_train=25600 data.limit_test=2000 train.eval_every_epochs=100
      "train.phases=[{name: expand3, epochs: $EPOCHS, lr: 0.03, warmup_epochs: 0.5, subnets_per_step: 3, kd_weight: 1.0, sandwich: true}]"
      ${EXTRA:-})
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$OUT/ws1_runs.log"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/ws1_runs.log"
i=0
for mode in plain ddp ddp plain plain ddp; do
  i=$((i + 1))
  if [ $(( LIMIT - ($(date +%s) - T0) )) -lt "$NEED" ]; then echo "time is up before launch $i" | tee -a "$OUT/ws1_runs.log"; break; fi
  dir=runs/ws1_${i}_$mode; rm -rf "$dir"
  t=$(date +%s.%N)
  if [ $mode = plain ]; then
    python3 -m nasedge train "${ARGS[@]}" train.out_dir=$dir > $dir.log 2>&1
  else
    python3 -m torch.distributed.run --standalone --nproc-per-node=1 -m nasedge train "${ARGS[@]}" train.out_dir=$dir \
      > $dir.log 2>&1
  fi
  rc=$?
  echo "launch $i $mode rc=$rc wall_s=$(python3 -c "print(round($(date +%s.%N) - $t, 1))")" | tee -a "$OUT/ws1_runs.log"
  grep -h '"phase"' $dir.log | cut -c1-220 >> "$OUT/ws1_runs.log"
  [ $rc = 0 ] || tail -20 $dir.log >> "$OUT/ws1_runs.log"
  echo "$i $mode $dir" >> runs/ws1_launches.txt
done
python3 experiments/distributed_training/ws1_summary.py runs/ws1_launches.txt --skip-epochs 2 | tee "$OUT/ws1_summary.json"
