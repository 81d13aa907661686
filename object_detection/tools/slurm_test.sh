#!/usr/bin/env bash
# Test on a Slurm cluster with srun, one task per GPU (OpenMMLab's script interface):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   object_detection/tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
exec "$(dirname "${BASH_SOURCE[0]}")/../../tools/slurm_launch.sh" "${BASH_SOURCE[0]}" test.py "CONFIG CHECKPOINT" "$@"
