#!/usr/bin/env bash
# postgres.sh start DIR PORT | stop DIR — a throwaway PostgreSQL cluster for
# `make bench` (the Debian package postgresql: apt-get install postgresql),
# with its defaults: synchronous_commit on, fsync on. Prints the DSN on start.
set -euo pipefail
cmd=${1:?usage: postgres.sh start DIR PORT | stop DIR}
dir=${2:?dir}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "postgres.sh: no PostgreSQL server (apt-get install postgresql)" >&2; exit 3; }
as=()
[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
case "$cmd" in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U bench --auth=trust >/dev/null
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400" -w start >/dev/null
    echo "postgres://bench@127.0.0.1:$port/postgres?sslmode=disable"
    ;;
  stop)
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: postgres.sh start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
