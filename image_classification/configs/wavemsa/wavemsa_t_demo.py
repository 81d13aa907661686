# `make demo`: WaveFormer-T on the built-in digits (datasets/make_classification.py), on the CPU in minutes.
# The DeiT recipe scaled down to a few epochs of a small set: no Mixup/CutMix or repeated augmentation (they
# pay off over hundreds of epochs), no horizontal flip (digits are not mirror-symmetric), mild crops.
model = 'wavemsa_t'
data_path = 'datasets/builtin/digits'
output_dir = 'output/demo'
device = 'cpu'
input_size = 32
batch_size = 32
epochs = 12
lr = 1e-3
lr_base_size = 0  # the lr above is used as given
warmup_epochs = 1
sched_on_updates = True
min_lr = 1e-5
drop_path = 0.05
model_ema = True
model_ema_decay = 0.998
aa = 'rand-m6-mstd0.5-inc1'
mixup = 0.0
cutmix = 0.0
repeated_aug = False
hflip = 0.0
scale = (0.6, 1.0)
crop_pct = 1.0
reprob = 0.1
num_workers = 1
print_freq = 20
