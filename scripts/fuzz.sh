#!/usr/bin/env bash
# Fuzzes every fuzz target in the module within one total budget, split
# evenly, so each target gets the same share of fuzzing time whatever the
# others cost.
#
#   FUZZBUDGET  total fuzzing time, a Go duration (default 3m); each of the
#               N targets gets FUZZBUDGET/N, at least 2s
#   FUZZ        only targets whose "pkg.FuzzName" matches this regexp
#   FUZZPROCS   fuzzing workers per target (default: the machine's CPUs)
#   FUZZMINIMIZE  go's -fuzzminimizetime (default 0: off, see below)
#   --list      print the targets and their shares, fuzz nothing
#
# Fair means four things here. Every package's instrumented test binary is
# built first, so compiling is not taken out of a target's share. Targets
# run one after another, never two at once. Minimizing is off: go
# minimizes every input that finds new coverage, for up to 60 s each by
# default, and early in a run nearly every input does, so a short share went
# to minimizing (policies.FuzzParse: 760 execs in 6 s with minimizing,
# 17,573 without); a failing input is still kept, as found. And go's
# -fuzztime clock starts before the baseline run over the seed corpus and
# the cached corpus: a target whose harness is slow can spend its whole
# share there and fuzz nothing, so the report at the end shows, per target, the
# baseline's time, execs and execs/s, and flags a target that fuzzed less
# than half its share or made fewer than 1000 execs as SLOW (its harness
# needs to be faster; the run still passes). Exit status: 1 when a target
# found a failure (go keeps the input under the package's testdata/fuzz),
# else 0.
set -euo pipefail
cd "$(dirname "$0")/.."

budget=${FUZZBUDGET:-3m}
filter=${FUZZ:-.}
procs=${FUZZPROCS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
minimize=${FUZZMINIMIZE:-0}
list=false
[ "${1:-}" = "--list" ] && list=true

# seconds converts a Go duration (90s, 3m, 1h30m, 1m30s) to whole seconds.
seconds() {
  local d=$1 total=0 n unit
  if [[ ! $d =~ ^([0-9]+(h|m|s))+$ ]]; then
    echo "fuzz.sh: FUZZBUDGET=$d: want a duration such as 90s, 3m or 1h30m" >&2
    exit 2
  fi
  while [[ $d =~ ^([0-9]+)(h|m|s)(.*)$ ]]; do
    n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
    case $unit in h) total=$((total + n * 3600)) ;; m) total=$((total + n * 60)) ;; s) total=$((total + n)) ;; esac
  done
  echo "$total"
}

module=$(go list -m)
targets=() # "dir target"
while read -r file; do
  dir=$(dirname "${file#./}")
  for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
    if [[ "$(basename "$dir").$t" =~ $filter ]]; then
      targets+=("$dir $t")
    fi
  done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | sort)
n=${#targets[@]}
if [ "$n" -eq 0 ]; then
  echo "fuzz.sh: no fuzz target matches FUZZ=$filter" >&2
  exit 2
fi
share=$(( $(seconds "$budget") / n ))
share=$(( share < 2 ? 2 : share ))

if $list; then
  for t in "${targets[@]}"; do echo "${t% *} ${t#* } ${share}s"; done
  exit 0
fi

bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT
cache=$(go env GOCACHE)/fuzz
echo "== building $(printf '%s\n' "${targets[@]}" | cut -d' ' -f1 | sort -u | wc -l) test binaries with fuzzing instrumentation"
for dir in $(printf '%s\n' "${targets[@]}" | cut -d' ' -f1 | sort -u); do
  go test -c -fuzz=. -o "$bins/${dir//\//_}.test" "./$dir"
done

echo "== $n targets, ${share}s each (FUZZBUDGET=$budget), $procs workers"
report=() failed=()
for t in "${targets[@]}"; do
  dir=${t% *} name=${t#* }
  log="$bins/$name.log"
  echo "== $dir $name (${share}s)"
  start=$(date +%s)
  rc=0
  (cd "$dir" && "$bins/${dir//\//_}.test" -test.run='^$' -test.fuzz="^${name}\$" \
    -test.fuzztime="${share}s" -test.fuzzminimizetime="$minimize" -test.parallel="$procs" \
    -test.fuzzcachedir="$cache/$module/$dir") 2>&1 | tee "$log" | grep -v '^fuzz: elapsed' || rc=${PIPESTATUS[0]}
  wall=$(( $(date +%s) - start ))
  # The coordinator logs "elapsed: Ns, gathering baseline coverage ..." until
  # it starts fuzzing, then "execs: N (R/sec)" every few seconds.
  baseline=$(grep -o 'elapsed: [0-9]*s, gathering baseline coverage: [0-9]*/[0-9]* completed, now fuzzing' "$log" | grep -o '^elapsed: [0-9]*' | grep -o '[0-9]*$' || true)
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  baseline=${baseline:-$share} execs=${execs:-0}
  fuzzed=$(( wall - baseline ))
  rate=$(( fuzzed > 0 ? execs / fuzzed : 0 ))
  status=ok
  if [ "$rc" -ne 0 ]; then
    status=FAILED
    failed+=("$dir $name")
  elif [ $(( 2 * baseline )) -gt "$share" ] || [ "$execs" -lt 1000 ]; then
    status=SLOW
  fi
  report+=("$(printf '%-22s %-22s %8ss %8s %9s %8s  %s' "$dir" "$name" "$baseline" "$execs" "$rate" "${wall}s" "$status")")
done

echo
printf '%-22s %-22s %9s %8s %9s %8s  %s\n' package target baseline execs execs/s wall status
printf '%s\n' "${report[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
