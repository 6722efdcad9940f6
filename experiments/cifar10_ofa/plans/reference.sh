# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
# Where is the accuracy ceiling on this CIFAR-10 copy? Four jobs on a 4-GPU machine, detached:
#   setsid bash experiments/gpu_run.sh experiments/cifar10_ofa/plans/reference.sh > runs/ref.log 2>&1 &
# GPU 0: a CIFAR ResNet-18 (reference_resnet.py), 60 epochs with the supernet's recipe, then 60 epochs
#        with the plain recipe (no label smoothing, no Cutout).
# GPU 1: the largest arch alone for 200 epochs instead of 120 (is the schedule the limit?), bounded runs.
# GPU 2: the largest arch alone, 120 epochs, plain recipe (no label smoothing, no Cutout).
# GPU 3: the largest arch alone, 120 epochs at batch 256 and lr 0.2 (is the batch size the limit?).
# Results in runs/ref/results (JSON per job, logs); a DONE file when everything has finished.
R=${R:-runs/ref}; mkdir -p $R/logs $R/results
static() {  # NAME GPU OVERRIDES...: the largest arch alone, bounded invocations until finished
  local name=$1 gpu=$2 rc; shift 2
  for i in $(seq 1 10); do
    CUDA_VISIBLE_DEVICES=$gpu nasedge train experiment=cifar10_scratch train.arch=max train.out_dir=$R/$name \
      train.max_minutes=8 "$@" >> $R/logs/$name.log 2>&1; rc=$?
    [ $rc -eq 0 ] && break
    [ $rc -ne 75 ] && { note "$name FAILED (exit $rc)"; return 1; }
  done
  cp $R/$name/metrics.json $R/results/metrics_$name.json; note "$name finished: $(tail -c 300 $R/$name/metrics.json | grep -o '"top1_arch": [0-9.]*' | tail -1)"
}
note start
(CUDA_VISIBLE_DEVICES=0 python3 experiments/cifar10_ofa/reference_resnet.py --epochs 60 --out $R/results/resnet18_60.json \
   > $R/logs/resnet18_60.log 2>&1; note "resnet18 60 epochs: $(tail -1 $R/logs/resnet18_60.log)"
 CUDA_VISIBLE_DEVICES=0 python3 experiments/cifar10_ofa/reference_resnet.py --epochs 60 --label-smoothing 0 --cutout 0 \
   --out $R/results/resnet18_60_plain.json > $R/logs/resnet18_60_plain.log 2>&1
 note "resnet18 60 epochs plain: $(tail -1 $R/logs/resnet18_60_plain.log)") &
static max_200ep 1 "train.phases=[{name: static, epochs: 200, lr: 0.4, warmup_epochs: 2}]" &
static max_plain 2 train.label_smoothing=0 data.cutout=0 &
static max_b256 3 train.batch_size=256 "train.phases=[{name: static, epochs: 120, lr: 0.2, warmup_epochs: 2}]" &
wait
note DONE; touch $R/DONE
