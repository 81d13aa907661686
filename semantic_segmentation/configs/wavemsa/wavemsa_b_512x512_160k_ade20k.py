# UperNet + WaveFormer-B on ADE20K: the S recipe with the B backbone (last stage 512 channels) and drop
# path 0.3, as YehLi/ImageNetModel semantic_segmentation/configs/wavevit/upernet_wavevit_b_512x512_160k_ade20k.py
# (the WaveMSA repository has no B config).
_base_ = './wavemsa_s_512x512_160k_ade20k.py'
model = dict(
    backbone=dict(arch='b', drop_path_rate=0.3,
                  init_cfg=dict(checkpoint='{{ fileDirname }}/../../../pretrained/wavemsa_b_in1k.pth')),
    decode_head=dict(in_channels=[64, 128, 320, 512]),
    auxiliary_head=dict(in_channels=320))
