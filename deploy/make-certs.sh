#!/usr/bin/env bash
# Makes the certificates of a Placement Center cluster with openssl: a CA, one certificate per
# member (for its client, admin HTTP and peer ports) and client certificates.
#
#   deploy/make-certs.sh <out-dir> <spec>...
#
#   member:<id>:<host>[,<host>...]  member-<id>.crt/.key: CN and SAN DNS member-<id> (the peer
#                                   identity a node checks with --peer-client-cert-auth), plus the
#                                   host names / IP addresses the member is dialed at; usable as a
#                                   server and as a client certificate
#   client:<name>                   client-<name>.crt/.key: CN <name> (the caller's name with
#                                   --client-cert-auth); client authentication only
#
# The CA (ca.crt, ca.key) is created on first use and reused after, so members and clients can be
# added later; a leaf that exists is replaced (a rotation: running nodes reload it). Keys are
# written 0600, certificates 0644 (Prometheus, running as another user, reads the CA); every file
# is written under a temporary name and renamed.
# Example (the compose TLS profile runs this):
#   deploy/make-certs.sh certs member:1:pc1,localhost,127.0.0.1 member:2:pc2,localhost,127.0.0.1 client:root
set -euo pipefail

if [ $# -lt 1 ]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
out=$1
shift
days=${CERT_DAYS:-825}
umask 077
mkdir -p "$out"
chmod 755 "$out"
tmp=$(mktemp -d "$out/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Moves $2 to $1 atomically: keys stay 0600, certificates are public.
place() {
  case "$1" in *.key) chmod 600 "$2" ;; *) chmod 644 "$2" ;; esac
  mv -f "$2" "$1"
}

if [ ! -f "$out/ca.crt" ] || [ ! -f "$out/ca.key" ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$days" -subj "/CN=placement-center-ca-$(openssl rand -hex 4)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$tmp/ca.crt"
  place "$out/ca.key" "$tmp/ca.key"
  place "$out/ca.crt" "$tmp/ca.crt"
  echo "made CA $out/ca.crt"
fi

# leaf <name> <cn> <san> <extendedKeyUsage>
leaf() {
  local name=$1 cn=$2 san=$3 eku=$4
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/$name.key" 2>/dev/null
  openssl req -new -key "$tmp/$name.key" -subj "/CN=$cn" -out "$tmp/$name.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s' "$eku" "$san" >"$tmp/$name.ext"
  openssl x509 -req -in "$tmp/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial -CAserial "$tmp/ca.srl" \
    -days "$days" -sha256 -extfile "$tmp/$name.ext" -out "$tmp/$name.crt" 2>/dev/null
  place "$out/$name.key" "$tmp/$name.key"
  place "$out/$name.crt" "$tmp/$name.crt"
  echo "made $out/$name.crt (CN $cn)"
}

for spec in "$@"; do
  case "$spec" in
    member:*:*)
      rest=${spec#member:}
      id=${rest%%:*}
      hosts=${rest#*:}
      case "$id" in '' | *[!0-9]*) echo "bad member id in '$spec'" >&2; exit 2 ;; esac
      san="DNS:member-$id"
      IFS=',' read -r -a list <<<"$hosts"
      for h in "${list[@]}"; do
        [ -z "$h" ] && continue
        if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san="$san,IP:$h"; else san="$san,DNS:$h"; fi
      done
      leaf "member-$id" "member-$id" "subjectAltName=$san" "serverAuth,clientAuth"
      ;;
    client:*)
      name=${spec#client:}
      case "$name" in '' | *[!A-Za-z0-9_.@-]*) echo "bad client name in '$spec'" >&2; exit 2 ;; esac
      leaf "client-$name" "$name" "" "clientAuth"
      ;;
    *)
      echo "unknown spec '$spec' (member:<id>:<hosts> or client:<name>)" >&2
      exit 2
      ;;
  esac
done
