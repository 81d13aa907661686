"""Parameters and FLOPs of segmentors (backbone + neck + decode head, auxiliary head left out, and the
backbone's share) at an input size, counted by the library's counter (wavemsa/mm/flops.py).

    python semantic_segmentation/tools/get_flops.py CONFIG [CONFIG ...] [--shape H [W]] [--json OUT]  # default 512
"""
import sys

from wavemsa.mm.flops import run

if __name__ == "__main__":
    sys.exit(run("segmentation"))
