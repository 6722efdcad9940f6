# Sourced at the start of every GPU-machine command: the GPU image has torch but not hydra/omegaconf,
# which travel as wheels in .whl/ (see the device tool's README); nasedge runs from the tree.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || exit 1
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
export NASEDGE_CIFAR10=$PWD/.carry/cifar10-jpeg.npz
nasedge() { python3 -m nasedge.cli "$@"; }
