#!/usr/bin/env bash
# certs.sh DIR: a CA and a certificate for each NATS node (nats1, nats2,
# nats3), good for serving clients and for the nodes' routes to one another
# (names nats1…3, localhost, 127.0.0.1). For a real installation use your
# organisation's CA; the files are the same: ca.pem, natsN.pem, natsN-key.pem.
set -euo pipefail
dir=${1:?usage: certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey ed25519 -nodes -days 825 -subj "/CN=ledger NATS CA" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
fi
for n in nats1 nats2 nats3; do
  [ -f "$n.pem" ] && continue
  openssl req -newkey ed25519 -nodes -subj "/CN=$n" -keyout "$n-key.pem" -out "$n.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' "$n" > "$n.ext"
  openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 -extfile "$n.ext" -out "$n.pem" 2>/dev/null
  rm -f "$n.csr" "$n.ext"
done
chmod 600 ./*-key.pem
echo "certificates in $dir"
