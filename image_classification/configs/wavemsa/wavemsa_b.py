# WaveFormer-B on ImageNet-1k (DeiT recipe: 300 epochs, AdamW, lr 5e-4 per 512 images, cosine, EMA).
# Applied over main.py's defaults; options given on the command line win.
model = 'wavemsa_b'
drop_path = 0.1
clip_grad = None
output_dir = 'checkpoints/wavemsa_b'
