"""Test a segmentor with MMSegmentation 1.x (aAcc, mIoU, mAcc): one process here, several through
dist_test.sh or slurm_test.sh. The runtime, options and checks are wavemsa/mm/evaluate.py's.

    python semantic_segmentation/tools/test.py CONFIG CHECKPOINT [--metrics-json FILE] [--out DIR]
        [--show-dir DIR] [--show-interval N] [--tta] [--data-root DIR] [--cfg-options KEY=VALUE ...]
"""
import sys

from wavemsa.mm.evaluate import run

if __name__ == "__main__":
    sys.exit(run("segmentation"))
