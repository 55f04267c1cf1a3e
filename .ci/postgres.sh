# Sourced by .ci/run: a throwaway PostgreSQL cluster of its own for the PostgreSQL tests (issue 13).
# Installs PostgreSQL from Debian's packages when it is missing, runs initdb in a temporary directory,
# listens on a loopback port with TLS (a certificate authority of its own), exports KITTING_TEST_POSTGRES (and _REQUIRED, so that the tests fail
# rather than skip), and stops the cluster and removes it on exit.
pg_bin() {
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}
if ! pg_bin >/dev/null || ! command -v openssl >/dev/null; then
  echo "ci: installing PostgreSQL (and openssl, for its test certificates) from Debian's packages"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql openssl >/dev/null
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
# TLS for the sslmode tests: a certificate authority of its own, and a server certificate it signed for
# "localhost" only (so that verify-full to 127.0.0.1 is refused by name, and verify-ca accepts it).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kitting CI CA" \
  -keyout "$pg_tmp/ca.key" -out "$pg_tmp/ca.crt" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$pg_tmp/server.key" \
  -out "$pg_tmp/server.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost\n' > "$pg_tmp/san.ext"
openssl x509 -req -in "$pg_tmp/server.csr" -CA "$pg_tmp/ca.crt" -CAkey "$pg_tmp/ca.key" -CAcreateserial \
  -days 2 -extfile "$pg_tmp/san.ext" -out "$pg_tmp/server.crt" >/dev/null 2>&1
chmod 600 "$pg_tmp/server.key"
if [ "$(id -u)" = 0 ]; then chown postgres "$pg_tmp/server.key" "$pg_tmp/server.crt"; fi
"${pg_as[@]}" "$pg_dir_bin/initdb" -D "$pg_tmp/data" -U postgres --auth=trust -E UTF8 >"$pg_tmp/initdb.log"
# The cluster's own control script (start; stop [fast|immediate]): the tests that restart the server
# mid-import use it too (KITTING_TEST_POSTGRES_CTL).
cat > "$pg_tmp/ctl.sh" <<CTL
#!/bin/sh
case "\$1" in
  start) exec ${pg_as[*]} "$pg_dir_bin/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/server.log" -w \\
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_tmp -c fsync=${PG_FSYNC:-off} -c ssl=on \\
    -c ssl_cert_file=$pg_tmp/server.crt -c ssl_key_file=$pg_tmp/server.key" start >/dev/null ;;
  stop) exec ${pg_as[*]} "$pg_dir_bin/pg_ctl" -D "$pg_tmp/data" -m "\${2:-fast}" -w stop >/dev/null ;;
esac
CTL
chmod 755 "$pg_tmp/ctl.sh"
"$pg_tmp/ctl.sh" start
pg_stop() {
  "$pg_tmp/ctl.sh" stop >/dev/null 2>&1 || true
  rm -rf "$pg_tmp"
}
trap pg_stop EXIT
export KITTING_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pg_port/postgres"
export KITTING_TEST_POSTGRES_REQUIRED=1
export KITTING_TEST_POSTGRES_CA="$pg_tmp/ca.crt"
export KITTING_TEST_POSTGRES_CTL="$pg_tmp/ctl.sh"
echo "ci: PostgreSQL $("$pg_dir_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port for the PostgreSQL tests"
