# Semantic FPN as PVT trains it (neither original repository has a Semantic FPN config; the paper's
# Semantic FPN row compares with PVT-family backbones trained by whai362/PVT
# segmentation/configs/sem_fpn/PVT/fpn_pvt_s_ade20k_40k.py): AdamW lr 2e-4 (= 1e-4 x 2, "8 GPUs instead
# of 4"), weight decay 1e-4 on every parameter, poly decay (power 0.9) to 0 over 40k iterations, no
# warm-up, float32, validation and a checkpoint every 4k (mmseg 1.x's schedule_40k.py below);
# 32 images per step (8 GPUs x 4).
_base_ = 'mmseg::_base_/schedules/schedule_40k.py'
optim_wrapper = dict(
    _delete_=True,  # replaces mmseg's SGD as a whole
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=40000, by_epoch=False)]
# lr for 32 images per step; --cfg-options auto_scale_lr.enable=True scales it to another batch
auto_scale_lr = dict(enable=False, base_batch_size=32)
# mmengine's iteration loop, restoring the random generators a stopped run saved (wavemsa_seg registers it)
train_cfg = dict(type='ResumableIterBasedTrainLoop')
