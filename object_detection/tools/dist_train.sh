#!/usr/bin/env bash
# Distributed training with torchrun, one process per device (gloo on machines without CUDA):
#   object_detection/tools/dist_train.sh CONFIG GPUS [train.py options]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT (as in OpenMMLab's scripts). PYTHON picks the interpreter.
exec "$(dirname "${BASH_SOURCE[0]}")/../../tools/dist_launch.sh" "${BASH_SOURCE[0]}" train.py "CONFIG" "$@"
