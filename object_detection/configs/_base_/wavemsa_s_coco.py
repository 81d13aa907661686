# What every config of ../wavemsa/ shares: the wavemsa_det plug-in, the WaveFormer-S backbone as the
# originals set it up (jack-li123/WaveMSA configs, with YehLi/ImageNetModel's wavevit.py for the backbone
# code the WaveMSA repository does not publish), initialised from an ImageNet-1k checkpoint under
# <repo>/pretrained, and COCO under <repo>/datasets/coco.
# The configs' other base, MMDetection's detector config, sets `model` and `data_root` too, and mmengine
# lets no two bases set the same key, so the configs take these by name:
#     model = dict(backbone=_base_.wavemsa_backbone, neck=...)
#     data_root = _base_.coco_root
custom_imports = dict(imports=['wavemsa_det'], allow_failed_imports=False)

repo_root = '{{ fileDirname }}/../../..'
# ImageNet-1k checkpoint of the classification trainer (classifier ignored). Its non-EMA weights, as the
# originals' Pretrained/convert.py takes checkpoint['state_dict']; EMA: init_cfg.use_ema=True.
pretrained = repo_root + '/pretrained/wavemsa_s_in1k.pth'

wavemsa_backbone = dict(
    _delete_=True,  # replaces the detector config's ResNet-50 as a whole
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

# COCO under <repo>/datasets/coco (train.py/test.py --data-root DIR points elsewhere)
coco_root = repo_root + '/datasets/coco/'

# the originals' DDP setting (their configs: find_unused_parameters = True)
find_unused_parameters = True
