#!/bin/sh
# Makes EXAMPLE certificates for site-a-cert.toml and site-b-cert.toml with strongSwan's pki
# tool (apt-get install strongswan-pki): a root CA, an intermediate CA, and one certificate
# per site whose subjectAltName is the site's identity. Run it in examples/:
#
#     sh certs/make-certs.sh
#
# It writes certs/ (certificates, public) and private/ (keys, mode 0600). The keys are made
# on your machine and are yours; none is published with oakley. For real gateways keep the CA
# keys offline and give each site only its own key. See certs/README.md for openssl.
set -eu
umask 077
mkdir -p certs private
[ -f private/ca.key ] || pki --gen --type rsa --size 3072 --outform pem > private/ca.key
pki --self --ca --lifetime 3650 --in private/ca.key --type rsa \
    --dn "C=CH, O=Example, CN=Example Root CA" --outform pem > certs/ca.pem
[ -f private/intermediate.key ] || pki --gen --type rsa --size 3072 --outform pem > private/intermediate.key
pki --pub --in private/intermediate.key --type rsa |
    pki --issue --ca --lifetime 1825 --cacert certs/ca.pem --cakey private/ca.key \
        --dn "C=CH, O=Example, CN=Example Intermediate CA" --outform pem > certs/intermediate.pem
# laptop: the EAP-TLS client of eap-tls-client.toml (its eap_id is laptop.example)
for site in site-a site-b laptop; do
    [ -f private/$site.key ] || pki --gen --type rsa --size 3072 --outform pem > private/$site.key
    pki --pub --in private/$site.key --type rsa |
        pki --issue --lifetime 730 --cacert certs/intermediate.pem --cakey private/intermediate.key \
            --dn "C=CH, O=Example, CN=$site.example" --san $site.example \
            --flag serverAuth --flag clientAuth --outform pem > certs/$site-only.pem
    # cert = ...: the site's certificate followed by the intermediate CA
    cat certs/$site-only.pem certs/intermediate.pem > certs/$site.pem
    rm certs/$site-only.pem
done
chmod 644 certs/*.pem
echo "made certs/ca.pem, certs/intermediate.pem, certs/site-a.pem, certs/site-b.pem, certs/laptop.pem and private/*.key"
