#!/usr/bin/env bash
# bench/run.sh [ledger bench flags…] — `make bench`: ledger bench with
# PostgreSQL's figures next to the ledger's when the Debian package
# postgresql is installed (a throwaway cluster is started and removed), and
# without them ("skipped") otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d)
chmod 755 "$work"
pg=()
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  (cd "$here/pgpeer" && go build -o "$work/pgpeer" .)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  dsn=$("$here/postgres.sh" start "$work/pg" "$port")
  trap '"$here/postgres.sh" stop "$work/pg"; rm -rf "$work"' EXIT
  pg=(--postgres-peer "$work/pgpeer" --postgres-dsn "$dsn")
  echo "PostgreSQL $(ls -d /usr/lib/postgresql/*/ | sort -V | tail -1 | xargs basename) on :$port (synchronous_commit on)" >&2
else
  trap 'rm -rf "$work"' EXIT
  echo "no PostgreSQL server installed (apt-get install postgresql): its figures are skipped" >&2
fi
cd "$root"
go run ./cmd/ledger bench "${pg[@]}" "$@"
