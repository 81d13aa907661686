# WaveFormer-L on ImageNet-1k with DeiT's recipe, for users without label maps: 300 epochs, Mixup 0.8 /
# CutMix 1.0, repeated augmentation, EMA, evaluation crop 0.875 (main.py's other defaults are DeiT's).
model = 'wavemsa_l'
drop_path = 0.3
clip_grad = 1.0
output_dir = 'checkpoints/wavemsa_l_deit'
epochs = 300
token_label = False
mixup = 0.8
cutmix = 1.0
repeated_aug = True
train_interpolation = 'bicubic'
model_ema = True
model_ema_decay = 0.99996
crop_pct = 0.875
