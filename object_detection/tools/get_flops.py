"""Parameters and FLOPs of detectors (backbone + neck + heads, and the backbone's share) at an input size,
counted by the library's counter (wavemsa/mm/flops.py).

    python object_detection/tools/get_flops.py CONFIG [CONFIG ...] [--shape H W] [--json OUT]   # default 800 1280
"""
import sys

from wavemsa.mm.flops import run

if __name__ == "__main__":
    sys.exit(run("detection"))
