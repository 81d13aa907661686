# The WaveFormer-S backbone as the originals' detection and segmentation configs set it up (jack-li123/WaveMSA
# configs, with YehLi/ImageNetModel's wavevit.py for the backbone code the WaveMSA repository does not publish):
# one definition for object_detection/configs and semantic_segmentation/configs, which take it as
# `_base_.backbone_wavemsa_s` (the B and L configs override arch, drop path and checkpoint).
# `type='WaveFormer'` is registered by the task's plug-in (wavemsa_det / wavemsa_seg, custom_imports).

# ImageNet-1k checkpoint of image_classification/main.py or of tools/convert_checkpoint.py (classifier ignored),
# under <repo>/pretrained: its non-EMA weights, as the originals' Pretrained/convert.py takes
# checkpoint['state_dict']. EMA weights: model.backbone.init_cfg.use_ema=True; another file:
# model.backbone.init_cfg.checkpoint=PATH (or the tools' --pretrained PATH).
pretrained = '{{ fileDirname }}/../../pretrained/wavemsa_s_in1k.pth'

backbone_wavemsa_s = dict(
    type='WaveFormer',
    arch='s',
    out_indices=(0, 1, 2, 3),
    drop_path_rate=0.1,
    wave_stages=2,  # WaveMSA in stages 1-2; 3 = the published code's stages 1-3 reading
    frozen_stages=-1,
    norm_eval=False,  # BatchNorm statistics keep updating in training, as in the originals
    bn_requires_grad=False,  # BatchNorm scale/shift frozen: the originals build them requires_grad=False
    with_cp=False,
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, use_ema=False))
