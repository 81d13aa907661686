#!/usr/bin/env bash
# Train on a Slurm cluster with srun, one task per GPU (OpenMMLab's script interface):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   semantic_segmentation/tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py options]
exec "$(dirname "${BASH_SOURCE[0]}")/../../tools/slurm_launch.sh" "${BASH_SOURCE[0]}" train.py "CONFIG" "$@"
