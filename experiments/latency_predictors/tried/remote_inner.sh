# The inner loop (inner_loop.py) for several variants x benchmarks at once, one process each, PAR in parallel (on
# the 16-core GPU host through the device tool, carrying .carry/help, the HELP data; ~2 min for 5 variants):
#   VARIANTS="base honest" BENCHES="ct-fb lodo help-fb" PAR=16 bash experiments/latency_predictors/tried/remote_inner.sh
# Prints one line per variant and benchmark; the JSON results and logs are tarred into $OUT/inner$TAG.tgz.
set -u
mkdir -p /tmp/ds/latency && ln -sfn "$PWD/.carry/help" /tmp/ds/latency/help
export NASEDGE_DATASETS=/tmp/ds OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 SEEDS=${SEEDS:-1}
W=/tmp/inner; mkdir -p $W; cd $W
for v in $VARIANTS; do for b in $BENCHES; do echo "$v $b"; done; done | \
  xargs -P ${PAR:-16} -L 1 sh -c 'timeout ${LIMIT:-530} python '"$OLDPWD"'/experiments/latency_predictors/tried/inner_loop.py $0 $1 > log_$0_$1_a${ACTIVE:-0}_s${SEEDS}.txt 2>&1'
cat log_*.txt | grep rho | sort -k2,2 -k1,1
tar czf $OUT/inner${TAG:-}.tgz -C $W .
