#!/usr/bin/env bash
# Abstention curve of the reader and of the scorer alone on a question set over an index, one
# `groundqa eval` per threshold. Usage: benchmarks/threshold_sweep.sh QUESTIONS.jsonl INDEX_DIR
# (e.g. tests/data/realdocs-dev.jsonl after `groundqa index ../shared/data/realdocs-dev --index /tmp/rd`).
set -euo pipefail
questions=$1 index=$2
gq=${GROUNDQA:-.venv/bin/groundqa}
echo "| answers by | threshold | recall@1 | abstain answerable | abstain unanswerable |"
echo "|---|---:|---:|---:|---:|"
for by in reader scorer; do
  flag=(); thresholds="0.15 0.2 0.24 0.3 0.4"
  if [ "$by" = scorer ]; then flag=(--no-reader); thresholds="0.05 0.1 0.2 0.3 0.4"; fi
  for t in $thresholds; do
    "$gq" eval "$questions" --index "$index" --json --quiet --threshold "$t" "${flag[@]}" 2>/dev/null |
      python3 -c 'import json,sys; m=json.load(sys.stdin)["metrics"]; r="quote_answer_recall@1"
a, u = m["abstain_rate_answerable"], m["abstain_rate_unanswerable"]
print("| %s | %s | %.4f | %.1f%% | %.1f%% |" % (sys.argv[1], sys.argv[2], m[r], 100 * a, 100 * u))' "$by" "$t"
  done
done
