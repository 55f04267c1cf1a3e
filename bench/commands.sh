#!/usr/bin/env bash
# Single commands on a database of 1,000,000 devices (five profiles of 200,000), each run as a whole
# process, against the same operation with the sqlite3 command-line tool on an equivalent database (a
# devices table with a unique index on IMEI and an index on serial + manufacturer, a profiles table),
# interleaved: device add, device edit, register, device delete, token refresh, profiles list. Twice: each
# command opening the database itself ([server] autostart = false), then each a client of a running
# `kitting serve` (what every command is by default: the first one starts the server).
#   bench/commands.sh [RUNS]     (default 15; files and databases go to bench/out/)
#   bench/commands.sh RUNS postgres   the same commands on PostgreSQL (issue 13) instead: the sled database
#                                     copied by `kitting db copy` into a throwaway cluster (.ci/postgres.sh,
#                                     fsync on), each command connecting to it
#   KITTING=BINARY bench/commands.sh ...   the same with another kitting binary (an older build: the
#                                            before figure; bench/import.sh BASELINE=REV leaves one in bench/out)
# Then the bytes one such change writes (examples/change_bytes, on a scratch copy; this build only).
set -euo pipefail
runs=${1:-15}
store=${2:-sled}
cd "$(dirname "$0")/.."
cargo build --release -q --bin kitting --example change_bytes
kitting=${KITTING:-target/release/kitting}
out=bench/out
mkdir -p "$out"
for k in 0 1 2 3 4; do
  [ -f "$out/p$k.csv" ] || python3 bench/gen.py 200000 $((k * 200000)) > "$out/p$k.csv"
done
printf 'max_rows = 200000\n[server]\nautostart = false\n' > "$out/bench.toml"
printf 'max_rows = 200000\n' > "$out/bench-server.toml"
db="$out/cmd-db" sq="$out/cmd.sqlite"
rm -rf "$db" "$sq"
for k in 0 1 2 3 4; do
  "$kitting" --db "$db" --config "$out/bench.toml" import "$out/p$k.csv" --profile "P$k" --create >/dev/null
done
"$kitting" --db "$db" check
sqlite3 "$sq" "CREATE TABLE dev(imei TEXT, serial TEXT, manufacturer TEXT, asset TEXT, dept TEXT, profile TEXT,
    status TEXT, registered TEXT);
  CREATE UNIQUE INDEX dev_imei ON dev(imei); CREATE INDEX dev_sm ON dev(serial, manufacturer);
  CREATE TABLE profiles(name TEXT PRIMARY KEY, token TEXT, expires TEXT, devices INTEGER);"
for k in 0 1 2 3 4; do
  sqlite3 "$sq" ".import --csv $out/p$k.csv stage" \
    "INSERT INTO dev SELECT \"IMEI\", \"Serial Number\", \"Manufacturer\", \"Asset Tag\", \"Department\", 'P$k',
       'pending', NULL FROM stage; DROP TABLE stage;
     INSERT INTO profiles VALUES('P$k', hex(randomblob(24)), datetime('now', '+7 days'), 200000);"
done
time_commands() {
python3 - "$runs" "$db" "$sq" "$1" "$kitting" "$2" <<'PY'
import statistics, subprocess, sys, time
runs, db, sq, config, binary, label = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def luhn(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)
def kitting(*args):
    return subprocess.run([binary, "--db", db, "--config", config, *args],
                          capture_output=True, text=True)
def sqlite(sql):
    return subprocess.run(["sqlite3", sq, sql], capture_output=True, text=True)
def timed(f):
    t = time.perf_counter(); r = f(); dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed: {r.args}\n{r.stdout}{r.stderr}")
    return dt, r
names = ["devices add", "devices edit", "register", "devices delete", "token refresh", "profiles list"]
k = {n: [] for n in names}; s = {n: [] for n in names}
token = kitting("token", "show", "--profile", "P2").stdout.strip()
for run in range(runs):
    body = ("98%012d" if label == "direct" else "97%012d") % run; imei = body + luhn(body)
    steps = [
        ("devices add", lambda: kitting("devices", "add", "--profile", "P2", "--imei", imei, "--serial", f"BENCH{run}",
                                        "--manufacturer", "Zebra"),
         lambda: sqlite(f"INSERT INTO dev VALUES('{imei}', 'BENCH{run}', 'Zebra', NULL, NULL, 'P2', 'pending', NULL);"
                        "UPDATE profiles SET devices = devices + 1 WHERE name = 'P2';")),
        ("devices edit", lambda: kitting("devices", "edit", "--profile", "P2", "--imei", imei, "--attr", "Asset Tag=B-2"),
         lambda: sqlite(f"UPDATE dev SET asset = 'B-2' WHERE imei = '{imei}' AND profile = 'P2';")),
        ("register", lambda: kitting("register", "--token", token, "--imei", imei),
         lambda: sqlite(f"UPDATE dev SET status = 'registered', registered = datetime('now') WHERE imei = '{imei}' "
                        f"AND profile = (SELECT name FROM profiles WHERE token = '{token}');")),
        ("devices delete", lambda: kitting("devices", "delete", "--profile", "P2", "--imei", imei),
         lambda: sqlite(f"DELETE FROM dev WHERE imei = '{imei}' AND profile = 'P2';"
                        "UPDATE profiles SET devices = devices - 1 WHERE name = 'P2';")),
        ("token refresh", lambda: kitting("token", "refresh", "--profile", "P1", "--days", "7"),
         lambda: sqlite("UPDATE profiles SET token = hex(randomblob(24)), expires = datetime('now', '+7 days') "
                        "WHERE name = 'P1';")),
        ("profiles list", lambda: kitting("profiles", "list"),
         lambda: sqlite("SELECT name, devices, expires FROM profiles ORDER BY name;")),
    ]
    for name, kf, sf in steps:
        k[name].append(timed(kf)[0]); s[name].append(timed(sf)[0])
print(f"{binary} ({label}): single commands on 1,000,000 devices, {runs} runs each, interleaved (medians, whole processes):")
print(f"{'command':<16} {'kitting':>10} {'sqlite3':>10} {'ratio':>7}")
for n in names:
    km, sm = statistics.median(k[n]), statistics.median(s[n])
    print(f"{n:<16} {km*1000:8.1f} ms {sm*1000:8.1f} ms {km/sm:7.2f}")
PY
}
if [ "$store" = postgres ]; then
  PG_FSYNC=on . .ci/postgres.sh
  "$pg_dir_bin/psql" -q "$KITTING_TEST_POSTGRES" -c "DROP DATABASE IF EXISTS bench_commands" \
    -c "CREATE DATABASE bench_commands"
  url="${KITTING_TEST_POSTGRES%/*}/bench_commands"
  t0=$(date +%s.%N)
  "$kitting" --db "$url" --config "$out/bench.toml" db copy --from "$db" --to "$url"
  echo "db copy of 1,000,000 devices into PostgreSQL: $(awk "BEGIN { print $(date +%s.%N) - $t0 }") s"
  db=$url
  time_commands "$out/bench.toml" PostgreSQL
  "$kitting" --db "$db" --config "$out/bench.toml" check
  exit 0
fi
time_commands "$out/bench.toml" direct
"$kitting" --db "$db" --config "$out/bench.toml" check
"$kitting" --db "$db" --config "$out/bench-server.toml" serve 2>/dev/null &
server=$!
while [ ! -S "$db/kitting.sock" ]; do sleep 0.1; done
time_commands "$out/bench-server.toml" "through a running server"
"$kitting" --db "$db" --config "$out/bench-server.toml" check
"$kitting" --db "$db" serve --stop
wait "$server" || true
if [ -z "${KITTING:-}" ]; then
  rm -rf "$out/cmd-scratch" && cp -r "$db" "$out/cmd-scratch"
  ROUNDS=15 target/release/examples/change_bytes "$out/cmd-scratch" P2
fi
