#!/usr/bin/env bash
# Import benchmark: kitting vs sqlite3 ".import" on the same generated CSV.
#   bench/import.sh [ROWS] [RUNS] [sequential|random]   (defaults 200000, 5, sequential)
#   BASELINE=REV bench/import.sh ...                     also times kitting as built from git revision REV,
#                                                        interleaved with this one (the before/after figure)
# Each tool imports the file RUNS times into a fresh database, in turn; the medians are compared.
# `random` shuffles the rows (IMEIs in random order, where sqlite3's index is slower).
# Prints the medians, the ratio (target: kitting <= 0.25 x sqlite3) and kitting's peak memory.
# Files and databases go to bench/out/.
set -euo pipefail
rows=${1:-200000}
runs=${2:-5}
order=${3:-sequential}
cd "$(dirname "$0")/.."
cargo build --release -q
out=bench/out
mkdir -p "$out"
csv="$out/devices-$rows-$order.csv"
[ -f "$csv" ] || python3 bench/gen.py "$rows" 0 "$order" > "$csv"
echo "max_rows = $rows" > "$out/bench.toml"
base=""
if [ -n "${BASELINE:-}" ]; then
  rev=$(git rev-parse --short "$BASELINE")
  base="$out/kitting-$rev"
  if [ ! -x "$base" ]; then
    rm -rf "$out/worktree-$rev"
    git worktree add -f --detach "$out/worktree-$rev" "$rev" >/dev/null
    (cd "$out/worktree-$rev" && cargo build --release -q --target-dir "../../../target/baseline")
    cp target/baseline/release/kitting "$base"
    git worktree remove --force "$out/worktree-$rev"
  fi
fi
now() { date +%s.%N; }
run_kitting() { # BINARY -> seconds, peak KiB in $out/rss
  rm -rf "$out/db"
  local t0 t1
  t0=$(now)
  /usr/bin/time -f "%M" -o "$out/rss" "$1" --db "$out/db" --config "$out/bench.toml" \
    import "$csv" --profile Bench --create >/dev/null
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
kt=() bt=() st=() rss=()
for _ in $(seq "$runs"); do
  kt+=("$(run_kitting target/release/kitting)")
  rss+=("$(cat "$out/rss")")
  target/release/kitting --db "$out/db" check >/dev/null
  if [ -n "$base" ]; then bt+=("$(run_kitting "$base")"); fi
  rm -f "$out/dev.sqlite"
  sqlite3 "$out/dev.sqlite" "CREATE TABLE dev(imei TEXT, serial TEXT, manufacturer TEXT, asset TEXT, dept TEXT);
    CREATE UNIQUE INDEX dev_imei ON dev(imei); CREATE INDEX dev_sm ON dev(serial, manufacturer);"
  t2=$(now)
  sqlite3 "$out/dev.sqlite" ".import --csv --skip 1 $csv dev"
  t3=$(now)
  st+=("$(echo "$t3 - $t2" | bc -l)")
done
python3 - "$rows" "$order" "${kt[*]}" "${st[*]}" "${rss[*]}" "${bt[*]:-}" "${BASELINE:-}" <<'PY'
import statistics, sys
rows, order = int(sys.argv[1]), sys.argv[2]
k = [float(x) for x in sys.argv[3].split()]
s = [float(x) for x in sys.argv[4].split()]
rss = [int(x) for x in sys.argv[5].split()]
b = [float(x) for x in sys.argv[6].split()] if sys.argv[6].strip() else []
km, sm = statistics.median(k), statistics.median(s)
print(f"rows: {rows:,} ({order}), runs: {len(k)}, interleaved")
print(f"kitting import:  median {km*1000:6.0f} ms  (min {min(k)*1000:.0f}, max {max(k)*1000:.0f}), {rows/km:,.0f} rows/s"
      f", peak RSS {max(rss)/1024:.0f} MiB")
if b:
    bm = statistics.median(b)
    print(f"kitting {sys.argv[7]}: median {bm*1000:6.0f} ms  (min {min(b)*1000:.0f}, max {max(b)*1000:.0f})"
          f"  -> this build / baseline {km/bm:.3f}")
print(f"sqlite3 .import: median {sm*1000:6.0f} ms  (min {min(s)*1000:.0f}, max {max(s)*1000:.0f})")
print(f"ratio kitting/sqlite3 (medians): {km/sm:.3f}  (target <= 0.25)")
PY
