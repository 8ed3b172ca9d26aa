#!/bin/bash
# make-tls.sh — a throwaway CA and TLS certificates for the test MariaDB server (tests only).
#
# Usage: tests/lib/make-tls.sh DIR
# Writes into DIR (created, mode 0700):
#   ca.pem, ca-key.pem             the test CA
#   server-cert.pem, server-key.pem  server certificate for 127.0.0.1 and localhost (signed by ca)
#   elsewhere-cert.pem, elsewhere-key.pem  signed by ca, for db.elsewhere.invalid only
#   client-cert.pem, client-key.pem  a client certificate (signed by ca)
#   other-ca.pem                   an unrelated CA (a wrong ssl_ca)
# Exit 0, or 1 with openssl's message on stderr.
set -eu
dir=$1
mkdir -p "$dir"
chmod 0700 "$dir"
cd "$dir"
days=2
subj=/O=civisync-test
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days $days -subj "$subj/CN=civisync test CA" \
        -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days $days -subj "$subj/CN=unrelated CA" \
        -keyout other-ca-key.pem -out other-ca.pem 2>/dev/null
# name SAN-LIST: a key and a certificate signed by the test CA.
issue() {
        local name=$1 san=$2
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subj/CN=$name" \
                -keyout "$name-key.pem" -out "$name.csr" 2>/dev/null
        printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$san" >"$name.ext"
        openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
                -days $days -extfile "$name.ext" -out "$name-cert.pem" 2>/dev/null
        rm -f "$name.csr" "$name.ext"
}
issue server "IP:127.0.0.1,DNS:localhost"
issue elsewhere "DNS:db.elsewhere.invalid"
issue client "DNS:civisync-client"
chmod 0600 ./*-key.pem
