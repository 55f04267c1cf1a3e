# Sourced by .ci/run: a throwaway PostgreSQL cluster of its own for the PostgreSQL tests (issue 13).
# Installs PostgreSQL from Debian's packages when it is missing, runs initdb in a temporary directory,
# listens on a loopback port, exports KITTING_TEST_POSTGRES (and _REQUIRED, so that the tests fail
# rather than skip), and stops the cluster and removes it on exit.
pg_bin() {
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}
if ! pg_bin >/dev/null; then
  echo "ci: installing PostgreSQL from Debian's packages"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
pg_dir_bin=$(pg_bin)
pg_tmp=$(mktemp -d /tmp/kitting-ci-pg.XXXXXX)
# initdb refuses to run as root: as root, the cluster belongs to the postgres user.
pg_as=()
if [ "$(id -u)" = 0 ]; then
  pg_as=(runuser -u postgres --)
  chown postgres "$pg_tmp"
fi
pg_port=$((20000 + $$ % 20000))
"${pg_as[@]}" "$pg_dir_bin/initdb" -D "$pg_tmp/data" -U postgres --auth=trust -E UTF8 >"$pg_tmp/initdb.log"
"${pg_as[@]}" "$pg_dir_bin/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_tmp -c fsync=${PG_FSYNC:-off}" start >/dev/null
pg_stop() {
  "${pg_as[@]}" "$pg_dir_bin/pg_ctl" -D "$pg_tmp/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$pg_tmp"
}
trap pg_stop EXIT
export KITTING_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pg_port/postgres"
export KITTING_TEST_POSTGRES_REQUIRED=1
echo "ci: PostgreSQL $("$pg_dir_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port for the PostgreSQL tests"
