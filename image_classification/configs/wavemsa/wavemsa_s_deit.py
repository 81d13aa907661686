# WaveFormer-S on ImageNet-1k with DeiT's recipe, for users without label maps (see the base file).
_base_ = '../_base_/imagenet_deit.py'
model = 'wavemsa_s'
drop_path = 0.1
clip_grad = None
output_dir = 'checkpoints/wavemsa_s_deit'
