#!/usr/bin/env bash
# The original's command, kept: object_detection/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
# forwards to object_detection/tools/dist_test.sh (torchrun, gloo on machines without CUDA).
exec "$(dirname "${BASH_SOURCE[0]}")/tools/dist_test.sh" "$@"
