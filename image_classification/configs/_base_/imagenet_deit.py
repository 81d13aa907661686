# DeiT's ImageNet-1k recipe, for users without label maps: 300 epochs, Mixup 0.8 / CutMix 1.0, repeated
# augmentation, EMA, evaluation crop 0.875 (main.py's other defaults are DeiT's).
epochs = 300
token_label = False
mixup = 0.8
cutmix = 1.0
repeated_aug = True
train_interpolation = 'bicubic'
model_ema = True
model_ema_decay = 0.99996
crop_pct = 0.875
