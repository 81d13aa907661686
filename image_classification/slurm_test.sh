#!/usr/bin/env bash
# Test the classifier on a Slurm cluster with srun, one task per GPU (OpenMMLab's script interface):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   image_classification/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [main.py options, e.g. --data-path DIR]
# Each task runs main.py --config CONFIG --eval --resume CHECKPOINT with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR
# and MASTER_PORT taken from srun's variables (tools/slurm_launch.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/../tools/slurm_launch.sh" "${BASH_SOURCE[0]}" main.py "CONFIG CHECKPOINT" "$@"
