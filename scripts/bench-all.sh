#!/usr/bin/env bash
# Runs every benchmark of bench/ one after the other (each side by side with
# its peers, each in labs of its own; about 40 minutes on a 2-core machine),
# then redraws the charts of docs/benchmarks.md from their results.
# Root is needed. Each benchmark runs with its defaults (the figures the
# charts carry); run one alone, with its own flags, to try something.
set -u
cd "$(dirname "$0")/.."
npm run -s build
status=0
for b in run-rm net-ops ports attach-scale dns overlay cluster-scale; do
  echo "=== bench $b ($(date -u +%H:%M:%S))"
  node "dist/bench/$b.js" || { echo "=== bench $b failed"; status=1; }
done
node dist/bench/charts.js || status=1
exit $status
