#!/usr/bin/env bash
# Makes a certificate authority for a Replug cluster and a certificate for each node, for tests and
# labs (production: your PKI, with the same key usages). Keys are EC P-256, unencrypted, mode 0600.
#
#   deploy/tls/make-test-ca.sh DIR NODE...      e.g.  deploy/tls/make-test-ca.sh /etc/replug/tls coordinator-1 10.0.0.21
#
# DIR/ca.crt (give it to every node as Replug:Cluster:Tls:Authority; keep DIR/ca.key offline), and
# for each NODE DIR/NODE.crt and DIR/NODE.key (Replug:Cluster:Tls:Certificate and :Key). A NODE that
# is an IP address goes in the certificate as an IP, otherwise as a DNS name; every certificate may
# serve and connect (serverAuth, clientAuth): remoting connects both ways. An existing CA in DIR is
# reused, so nodes can be added later. DAYS (default 365) is how long the node certificates last.
set -euo pipefail
if [ $# -lt 2 ]; then sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
dir=$1; shift
days=${DAYS:-365}
mkdir -p "$dir"
umask 077
if [ ! -f "$dir/ca.key" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key"
  openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 -subj "/CN=Replug cluster CA $(date -u +%Y%m%dT%H%M%SZ)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.crt" 2>/dev/null
fi
for node in "$@"; do
  if [[ $node =~ ^[0-9.]+$ || $node == *:* ]]; then san="IP:$node"; else san="DNS:$node"; fi
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$node.key"
  openssl req -new -key "$dir/$node.key" -subj "/CN=$node" -out "$dir/$node.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$san" > "$dir/$node.ext"
  openssl x509 -req -in "$dir/$node.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -sha256 -days "$days" \
    -extfile "$dir/$node.ext" -out "$dir/$node.crt" 2>/dev/null
  rm -f "$dir/$node.csr" "$dir/$node.ext"
done
chmod 0644 "$dir/ca.crt" "$dir"/*.crt
echo "CA: $dir/ca.crt; nodes: $*"
