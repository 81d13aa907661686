# The originals' ImageNet-1k recipe, value by value: Wave-ViT's README / train.sh and main.py (YehLi/ImageNetModel
# classification/, which jack-li123/WaveMSA's image_classification/ keeps): 8 GPUs x 128 images, 310 epochs, token
# labelling with the NFNet-F6 top-5 label maps, no Mixup/CutMix, no EMA, evaluation crop 0.96.
# image_classification/README.md lists every value with the file it comes from.
epochs = 310
batch_size = 128  # per GPU
lr = 5e-4  # per 512 images (x 1024 / 512 on 8 GPUs)
lr_base_size = 512
sched = 'cosine'
warmup_epochs = 5
warmup_lr = 1e-6
min_lr = 1e-5
cooldown_epochs = 0  # the originals' 10 cool-down epochs come after epoch 310, which their loop never reaches
weight_decay = 0.05
opt = 'adamw'
token_label = True
token_label_size = 7
token_label_data = 'datasets/imagenet1k/label_top5_train_nfnet'
dense_weight = 0.5
cls_weight = 1.0
mixup = 0.0
cutmix = 0.0
repeated_aug = False
train_interpolation = 'random'
aa = 'rand-m9-mstd0.5-inc1'
color_jitter = 0.4
reprob = 0.25
smoothing = 0.1
scale = (0.08, 1.0)
hflip = 0.5
crop_pct = 0.96
model_ema = False
