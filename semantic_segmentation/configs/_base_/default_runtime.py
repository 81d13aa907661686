default_scope = 'mmseg'
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # gloo on a machine without CUDA (tools/train.py)
)
# Scalars (losses, lr, mIoU) go to work_dir/<timestamp>/vis_data as JSON and TensorBoard events.
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer', alpha=0.6)
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
tta_model = dict(type='SegTTAModel')
# the checkpoint a runner loads (load_from, resume, test.py's) must hold every weight of the model (a fine-tuning
# config may list scratch_modules=[...], modules a training run starts without); SIGINT / SIGTERM / SIGUSR1 end
# the training iteration under way, save a checkpoint there and exit (--resume continues it exactly)
custom_hooks = [dict(type='CheckpointFitHook'), dict(type='StopOnSignalHook')]
