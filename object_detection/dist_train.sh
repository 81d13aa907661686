#!/usr/bin/env bash
# The original's command, kept: object_detection/dist_train.sh CONFIG GPUS [train.py options]
# forwards to object_detection/tools/dist_train.sh (torchrun, gloo on machines without CUDA).
exec "$(dirname "${BASH_SOURCE[0]}")/tools/dist_train.sh" "$@"
