"""Train a segmentor with MMSegmentation 1.x: one process here, several through dist_train.sh (torchrun) or
slurm_train.sh (srun). The runtime, options and checks are wavemsa/mm/train.py's (shared with detection).

    python semantic_segmentation/tools/train.py CONFIG [--work-dir DIR] [--pretrained CKPT] [--amp] [--resume [CKPT]]
        [--data-root DIR] [--cfg-options KEY=VALUE ...]
"""
import sys

from wavemsa.mm.train import run

if __name__ == "__main__":
    sys.exit(run("segmentation"))
