#!/usr/bin/env bash
# cluster.sh up|down|status|nats|ledgers — the cluster topology of deploy/compose.yaml on
# one machine, without Docker: three nats-server nodes (built from the
# version go.mod pins) over TLS with sync_interval: always, and two ledger
# instances (A on :8081, B on :8082) with R3 streams, sharing one checkpoint
# signing key. State lives in $RUN_DIR (default deploy/run). Then
# deploy/smoke.sh exercises it. "nats" starts the nodes alone (to restore
# a backup into them), "ledgers" the two instances.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
run=${RUN_DIR:-$here/run}
bin=$run/bin

up() { nats_up; ledgers_up; }

nats_up() {
  mkdir -p "$run" "$bin"
  (cd "$root" && go build -o "$bin/nats-server" github.com/nats-io/nats-server/v2 && go build -o "$bin/ledger" ./cmd/ledger)
  "$here/certs.sh" "$run/certs" >/dev/null
  if [ ! -f "$run/secrets.env" ]; then
    umask 077
    { echo "LEDGER_NATS_PASSWORD=$(openssl rand -hex 24)"
      echo "LEDGER_READER_PASSWORD=$(openssl rand -hex 24)"
      echo "LEDGER_SYS_PASSWORD=$(openssl rand -hex 24)"
      echo "LEDGER_ADMIN_TOKEN=lgr_$(openssl rand -hex 20)"; } > "$run/secrets.env"
    umask 022
  fi
  set -a; . "$run/secrets.env"; set +a
  local client=(14222 14223 14224) route=(16222 16223 16224) mon=(18222 18223 18224)
  for i in 0 1 2; do
    local name="nats$((i+1))" routes=""
    for j in 0 1 2; do
      [ "$j" = "$i" ] || routes="$routes${routes:+, }nats-route://127.0.0.1:${route[$j]}"
    done
    if [ -f "$run/$name/pid" ] && kill -0 "$(cat "$run/$name/pid")" 2>/dev/null; then continue; fi
    mkdir -p "$run/$name"
    cp "$here/nats/accounts.conf" "$run/$name/accounts.conf"
    sed -e "s|@NAME@|$name|g" -e "s|@CLIENT_LISTEN@|127.0.0.1:${client[$i]}|" -e "s|@MONITOR_LISTEN@|127.0.0.1:${mon[$i]}|" \
        -e "s|@CLUSTER_LISTEN@|127.0.0.1:${route[$i]}|" -e "s|@ROUTES@|$routes|" -e "s|@CERTS@|$run/certs|g" \
        -e "s|@STORE@|$run/$name/store|" "$here/nats/node.conf.tmpl" > "$run/$name/node.conf"
    setsid nohup "$bin/nats-server" -c "$run/$name/node.conf" > "$run/$name/log" 2>&1 &
    echo $! > "$run/$name/pid"
  done
  # Ready: every node current with the JetStream meta leader.
  # A node that dies (a port taken) or is not ready within a minute fails the start.
  local n=0
  for p in 18222 18223 18224; do
    name=nats$((n += 1))
    for i in $(seq 1 120); do
      curl -sf "http://127.0.0.1:$p/healthz" >/dev/null && break
      if ! kill -0 "$(cat "$run/$name/pid")" 2>/dev/null || [ "$i" = 120 ]; then
        echo "$name did not start:" >&2; tail -5 "$run/$name/log" >&2; exit 1
      fi
      sleep 0.5
    done
  done
  echo "nats: tls://127.0.0.1:14222,14223,14224 (CA $run/certs/ca.pem); monitoring on :18222-18224"
}

ledgers_up() {
  set -a; . "$run/secrets.env"; set +a
  urls="tls://ledger:$LEDGER_NATS_PASSWORD@127.0.0.1:14222,tls://ledger:$LEDGER_NATS_PASSWORD@127.0.0.1:14223,tls://ledger:$LEDGER_NATS_PASSWORD@127.0.0.1:14224"
  printf '%s' "$LEDGER_ADMIN_TOKEN" > "$run/admin.token"
  chmod 600 "$run/admin.token"
  for inst in A B; do
    local port=8081
    [ "$inst" = B ] && port=8082
    mkdir -p "$run/ledger-$inst"
    LEDGER_NATS_URL=$urls LEDGER_NATS_CA=$run/certs/ca.pem LEDGER_REPLICAS=3 LEDGER_INSTANCE=ledger-$inst \
    LEDGER_CHECKPOINT_KEY=$run/checkpoint.key LEDGER_ADMIN_TOKEN_FILE=$run/admin.token \
      setsid nohup "$bin/ledger" serve --data-dir "$run/ledger-$inst" --http-addr "127.0.0.1:$port" > "$run/ledger-$inst/log" 2>&1 &
    echo $! > "$run/ledger-$inst/pid"
    # B starts once A has made the streams and the signing key.
    for _ in $(seq 1 120); do
      curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
      kill -0 "$(cat "$run/ledger-$inst/pid")" 2>/dev/null || { echo "ledger $inst did not start:" >&2; tail -5 "$run/ledger-$inst/log" >&2; exit 1; }
      sleep 0.5
    done
  done
  echo "ledger A: http://127.0.0.1:8081  ledger B: http://127.0.0.1:8082  admin token: $run/admin.token"
}

down() {
  for d in "$run"/ledger-A "$run"/ledger-B "$run"/nats1 "$run"/nats2 "$run"/nats3; do
    [ -f "$d/pid" ] || continue
    kill "$(cat "$d/pid")" 2>/dev/null || true
    while kill -0 "$(cat "$d/pid")" 2>/dev/null; do sleep 0.2; done
    rm -f "$d/pid"
  done
}

status() {
  for d in "$run"/nats1 "$run"/nats2 "$run"/nats3 "$run"/ledger-A "$run"/ledger-B; do
    if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then echo "$(basename "$d"): running"; else echo "$(basename "$d"): stopped"; fi
  done
}

case "${1:-up}" in
  up) up ;;
  nats) nats_up ;;
  ledgers) ledgers_up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: cluster.sh up|down|status|nats|ledgers" >&2; exit 2 ;;
esac
