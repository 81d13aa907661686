"""DeiT-style ImageNet trainer for WaveFormer (``main.py``) built on timm's data, loss and optimiser parts."""
