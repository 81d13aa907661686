# The originals' 3x schedule: MMDetection 2.x's schedule_1x (linear warm-up over 500 iterations from
# 0.001x, lr x0.1 at the steps) with `lr_config = dict(step=[27, 33])` and 36 epochs; AdamW lr 1e-4,
# betas (0.9, 0.999), weight decay 0.05 except on parameters whose name holds 'norm' (the originals'
# paramwise_cfg custom_keys; the other two keys match no WaveFormer parameter), mixed precision with the
# originals' static loss scale 512 (mmcv's `fp16 = dict(loss_scale=512.)` -> mmengine AmpOptimWrapper).
# The configs' other base, MMDetection's detector config, sets these keys too, and mmengine lets no two
# bases set the same key, so the configs copy them from `adamw_3x_fp16`:
#     max_epochs = _base_.adamw_3x_fp16.max_epochs
#     train_cfg = dict(max_epochs=max_epochs)
#     param_scheduler = _base_.adamw_3x_fp16.param_scheduler
#     optim_wrapper = _base_.adamw_3x_fp16.optim_wrapper
__max_epochs = 36  # (a leading double underscore keeps a name out of the config)
adamw_3x_fp16 = dict(
    max_epochs=__max_epochs,
    param_scheduler=[
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
        dict(type='MultiStepLR', begin=0, end=__max_epochs, by_epoch=True, milestones=[27, 33], gamma=0.1),
    ],
    optim_wrapper=dict(
        _delete_=True,  # replaces the detector config's SGD as a whole
        type='AmpOptimWrapper',
        loss_scale=512.,
        optimizer=dict(type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05),
        paramwise_cfg=dict(custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)})))
