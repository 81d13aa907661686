#!/bin/bash
# A/B: end of the third session (9abb372) vs HEAD, training step, alternating, each run both models
# /tmp/s3 is a worktree of the third session's last commit: git worktree add /tmp/s3 9abb372
set -e
PY=/work/main/.venv/bin/python
for i in 1 2 3; do
  (cd /tmp/s3 && PYTHONPATH=/tmp/s3 $PY tools/benchmark.py --models wavemsa_s pvt_v2_b2 --modes train --batch-size 16 --threads 2 --warmup 1 --repeats 3 --out /tmp/ab3/s3_$i > /tmp/ab3/s3_$i.log 2>&1)
  (cd /work/main && $PY tools/benchmark.py --models wavemsa_s pvt_v2_b2 --modes train --batch-size 16 --threads 2 --warmup 1 --repeats 3 --out /tmp/ab3/head_$i > /tmp/ab3/head_$i.log 2>&1)
done
echo done
