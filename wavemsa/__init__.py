"""WaveMSA: wavelet multi-head self-attention and the WaveFormer backbone.

``import wavemsa`` registers the timm models ``wavemsa_t``, ``wavemsa_s``, ``wavemsa_b`` and
``wavemsa_l``.
"""
from .attention import Attention, FrequencyFiner, FrequencyFinerConv, WaveAttention, WaveletBottleneckBooster
from .backbone import WaveFormerBackbone, register_mm_backbone
from .checkpoint import load_state_dict, load_weights
from .wave_conv import WaveConv1x1
from .waveformer import (
    ARCH_SETTINGS,
    RECOMMENDED_DROP_PATH,
    WaveFormer,
    wavemsa_b,
    wavemsa_l,
    wavemsa_s,
    wavemsa_t,
)
from .wavelets import DWT1D, DWT2D, IDWT1D, IDWT2D

__version__ = "0.1.0"

__all__ = [
    "ARCH_SETTINGS", "RECOMMENDED_DROP_PATH", "Attention", "DWT1D", "DWT2D", "FrequencyFiner", "FrequencyFinerConv",
    "IDWT1D", "IDWT2D", "WaveAttention", "WaveConv1x1", "WaveFormer", "WaveFormerBackbone", "WaveletBottleneckBooster",
    "load_state_dict", "load_weights", "register_mm_backbone", "wavemsa_b", "wavemsa_l", "wavemsa_s", "wavemsa_t",
]
