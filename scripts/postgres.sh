#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: a new cluster in a temporary directory,
# listening on 127.0.0.1 only, on a free port; `stop` ends it and deletes the directory.
#   eval "$(scripts/postgres.sh start)"   sets FAIRPOS_TEST_POSTGRES (the server's address,
#                                         postgres://postgres@127.0.0.1:PORT) and
#                                         FAIRPOS_TEST_PGDATA (its directory)
#   scripts/postgres.sh start --tls       the same, serving TLS only, with a certificate for
#                                         127.0.0.1 from a new CA (made by openssl), whose
#                                         file it sets in FAIRPOS_TEST_POSTGRES_CA
#   scripts/postgres.sh stop              ends the server of FAIRPOS_TEST_PGDATA
# initdb refuses to run as root: as root, the cluster belongs to the `postgres` user (Debian's
# package creates it) and runs under runuser. Debian keeps the server programs out of PATH,
# in /usr/lib/postgresql/VERSION/bin; the newest installed is used.
set -euo pipefail

bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n $dir && -x $dir/initdb ]]; then
    echo "$dir"
  elif command -v initdb >/dev/null; then
    dirname "$(command -v initdb)"
  else
    echo "PostgreSQL's server is not installed (Debian: apt-get install postgresql)" >&2
    exit 1
  fi
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case ${1:-} in
  start)
    bin=$(bindir)
    dir=$(mktemp -d /tmp/fairpos-pg.XXXXXX)
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    # initdb and pg_ctl return to the working directory, which `postgres` may not enter.
    cd /
    failed() { # what went wrong, in its log; nothing left behind
      cat "$1" >&2
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
      rm -rf "$dir"
      exit 1
    }
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
      || failed "$dir/initdb.log"
    # Members of fairpos_password_users log in with a password (tests/postgres_password.rs);
    # everyone else is trusted.
    sed -i '1i host all +fairpos_password_users 127.0.0.1/32 scram-sha-256' "$dir/data/pg_hba.conf"
    options="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200"
    exports="FAIRPOS_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port FAIRPOS_TEST_PGDATA=$dir"
    if [[ ${2:-} == --tls ]]; then
      (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=fairpos test database CA" \
          -keyout ca.key -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout data/server.key \
          -out server.csr
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
          -extfile server.ext -out data/server.crt
        chmod 600 data/server.key
        [[ $(id -u) -eq 0 ]] && chown postgres: data/server.key data/server.crt
        true
      ) >"$dir/openssl.log" 2>&1 || failed "$dir/openssl.log"
      # Every connection over TCP must be TLS.
      sed -i 's/^host /hostssl /' "$dir/data/pg_hba.conf"
      options="$options -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
      exports="$exports FAIRPOS_TEST_POSTGRES_CA=$dir/ca.pem"
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$options" start >/dev/null \
      || failed "$dir/server.log"
    echo "export $exports"
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') for the tests on 127.0.0.1:$port, in $dir" >&2
    ;;
  stop)
    dir=${FAIRPOS_TEST_PGDATA:?FAIRPOS_TEST_PGDATA is not set}
    bin=$(bindir)
    cd /
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/postgres.sh start|stop" >&2
    exit 2
    ;;
esac
