#!/usr/bin/env bash
# PostgreSQL import benchmark (issue 13): kitting's import of a generated CSV into PostgreSQL against
# psql's \copy of the same file into a table with the indexes kitting keeps on the same columns (unique
# IMEI, unique serial + manufacturer, the serial alone for lookups), each into a fresh database,
# interleaved, in the same run; kitting's peak memory.
#   bench/postgres.sh [ROWS] [RUNS] [sequential|random]   (defaults 200000, 5, sequential)
# Starts a throwaway cluster of its own (.ci/postgres.sh), with fsync on. Files go to bench/out/.
set -euo pipefail
rows=${1:-200000}
runs=${2:-5}
order=${3:-sequential}
cd "$(dirname "$0")/.."
cargo build --release -q --bin kitting
out=bench/out
mkdir -p "$out"
csv="$out/devices-$rows-$order.csv"
[ -f "$csv" ] || python3 bench/gen.py "$rows" 0 "$order" > "$csv"
printf 'max_rows = %s\n[server]\nautostart = false\n' "$rows" > "$out/bench-pg.toml"
PG_FSYNC=on . .ci/postgres.sh
server=$KITTING_TEST_POSTGRES
base=${server%/*}
psql_bin="$pg_dir_bin/psql"
now() { date +%s.%N; }
fresh() { # NAME: a fresh database
  "$psql_bin" -q "$server" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
}
k=() p=() rss=()
for run in $(seq "$runs"); do
  fresh bench_kitting
  # The schema first (the first use of a database creates it), outside the timing.
  target/release/kitting --db "$base/bench_kitting" --config "$out/bench-pg.toml" profiles list >/dev/null
  t0=$(now)
  /usr/bin/time -f "%M" -o "$out/rss-pg" target/release/kitting --db "$base/bench_kitting" \
    --config "$out/bench-pg.toml" import "$csv" --profile Bench --create >/dev/null
  t1=$(now)
  k+=("$(awk "BEGIN { print $t1 - $t0 }")") rss+=("$(cat "$out/rss-pg")")
  fresh bench_psql
  "$psql_bin" -q "$base/bench_psql" -c "CREATE TABLE devices (imei bigint, serial text, manufacturer text,
      asset text, dept text); CREATE UNIQUE INDEX ON devices (imei);
      CREATE UNIQUE INDEX ON devices (upper(serial), upper(manufacturer));
      CREATE INDEX ON devices (upper(btrim(serial))) WHERE serial IS NOT NULL;" >/dev/null
  t0=$(now)
  "$psql_bin" -q "$base/bench_psql" -c "\\copy devices FROM '$csv' WITH (FORMAT csv, HEADER true)" >/dev/null
  t1=$(now)
  p+=("$(awk "BEGIN { print $t1 - $t0 }")")
done
python3 - "$rows" "$order" "${k[*]}" "${p[*]}" "${rss[*]}" <<'PY'
import statistics, sys
rows, order = sys.argv[1], sys.argv[2]
k, p, rss = ([float(x) for x in a.split()] for a in sys.argv[3:6])
km, pm = statistics.median(k), statistics.median(p)
print(f"{rows} rows ({order}), {len(k)} runs each, interleaved:")
print(f"  kitting import into PostgreSQL: median {km:.2f} s ({', '.join(f'{x:.2f}' for x in k)})")
print(f"  psql \\copy, same file, same indexes: median {pm:.2f} s ({', '.join(f'{x:.2f}' for x in p)})")
print(f"  ratio {km/pm:.2f} (target <= 1.5); kitting's peak RSS {max(rss)/1024:.0f} MiB")
PY
