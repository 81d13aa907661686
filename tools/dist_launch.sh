#!/usr/bin/env bash
# The torchrun launcher behind {object_detection,semantic_segmentation}/tools/dist_{train,test}.sh: one
# process per device (gloo on machines without CUDA) and `--launcher pytorch` for the entry point. The
# configs' plug-ins (wavemsa_det, wavemsa_seg) are installed packages (`make install`): no path set-up here.
#   tools/dist_launch.sh WRAPPER ENTRY_POINT "ARG NAMES" ARGS...
# WRAPPER is the calling script ("${BASH_SOURCE[0]}"): ENTRY_POINT (train.py, test.py) lies beside it
# and its name heads the usage message. ARGS are the wrapper's: the entry point's positional arguments
# ("ARG NAMES", e.g. "CONFIG CHECKPOINT"), the number of processes, then options for the entry point.
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT (as in MMDetection's / MMSegmentation's scripts).
# PYTHON picks the interpreter. torchrun is wavemsa.torchrun: SIGUSR1 (a scheduler's warning) is passed on to
# the workers like SIGINT / SIGTERM, and an interrupted run ends with the workers' lines and one of the launcher.
set -euo pipefail
WRAPPER=$1
SCRIPT=$(cd "$(dirname "$WRAPPER")" && pwd -P)/$2
read -r -a NAMES <<< "$3"
shift 3
N=${#NAMES[@]}
if [ $# -lt $((N + 1)) ]; then
    echo "usage: $WRAPPER ${NAMES[*]} GPUS [$(basename "$SCRIPT") options]" >&2
    exit 2
fi
GPUS=${*:N+1:1}

exec "${PYTHON:-python}" -m wavemsa.torchrun \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$GPUS" \
    --master_port="${PORT:-29500}" \
    "$SCRIPT" "${@:1:N}" --launcher pytorch "${@:N+2}"
