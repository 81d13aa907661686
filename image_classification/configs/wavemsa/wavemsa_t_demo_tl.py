# `make demo-tl`: WaveFormer-T trained with token labelling on the built-in digits, with label maps made by the
# `make demo` checkpoint at its own 32 x 32 (a 1 x 1 grid of all 10 class scores: at 64 x 64 that teacher is
# right on 21% of the images only). The demo's recipe and 12-epoch schedule, with the originals' token-labelling
# parts: auxiliary head, MixToken, loss cls 1 + dense 0.5, no Mixup/CutMix. The student sees the images at
# 64 x 64 so that its last stage has 2 x 2 tokens (at 32 x 32 it has one: MixToken would have nothing to mix).
_base_ = 'wavemsa_t_demo.py'
output_dir = 'output/demo-tl'
input_size = 64
token_label = True
token_label_data = 'output/demo-tl/labels'
token_label_size = 2
dense_weight = 0.5
cls_weight = 1.0
