# Fine-tune WaveFormer-S at 384x384 from its 224 checkpoint (--finetune checkpoints/wavemsa_s/best.pth).
# Wave-ViT reports 384 results but publishes no fine-tune recipe; the values are the token-labelling fine-tune
# of LV-ViT's README (zihangJiang/TokenLabeling: -b 64 x 8 GPUs, lr 5e-6 = min-lr, weight decay 1e-8, the 224
# drop path, token labels on the tokens of the 384 grid); its number of epochs is not given there: 30 is ours.
# For B / L: --model wavemsa_b / wavemsa_l and their drop path (0.1 / 0.3, L with --clip-grad 1.0).
_base_ = 'wavemsa_s.py'
input_size = 384
output_dir = 'checkpoints/wavemsa_s_384'
epochs = 30
batch_size = 64  # per GPU, 8 GPUs
lr = 5e-6
min_lr = 5e-6
warmup_epochs = 0
weight_decay = 1e-8
token_label_size = 12  # 384 / 32: WaveFormer's last-stage grid
