#!/usr/bin/env bash
# Run an experiment on a GPU machine, from the repository root:
#
#   bash experiments/gpu_run.sh PLAN [NAME=VALUE ...]   # a plan: experiments/<experiment>/plans/<name>.sh
#   bash experiments/gpu_run.sh -- COMMAND [ARG ...]     # one command in the same environment, e.g.
#   bash experiments/gpu_run.sh -- nasedge train experiment=cifar10_ofa train.max_minutes=8
#
# Long plans run detached: `setsid bash experiments/gpu_run.sh PLAN > runs/NAME.log 2>&1 &`.
# NAME=VALUE arguments are exported to the plan (each plan's header names the ones it reads, e.g. R, the
# results folder, or EPOCHS). The environment, the same for every plan:
#   - the tree's nasedge (PYTHONPATH=$PWD; `nasedge` runs `python3 -m nasedge.cli`), unbuffered output;
#   - wheels in .whl/, if any, installed under /tmp/site (a GPU image with torch but without hydra/omegaconf);
#   - NASEDGE_CIFAR10: as set, else .carry/cifar10-jpeg.npz if carried, else $NASEDGE_DATASETS/cifar10-jpeg.npz
#     (NASEDGE_DATASETS: as set, else ../shared/datasets);
#   - OUT: as set (the device tool sets it: files there come back), else runs/out;
#   - note MESSAGE: a time-stamped line on stdout and in $R/results/progress.log (R: as set, else runs/out).
# Every plan is kept with the results it made; each experiment's README gives the command.
set -u
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,16p' "$0"; exit 2; }

if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=$PWD:/tmp/site
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
export NASEDGE_DATASETS=${NASEDGE_DATASETS:-../shared/datasets}
if [ -z "${NASEDGE_CIFAR10:-}" ]; then
  if [ -f .carry/cifar10-jpeg.npz ]; then NASEDGE_CIFAR10=$PWD/.carry/cifar10-jpeg.npz
  else NASEDGE_CIFAR10=$NASEDGE_DATASETS/cifar10-jpeg.npz; fi
fi
export NASEDGE_CIFAR10 OUT=${OUT:-runs/out}
nasedge() { python3 -m nasedge.cli "$@"; }
note() { mkdir -p "${R:-runs/out}/results"; echo "$(date +%T) $*" | tee -a "${R:-runs/out}/results/progress.log"; }

if [ "$1" = "--" ]; then
  shift
  "$@"
  exit $?
fi
plan=$1; shift
[ -f "$plan" ] || { echo "gpu_run.sh: no plan $plan" >&2; exit 2; }
for assignment in "$@"; do
  case $assignment in
    *=*) export "${assignment?}" ;;
    *) echo "gpu_run.sh: expected NAME=VALUE, got '$assignment'" >&2; exit 2 ;;
  esac
done
# shellcheck disable=SC1090
source "$plan"
