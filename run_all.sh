#!/usr/bin/env bash
# Set up .venv (first run only), run a sweep (default: the embedded toy + digits sweep), build the report and,
# for the default sweep, check the regression thresholds.
#   ./run_all.sh [SWEEP.yaml] [--quick] [--jobs N] [--results-dir DIR | --results-dir=DIR]
# RUN_ALL_DRY_RUN=1 prints the commands it would run (after parsing the arguments) and exits: nothing is set up.
set -euo pipefail
cd "$(dirname "$0")"
results=results
custom_sweep=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --results-dir)
      if (( i + 1 >= ${#args[@]} )); then echo "error: --results-dir needs a directory" >&2; exit 2; fi
      results="${args[$((i + 1))]}" ;;
    --results-dir=*) results="${args[$i]#--results-dir=}" ;;
    --quick) custom_sweep=1 ;;
    *.yaml|*.yml) custom_sweep=1 ;;
  esac
done
if [ "${RUN_ALL_DRY_RUN:-0}" = 1 ]; then
  echo "python -m benchmark sweep $*"
  echo "python -m benchmark report --results-dir $results"
  [ "$custom_sweep" = 0 ] && echo "python -m benchmark check --results-dir $results"
  exit 0
fi
source benchmark/setup_venv.sh
t0=$(date +%s)
python -m benchmark sweep "$@"
python -m benchmark report --results-dir "$results"
echo
# the leaderboard of summary.md (the full tables, with every hyper-parameter, are in the file and report.html):
# table lines as they are, prose folded to the terminal's width
awk '/^## Leaderboard/ {on = 1} on && /^## / && !/^## Leaderboard/ {exit} on' "$results/summary.md" \
  | while IFS= read -r line; do
      if [[ "$line" == "|"* ]]; then printf '%s\n' "$line"; else printf '%s\n' "$line" | fold -s -w "${COLUMNS:-118}"; fi
    done
echo
echo "sweep + report: $(( $(date +%s) - t0 )) s. Files: $results/summary.md (every table), $results/summary.csv,"
echo "$results/report.html, $results/runs/*.json, $results/samples/*.png; W&B runs under ./wandb (offline unless"
echo "WANDB_API_KEY is set)."
if [ "$custom_sweep" = 0 ]; then
  echo
  python -m benchmark check --results-dir "$results"      # exit 1 if a result breaches results/thresholds.yaml
fi
