"""The OpenMMLab runtime shared by ``object_detection/`` and ``semantic_segmentation/``.

``import wavemsa`` does not import this package; its modules import mmengine / mmdet / mmseg when used.

- :mod:`~wavemsa.mm.config`: config loading and the options every entry point shares (``--work-dir``,
  ``--data-root``, ``--cfg-options``, ``--launcher``).
- :mod:`~wavemsa.mm.device`: the GPU configs on a machine without CUDA (SyncBN -> BN, AMP -> float32,
  gloo process groups for torchrun and srun, DDP without device ids).
- :mod:`~wavemsa.mm.checkpoint`: the allow-list that lets ``torch.load(weights_only=True)`` read mmengine
  checkpoints (added by the plug-ins on import) and the check that a checkpoint fits the model, which
  :class:`~wavemsa.mm.checkpoint.CheckpointFitHook` (in every config's ``custom_hooks``) runs before a runner
  loads one.
- :mod:`~wavemsa.mm.stops`: trainings that stop cleanly on SIGINT / SIGTERM / SIGUSR1 and resume exactly
  (:class:`~wavemsa.mm.stops.StopOnSignalHook`, the resumable training loops; in every config, and added by
  :func:`~wavemsa.mm.train.build_runner` to any other).
- :mod:`~wavemsa.mm.data`: what the checked datasets of both plug-ins share (undecodable files named).
- :mod:`~wavemsa.mm.outputs`: ``training_curves.png`` (files written through :mod:`wavemsa.files`).
- :mod:`~wavemsa.mm.flops`: params / FLOPs through :func:`wavemsa.complexity.flop_analysis`.
- :mod:`~wavemsa.mm.train`, :mod:`~wavemsa.mm.evaluate`, :mod:`~wavemsa.mm.convert`: the entry points behind
  ``tools/train.py``, ``tools/test.py``, ``tools/convert_checkpoint.py`` of both folders.
- :mod:`~wavemsa.mm.plugin`: what importing a plug-in does; :mod:`~wavemsa.mm.task`: what differs between
  the two frameworks, implemented by the plug-ins ``wavemsa_det`` and ``wavemsa_seg``.
"""
