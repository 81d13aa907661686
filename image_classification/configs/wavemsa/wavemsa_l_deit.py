# WaveFormer-L on ImageNet-1k with DeiT's recipe, for users without label maps (see the base file).
_base_ = '../_base_/imagenet_deit.py'
model = 'wavemsa_l'
drop_path = 0.3
clip_grad = 1.0
output_dir = 'checkpoints/wavemsa_l_deit'
