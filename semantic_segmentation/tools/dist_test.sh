#!/usr/bin/env bash
# Distributed testing with torchrun, one process per device (gloo on machines without CUDA):
#   semantic_segmentation/tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT (as in OpenMMLab's scripts). PYTHON picks the interpreter.
exec "$(dirname "${BASH_SOURCE[0]}")/../../tools/dist_launch.sh" "${BASH_SOURCE[0]}" test.py "CONFIG CHECKPOINT" "$@"
