#!/usr/bin/env bash
# Import benchmark: kitting vs sqlite3 ".import" on the same generated CSV.
#   bench/import.sh [ROWS] [RUNS]   (defaults 200000 and 5; files and databases go to bench/out/)
# Each tool imports the file RUNS times into a fresh database; the medians are compared.
# Prints both medians, the ratio (target: kitting <= 0.25 x sqlite3), and kitting's peak memory.
set -euo pipefail
rows=${1:-200000}
runs=${2:-5}
cd "$(dirname "$0")/.."
cargo build --release -q
out=bench/out
mkdir -p "$out"
csv="$out/devices-$rows.csv"
[ -f "$csv" ] || python3 bench/gen.py "$rows" > "$csv"
echo "max_rows = $rows" > "$out/bench.toml"
now() { date +%s.%N; }
kt=() st=() rss=()
for _ in $(seq "$runs"); do
  rm -rf "$out/db"
  t0=$(now)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%M" -o "$out/rss" target/release/kitting --db "$out/db" --config "$out/bench.toml" \
      import "$csv" --profile Bench --create >/dev/null
    rss+=("$(cat "$out/rss")")
  else
    target/release/kitting --db "$out/db" --config "$out/bench.toml" import "$csv" --profile Bench --create >/dev/null
  fi
  t1=$(now)
  kt+=("$(echo "$t1 - $t0" | bc -l)")
  rm -f "$out/dev.sqlite"
  sqlite3 "$out/dev.sqlite" "CREATE TABLE dev(imei TEXT, serial TEXT, manufacturer TEXT, asset TEXT, dept TEXT);
    CREATE UNIQUE INDEX dev_imei ON dev(imei); CREATE INDEX dev_sm ON dev(serial, manufacturer);"
  t2=$(now)
  sqlite3 "$out/dev.sqlite" ".import --csv --skip 1 $csv dev"
  t3=$(now)
  st+=("$(echo "$t3 - $t2" | bc -l)")
done
target/release/kitting --db "$out/db" check
python3 - "$rows" "${kt[*]}" "${st[*]}" "${rss[*]:-}" <<'PY'
import statistics, sys
rows = int(sys.argv[1])
k = [float(x) for x in sys.argv[2].split()]
s = [float(x) for x in sys.argv[3].split()]
rss = [int(x) for x in sys.argv[4].split()] if sys.argv[4].strip() else []
km, sm = statistics.median(k), statistics.median(s)
print(f"rows: {rows:,}, runs: {len(k)}")
print(f"kitting import:  median {km*1000:6.0f} ms  (min {min(k)*1000:.0f}, max {max(k)*1000:.0f}), {rows/km:,.0f} rows/s"
      + (f", peak RSS {max(rss)/1024:.0f} MiB" if rss else ""))
print(f"sqlite3 .import: median {sm*1000:6.0f} ms  (min {min(s)*1000:.0f}, max {max(s)*1000:.0f})")
print(f"ratio kitting/sqlite3 (medians): {km/sm:.3f}  (target <= 0.25)")
PY
