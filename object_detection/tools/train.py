"""Train a detector with MMDetection 3.x: one process here, several through dist_train.sh (torchrun) or
slurm_train.sh (srun). The runtime, options and checks are wavemsa/mm/train.py's (shared with segmentation).

    python object_detection/tools/train.py CONFIG [--work-dir DIR] [--pretrained CKPT] [--amp] [--resume [CKPT]]
        [--auto-scale-lr] [--data-root DIR] [--cfg-options KEY=VALUE ...] [--no-data-check]
"""
import sys

from wavemsa.mm.train import run

if __name__ == "__main__":
    sys.exit(run("detection"))
