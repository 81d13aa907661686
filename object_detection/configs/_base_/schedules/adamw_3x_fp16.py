# 3x schedule: 36 epochs, lr x0.1 after epochs 27 and 33, 1000-iteration linear warm-up; AdamW lr 1e-4,
# weight decay 0.05 (none on normalisation layers and biases), mixed precision (mmengine's
# AmpOptimWrapper, dynamic loss scale).
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
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
        dict(type='MultiStepLR', begin=0, end=__max_epochs, by_epoch=True, milestones=[27, 33], gamma=0.1),
    ],
    optim_wrapper=dict(
        _delete_=True,  # replaces the detector config's SGD as a whole
        type='AmpOptimWrapper',
        loss_scale='dynamic',
        optimizer=dict(type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05),
        paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0)))
