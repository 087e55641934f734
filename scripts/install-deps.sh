#!/usr/bin/env bash
# Installs the Debian packages pivotua's tests and runtime use, only those missing.
# postgresql: the debug store suite starts a throwaway cluster on loopback (its binaries only;
# the Debian service it sets up is not used). kamailio: the cluster test runs its binary on
# deploy/kamailio/kamailio.cfg; the Debian service, which would listen on port 5060, is disabled.
# chromium: the call inspector's browser test runs it headless.
# Idempotent: a machine that has them all does nothing and needs no network.
set -euo pipefail
packages=(openssl sip-tester baresip-core flite espeak-ng lame sox libsox-fmt-all tshark postgresql kamailio chromium)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm run Twilio's own request validator in the tests; many images ship them outside dpkg.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
# tshark asks whether non-root users may capture; answer no, without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ " ${missing[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null; then
	systemctl disable --now kamailio >/dev/null 2>&1 || true
fi
