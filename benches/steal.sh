#!/usr/bin/env bash
# Runs a command and then says how much of the machine's CPU time the hypervisor gave to
# other guests while it ran (the `steal` column of /proc/stat). On a shared VM a benchmark
# run with more than a few per cent stolen measured the neighbours, not the code.
# Usage: benches/steal.sh cargo bench --bench classify
set -uo pipefail
jiffies() { awk '/^cpu /{print $9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat; }
read -r steal0 all0 < <(jiffies)
"$@"
status=$?
read -r steal1 all1 < <(jiffies)
awk -v s=$((steal1 - steal0)) -v a=$((all1 - all0)) \
  'BEGIN { if (a < 1) a = 1; printf "steal: %.1f %% of CPU time went to other guests during the run\n", s * 100 / a }' >&2
exit $status
