"""Test a detector with MMDetection 3.x (COCO metrics by pycocotools): one process here, several through
dist_test.sh or slurm_test.sh. The runtime, options and checks are wavemsa/mm/evaluate.py's.

    python object_detection/tools/test.py CONFIG CHECKPOINT [--metrics-json FILE] [--out results.pkl]
        [--show-dir DIR] [--tta] [--data-root DIR] [--cfg-options KEY=VALUE ...]
"""
import sys

from wavemsa.mm.evaluate import run

if __name__ == "__main__":
    sys.exit(run("detection"))
