#!/usr/bin/env bash
# DEP import benchmark (issue 14): kitting's `dep import` of a generated users-and-devices file into a
# fresh database against sqlite3's `.import` of the same file into a table with a unique index on
# Identifier, interleaved; kitting's peak memory; then an all-rejected file of the same size.
#   bench/dep.sh [RECORDS] [RUNS]   (defaults 200000, 3). Files go to bench/out/.
set -euo pipefail
n=${1:-200000}
runs=${2:-3}
cd "$(dirname "$0")/.."
cargo build --release -q --bin kitting
out=bench/out
mkdir -p "$out"
csv="$out/dep-$n.csv"
bad="$out/dep-$n-rejected.csv"
python3 - "$n" "$csv" "$bad" <<'PY'
import sys
n, good, bad = int(sys.argv[1]), sys.argv[2], sys.argv[3]
head = "UserName,Name,EmailAddress,Identifier,OS,Serial,DisplayName,DEPMethod\n"
with open(good, "w") as f:
    f.write(head)
    for i in range(n):
        f.write(f"user{i:06},User {i},u{i}@example.com,D{i:07},ios,SER{i:09},Device {i},Serial\n")
with open(bad, "w") as f:
    f.write(head)
    for i in range(n):
        f.write(f"user{i:06},User {i},u{i}@example.com,D{i:07},palmos,SER{i:09},Device {i},Serial\n")
PY
printf 'max_rows = %s\n[server]\nautostart = false\n' "$n" > "$out/bench-dep.toml"
now() { date +%s.%N; }
k=() s=() rss=()
for run in $(seq "$runs"); do
  rm -rf "$out/dep-db" "$out/dep.sqlite"
  t0=$(now)
  /usr/bin/time -f "%M" -o "$out/rss-dep" target/release/kitting --db "$out/dep-db" --config "$out/bench-dep.toml" \
    dep import "$csv" >/dev/null
  t1=$(now)
  k+=("$(awk "BEGIN { print $t1 - $t0 }")") rss+=("$(tail -1 "$out/rss-dep")")
  sqlite3 "$out/dep.sqlite" "CREATE TABLE dep(username TEXT, name TEXT, email TEXT, identifier TEXT, os TEXT,
    serial TEXT, display TEXT, method TEXT); CREATE UNIQUE INDEX dep_id ON dep(identifier COLLATE NOCASE);"
  t0=$(now)
  sqlite3 "$out/dep.sqlite" ".mode csv" ".import --skip 1 $csv dep"
  t1=$(now)
  s+=("$(awk "BEGIN { print $t1 - $t0 }")")
done
rm -rf "$out/dep-db"
/usr/bin/time -f "%M" -o "$out/rss-dep-bad" target/release/kitting --db "$out/dep-db" --config "$out/bench-dep.toml" \
  dep import "$bad" >/dev/null 2>&1 || true
python3 - "$n" "${k[*]}" "${s[*]}" "${rss[*]}" "$(tail -1 "$out/rss-dep-bad")" <<'PY'
import statistics, sys
n = sys.argv[1]
k, s, rss = ([float(x) for x in a.split()] for a in sys.argv[2:5])
print(f"{n} DEP records, {len(k)} runs each, interleaved:")
print(f"  kitting dep import: median {statistics.median(k):.2f} s ({', '.join(f'{x:.2f}' for x in k)})")
print(f"  sqlite3 .import, unique index on Identifier: median {statistics.median(s):.2f} s")
print(f"  ratio {statistics.median(k)/statistics.median(s):.2f} (target <= 1); peak RSS {max(rss)/1024:.0f} MiB "
      f"(target < 200); all rejected: {float(sys.argv[5])/1024:.0f} MiB")
PY
