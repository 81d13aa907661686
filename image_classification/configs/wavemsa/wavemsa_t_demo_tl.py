# `make demo-tl`: WaveFormer-T trained with token labelling on the built-in digits, with label maps made by the
# `make demo` checkpoint: the demo's recipe and 12-epoch schedule with the originals' token-labelling parts
# (auxiliary head, MixToken, loss cls 1 + dense 0.5, no Mixup/CutMix), at the demo's 32 x 32. There the last
# stage has one token, so the label maps are 1 x 1 and MixToken has no box to mix (image_classification/README.md
# says why not 64 x 64: the teacher is right on 21% of 64 x 64 images, the student did not leave chance level).
_base_ = 'wavemsa_t_demo.py'
output_dir = 'output/demo-tl'
token_label = True
token_label_data = 'output/demo-tl/labels'
token_label_size = 1
dense_weight = 0.5
cls_weight = 1.0
