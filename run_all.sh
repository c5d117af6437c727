#!/usr/bin/env bash
# Set up .venv (first run only), run a sweep (default: the embedded toy + digits sweep), build the report and,
# for the default sweep, check the regression thresholds.
#   ./run_all.sh [SWEEP.yaml] [--quick] [--jobs N] [--results-dir DIR]
set -euo pipefail
cd "$(dirname "$0")"
source benchmark/setup_venv.sh
results=results
custom_sweep=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --results-dir) results="${args[$((i + 1))]}" ;;
    --quick) custom_sweep=1 ;;
    *.yaml|*.yml) custom_sweep=1 ;;
  esac
done
t0=$(date +%s)
python -m benchmark sweep "$@"
python -m benchmark report --results-dir "$results"
echo
cat "$results/summary.md"
echo
echo "sweep + report: $(( $(date +%s) - t0 )) s. Files: $results/summary.md, $results/summary.csv, $results/report.html,"
echo "$results/runs/*.json, $results/samples/*.png; W&B runs under ./wandb (offline unless WANDB_API_KEY is set)."
if [ "$custom_sweep" = 0 ]; then
  echo
  python -m benchmark check --results-dir "$results"      # exit 1 if a result breaches results/thresholds.yaml
fi
