#!/usr/bin/env bash
# The srun launcher behind the slurm_train.sh / slurm_test.sh of the three task folders, with the
# interface of MMDetection's and MMSegmentation's scripts:
#   WRAPPER PARTITION JOB_NAME CONFIG [CHECKPOINT] [entry point options]
#   environment: GPUS (tasks in all, default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (more srun
#   options), PYTHON (the interpreter, default python)
# srun starts GPUS tasks, GPUS_PER_NODE per node, one GPU each. The detection / segmentation entry points get
# `--launcher slurm` (mmengine reads SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NODELIST; on a machine
# without CUDA wavemsa.mm.device sets up gloo from the same variables). The classification trainer reads
# torch.distributed's variables: each task exports RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR (the job's
# first host, `scontrol show hostnames`) and MASTER_PORT (default 29500) from srun's before it starts.
#   tools/slurm_launch.sh WRAPPER ENTRY_POINT "ARG NAMES" ARGS...    (called by the wrappers)
#   tools/slurm_launch.sh --task COMMAND...                           (run by srun in each task)
set -euo pipefail
if [ "${1:-}" = "--task" ]; then
    shift
    if [ -z "${MASTER_ADDR:-}" ]; then
        MASTER_ADDR=$(scontrol show hostnames "${SLURM_STEP_NODELIST:-${SLURM_NODELIST:-}}" 2>/dev/null | head -n 1) \
            || true
    fi
    export RANK=$SLURM_PROCID WORLD_SIZE=$SLURM_NTASKS LOCAL_RANK=${SLURM_LOCALID:-0} \
        MASTER_ADDR=${MASTER_ADDR:-127.0.0.1} MASTER_PORT=${MASTER_PORT:-29500}
    exec "$@"
fi
WRAPPER=$1
DIR=$(cd "$(dirname "$WRAPPER")" && pwd -P)
ENTRY=$2
read -r -a NAMES <<< "$3"
shift 3
N=${#NAMES[@]}
if [ $# -lt $((N + 2)) ]; then
    echo "usage: $WRAPPER PARTITION JOB_NAME ${NAMES[*]} [$ENTRY options]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
shift 2
POSITIONAL=("${@:1:N}")
OPTIONS=("${@:N+1}")
if [ "$ENTRY" = main.py ]; then  # the classification trainer: --config CONFIG [--eval --resume CHECKPOINT]
    COMMAND=("$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/slurm_launch.sh" --task
             "${PYTHON:-python}" -u "$DIR/main.py" --config "${POSITIONAL[0]}")
    [ "$N" -lt 2 ] || COMMAND+=(--eval --resume "${POSITIONAL[1]}")
else
    COMMAND=("${PYTHON:-python}" -u "$DIR/$ENTRY" "${POSITIONAL[@]}" --launcher slurm)
fi
read -r -a SRUN_EXTRA <<< "${SRUN_ARGS:-}"
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
set -x
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="${CPUS_PER_TASK:-5}" \
    --kill-on-bad-exit=1 \
    ${SRUN_EXTRA[@]+"${SRUN_EXTRA[@]}"} \
    "${COMMAND[@]}" ${OPTIONS[@]+"${OPTIONS[@]}"}
