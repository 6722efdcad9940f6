#!/usr/bin/env bash
# Rerun every `meta` result of results.json (after a change to meta; the ablation's too) as parallel chains,
# each keeping its own results file in DIR (resumable: a chain skips what its file holds), then merge them:
#   bash experiments/latency_predictors/rerun_meta.sh ../shared/datasets/latency/help /tmp/meta-rerun
#   python experiments/latency_predictors/run.py merge /tmp/meta-rerun/*.json
# Chains run side by side on min(nproc, 17) cores, one BLAS thread each; ONLY=REGEX picks chains by name;
# COLUMNS="meta regressor flops" reruns those columns (default: meta); remote_rerun.sh runs them on the GPU host.
set -euo pipefail
H="$1"; DIR="$2"
mkdir -p "$DIR"
cores=$(nproc)  # before OMP_NUM_THREADS=1, which nproc would report
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
OURS=latency_predictors/data/ofa_mbv3_w1.2
CIFAR=latency_predictors/data/ofa_mbv3_cifar
chains=(
  "help-nasbench201|help --data $H/nasbench201"
  "help-fbnet|help --data $H/fbnet"
  "help-ofa|help --data $H/ofa"
  "lodo|lodo --data $H/ofa --target-data $OURS"
  "lodo-more|lodo --data $H/ofa --target-data $OURS --max-shots 40"
  "transfer|transfer --data $CIFAR"
  "transfer-more|transfer --data $CIFAR --max-shots 40"
  "lodo-active|lodo --data $H/ofa --target-data $OURS --active"
  "transfer-active|transfer --data $CIFAR --active"
  "lodo-active-more|lodo --data $H/ofa --target-data $OURS --active --max-shots 40"
  "transfer-active-more|transfer --data $CIFAR --active --max-shots 40"
)
for s in fbnet nasbench201; do
  chains+=("crosstype-$s|crosstype --data $H/$s --seeds 3"
           "crosstype-$s-more|crosstype --data $H/$s --seeds 3 --max-shots 40"
           "typesplit-$s|typesplit --data $H/$s --seeds 3"
           "typesplit-$s-more|typesplit --data $H/$s --seeds 3 --max-shots 40"
           "crosstype-$s-active|crosstype --data $H/$s --seeds 3 --active"
           "crosstype-$s-active-more|crosstype --data $H/$s --seeds 3 --active --max-shots 40")
done
# the ablation's variants are all meta: --columns does not apply to them
chains+=("ablation-fbnet|ablation --data $H/fbnet" "ablation-nasbench201|ablation --data $H/nasbench201"
         "ablation-ofa|ablation --data $H/ofa --target-data $OURS")
chains+=("crosstype-ofa|crosstype --data $H/ofa --target-data $OURS --seeds 3"
         "crosstype-ofa-more|crosstype --data $H/ofa --target-data $OURS --seeds 3 --max-shots 40"
         "crosstype-ofa-active|crosstype --data $H/ofa --target-data $OURS --seeds 3 --active"
         "crosstype-ofa-active-more|crosstype --data $H/ofa --target-data $OURS --seeds 3 --active --max-shots 40")
[ -z "${ONLY:-}" ] || { sel=(); for c in "${chains[@]}"; do [[ "${c%%|*}" =~ $ONLY ]] && sel+=("$c"); done; chains=("${sel[@]}"); }
[ -z "${LIST:-}" ] || { printf '%s\n' "${chains[@]}"; exit 0; }  # LIST=1: print the chains, run nothing
for c in "${chains[@]}"; do printf '%s\n' "$c"; done |
  xargs -P "$(( cores < 17 ? cores : 17 ))" -I{} bash -c '
    name="${1%%|*}"; args="${1#*|}"
    python experiments/latency_predictors/run.py $args --columns $3 --results "$2/$name.json" \
      > "$2/$name.log" 2>&1 && echo "$name: done" || echo "$name: failed (exit $?; $2/$name.log)"' _ {} "$DIR" "${COLUMNS:-meta}"
