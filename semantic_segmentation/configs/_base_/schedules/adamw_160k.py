# The originals' UperNet schedule (jack-li123/WaveMSA semantic_sgemention/configs/wavemsa/
# wavemsa_s_512x512_160k_ade20k.py on mmseg 0.x's schedule_160k.py, which mmseg 1.x's file below
# translates: 160k iterations, validation and a checkpoint every 16k): AdamW lr 6e-5, betas (0.9, 0.999),
# weight decay 0.01 except on parameters whose name holds 'norm' (paramwise_cfg custom_keys; the other
# two keys match no parameter here); poly decay (power 1) to 0 over iterations 0-160000, scaled by a
# linear warm-up from 1e-6 over the first 1500 (mmcv's warm-up multiplies the poly lr, as mmengine does
# when both schedulers run from iteration 0); fp16 with the originals' static loss scale 512
# (Fp16OptimizerHook(loss_scale=512.) -> mmengine AmpOptimWrapper); 16 images per step (8 GPUs x 2).
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'
optim_wrapper = dict(
    _delete_=True,  # replaces mmseg's SGD as a whole
    type='AmpOptimWrapper',
    loss_scale=512.,
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'absolute_pos_embed': dict(decay_mult=0.),
        'relative_position_bias_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=160000, by_epoch=False),
]
# lr for 16 images per step; --cfg-options auto_scale_lr.enable=True scales it to another batch
auto_scale_lr = dict(enable=False, base_batch_size=16)
# mmengine's iteration loop, restoring the random generators a stopped run saved (wavemsa_seg registers it)
train_cfg = dict(type='ResumableIterBasedTrainLoop')
