#!/usr/bin/env bash
# bench-cluster.sh [DURATION] — the append figures of the README's cluster
# table: ledger bench at 64 and 256 writers on the embedded server, then on
# a three-node cluster of nats-server (built from the version go.mod pins)
# on this same machine, streams at R3, sync_interval: always. The cluster is
# a throwaway one without TLS or accounts (the bench deletes its streams).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dur=${1:-10s}
work=$(mktemp -d)
trap 'for p in "$work"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; sleep 1; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/nats-server" github.com/nats-io/nats-server/v2 && go build -o "$work/ledger" ./cmd/ledger)
client=(24222 24223 24224) route=(26222 26223 26224) mon=(28222 28223 28224)
for i in 0 1 2; do
  routes=""
  for j in 0 1 2; do [ "$j" = "$i" ] || routes="$routes${routes:+, }nats-route://127.0.0.1:${route[$j]}"; done
  cat > "$work/n$i.conf" <<CONF
server_name: bench$((i+1))
listen: 127.0.0.1:${client[$i]}
http: 127.0.0.1:${mon[$i]}
jetstream { store_dir: "$work/store$i", sync_interval: always }
cluster { name: bench, listen: 127.0.0.1:${route[$i]}, routes: [$routes] }
CONF
  "$work/nats-server" -c "$work/n$i.conf" > "$work/n$i.log" 2>&1 &
  echo $! > "$work/n$i.pid"
done
for p in "${mon[@]}"; do until curl -sf "http://127.0.0.1:$p/healthz" >/dev/null; do sleep 0.5; done; done
echo "== one node: the embedded server"
"$work/ledger" bench --measures appends --clients 64,256 --duration "$dur" --out "$work/single.json"
echo "== three nodes on this machine, R3"
"$work/ledger" bench --measures appends --clients 64,256 --duration "$dur" --out "$work/cluster.json" \
  --nats-url "nats://127.0.0.1:${client[0]},nats://127.0.0.1:${client[1]},nats://127.0.0.1:${client[2]}" --replicas 3
cp "$work/single.json" "$work/cluster.json" "${OUT_DIR:-.}/" 2>/dev/null || true
