# A plan for experiments/gpu_run.sh (which sets up the environment and defines nasedge and note).
#   bash experiments/gpu_run.sh experiments/cifar10_ofa/plans/probe.sh
# First GPU call: what the schedule is sized from. Throughput of one progressive-shrinking step vs the
# static max subnet (deterministic kernels on and off), the wall time of a real training epoch
# (data decode included) and of evaluating subnets.
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
python3 experiments/cifar10_ofa/throughput.py --deterministic 1 --out $OUT/throughput_det.json | tail -30
python3 experiments/cifar10_ofa/throughput.py --deterministic 0 --out $OUT/throughput_nondet.json | tail -30
python3 experiments/cifar10_ofa/throughput.py --deterministic 1 --phase kernel --out $OUT/throughput_kernel.json | tail -12
start=$(date +%s)
nasedge train experiment=cifar10_ofa train.out_dir=runs/probe train.max_minutes=1.5 \
  'train.phases.0.epochs=3' 'train.eval_every_epochs=1' 2>&1 | tail -8
echo "probe training wall: $(( $(date +%s) - start )) s"
python3 -c "
from nasedge.spaces import get_space; from nasedge.supernet import build_supernet, save_supernet
save_supernet(build_supernet(get_space('ofa_mbv3_cifar')), 'runs/random_supernet.pt')"
start=$(date +%s.%N)
nasedge eval --arch random:20 --supernet runs/random_supernet.pt data=cifar10 | tail -3
echo "eval 20 archs fp32 wall: $(echo "$(date +%s.%N) - $start" | bc) s"
start=$(date +%s.%N)
nasedge eval --arch random:20 --supernet runs/random_supernet.pt data=cifar10 --amp | tail -3
echo "eval 20 archs bf16 wall: $(echo "$(date +%s.%N) - $start" | bc) s"
