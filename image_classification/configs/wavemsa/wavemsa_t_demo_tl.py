# `make demo-tl`: WaveFormer-T trained with token labelling on the built-in digits, with label maps made by the
# `make demo` checkpoint at its own 32 x 32 (a 1 x 1 grid of all 10 class scores: at 64 x 64 that teacher is
# right on 21% of the images only). The demo's recipe and 12-epoch schedule, with the originals' token-labelling
# parts: auxiliary head, MixToken, loss cls 1 + dense 0.5, no Mixup/CutMix. The student sees the images at
# 64 x 64 so that its last stage has 2 x 2 tokens (at 32 x 32 it has one: MixToken would have nothing to mix).
model = 'wavemsa_t'
data_path = 'datasets/builtin/digits'
output_dir = 'output/demo-tl'
device = 'cpu'
input_size = 64
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
token_label = True
token_label_data = 'output/demo-tl/labels'
token_label_size = 2
dense_weight = 0.5
cls_weight = 1.0
mixup = 0.0
cutmix = 0.0
repeated_aug = False
hflip = 0.0
scale = (0.6, 1.0)
crop_pct = 1.0
reprob = 0.1
num_workers = 1
print_freq = 20
