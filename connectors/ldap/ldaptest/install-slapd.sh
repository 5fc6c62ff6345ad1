#!/usr/bin/env bash
# Installs OpenLDAP's slapd and ldap-utils from Debian's packages when slapd is missing, for the
# LDAP connector's tests (connectors/ldap/ldaptest). A no-op when slapd is present. Run by
# `make tools` and by ldaptest itself; an exclusive lock keeps parallel callers from racing apt.
#
# The package's postinst would start a system slapd and configure a default database; the tests
# run their own slapd on a throwaway config, so the install skips the configuration (debconf
# slapd/no_configuration) and a policy-rc.d forbids starting services while it runs.
set -euo pipefail

have() { command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; }
have_all() { have && command -v ldapadd >/dev/null 2>&1; }
if have_all; then exit 0; fi

if [ "$(id -u)" != 0 ]; then
	echo "install-slapd: slapd is missing and installing it needs root (apt-get install slapd ldap-utils)" >&2
	exit 1
fi

lock=/tmp/idstream-install-slapd.lock
exec 9>"$lock"
flock 9
if have_all; then exit 0; fi

policy=/usr/sbin/policy-rc.d
restore=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# written by idstream install-slapd.sh while it installs slapd\nexit 101\n' >"$policy"
	chmod +x "$policy"
	restore=remove
fi
cleanup() { if [ "$restore" = remove ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slapd ldap-utils >/dev/null
have_all
