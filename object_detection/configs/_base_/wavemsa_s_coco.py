# What every config of ../wavemsa/ shares: the wavemsa_det plug-in, the WaveFormer-S backbone of
# <repo>/configs/_base_/wavemsa_s_backbone.py (the one the segmentation configs use too) in place of the
# detector config's ResNet-50, COCO under <repo>/datasets/coco read by the plug-in's CheckedCocoDataset, and
# the checkpoint check before a runner loads load_from / resume / test.py's checkpoint.
# The configs' other base, MMDetection's detector config, sets `model`, `data_root` and the dataloaders too, and
# mmengine lets no two bases set the same key, so the configs take these by name:
#     model = dict(backbone=_base_.wavemsa_backbone, neck=...)
#     data_root = _base_.coco_root
#     train_dataloader = dict(dataset=dict(type=_base_.coco_dataset, data_root=data_root))
_base_ = ['../../../configs/_base_/wavemsa_s_backbone.py']
custom_imports = dict(imports=['wavemsa_det'], allow_failed_imports=False)

repo_root = '{{ fileDirname }}/../../..'

# _delete_: replaces the detector config's ResNet-50 as a whole (under its own name: merged into a base key of the
# same name, mmengine would drop the _delete_ flag)
wavemsa_backbone = dict(_delete_=True, **_base_.backbone_wavemsa_s)

# COCO under <repo>/datasets/coco (train.py/test.py --data-root DIR points elsewhere); mmdet's CocoDataset that
# validates the annotation file when it reads it and names an image it cannot decode
coco_root = repo_root + '/datasets/coco/'
coco_dataset = 'CheckedCocoDataset'

# the checkpoint a runner loads must hold every weight of the model (fine-tuning configs may list
# scratch_modules=[...], modules a training run starts without); SIGINT / SIGTERM / SIGUSR1 end the training
# iteration under way, save a checkpoint there and exit (the configs' ResumableEpochBasedTrainLoop continues it
# exactly with --resume)
custom_hooks = [dict(type='CheckpointFitHook'), dict(type='StopOnSignalHook')]

# the originals' DDP setting (their configs: find_unused_parameters = True)
find_unused_parameters = True
