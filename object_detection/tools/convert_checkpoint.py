"""Classification checkpoint -> backbone weights for the configs (pretrained/wavemsa_<arch>_in1k.pth by default);
see wavemsa/mm/convert.py.

    python object_detection/tools/convert_checkpoint.py SRC.pth [DST.pth] [--ema] [--arch s|b|l]
"""
import sys

from wavemsa.mm.convert import run

if __name__ == "__main__":
    sys.exit(run())
