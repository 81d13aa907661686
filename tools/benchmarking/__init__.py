"""The parts of ``tools/benchmark.py`` and ``tools/profile_step.py`` (scripts in ``tools/``, which put this folder's
parent on ``sys.path``):

* :mod:`.models`: what to measure (timm names, ``NAME:reference``, ``NAME:nofuse``) and how each spec is built
  and prepared for a mode (fused for inference);
* :mod:`.runners`: the measurement: :class:`~.runners.InferenceBenchmarkRunner` and
  :class:`~.runners.TrainBenchmarkRunner` (one model, one mode, one precision, one input), timed interleaved
  by :func:`~.runners.measure_interleaved`;
* :mod:`.memory`: the peak-memory probe (CPU: resident set of one step in a fresh process) and the allocator
  switch ``--malloc keep``;
* :mod:`.checks`: output comparisons (library vs the published formulation, fused vs unfused, reduced
  precision vs float32, compiled vs eager) and the gradient equivalence check;
* :mod:`.report`: markdown tables and PNG charts of a benchmark run;
* :mod:`.profiling`: per-part and per-kernel time of one step (``torch.profiler``), grouped by model part.
"""
