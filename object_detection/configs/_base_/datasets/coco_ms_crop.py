# The originals' 3x training pipeline ("augmentation strategy originates from DETR / Sparse RCNN"):
# a horizontal flip (p 0.5), then mmdet 2.x AutoAugment over two policies -> mmdet 3.x RandomChoice,
# each with probability 1/2:
#   a) shorter side one of 480, 512, ..., 800 (step 32), longer side at most `long_edge`;
#   b) shorter side one of 400, 500, 600, a random crop of 384-600 px (height and width), then a).
# `long_edge` is 1333, 1200 for GFL (its original's value). The originals resize with their own CResize
# (sides snapped to multiples of 16), mmdet's Resize here (object_detection/README.md says why).
# The configs' other base (MMDetection's detector config) sets `train_pipeline` too, so the configs take
# these by name: `train_pipeline = _base_.ms_crop_pipeline`.


def __train_pipeline(long_edge, with_mask=False):  # (a leading double underscore stays out of the config)
    multi_scale = [(short, long_edge) for short in range(480, 801, 32)]
    return [
        dict(type='LoadImageFromFile', backend_args=None),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=with_mask),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomChoice', transforms=[
            [dict(type='RandomChoiceResize', scales=multi_scale, keep_ratio=True)],
            [
                dict(type='RandomChoiceResize', scales=[(s, long_edge) for s in (400, 500, 600)],
                     keep_ratio=True),
                dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                     allow_negative_crop=True),
                dict(type='RandomChoiceResize', scales=multi_scale, keep_ratio=True),
            ],
        ]),
        dict(type='PackDetInputs'),
    ]


ms_crop_pipeline = __train_pipeline(1333)  # ATSS, Sparse R-CNN
ms_crop_pipeline_1200 = __train_pipeline(1200)  # GFL
ms_crop_pipeline_masks = __train_pipeline(1333, with_mask=True)  # Cascade Mask R-CNN
