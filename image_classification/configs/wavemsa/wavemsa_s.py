# WaveFormer-S on ImageNet-1k with the originals' recipe (token labelling; see the base file).
# Applied over main.py's defaults; options given on the command line win (e.g. --token-label-data DIR).
_base_ = '../_base_/imagenet_token_label.py'
model = 'wavemsa_s'
drop_path = 0.1
clip_grad = None
output_dir = 'checkpoints/wavemsa_s'
