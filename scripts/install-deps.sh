#!/usr/bin/env bash
# Installs the Debian packages pivotua needs, only those missing. Idempotent: a machine that has them
# all does nothing and needs neither root nor the network.
#
#   install-deps.sh run    what `pivotua serve` uses: flite (speech), lame (MP3), espeak-ng (optional,
#                          languages flite lacks), pocketsphinx and pocketsphinx-en-us (the offline
#                          speech recogniser, speech.engine: pocketsphinx). Never fails: without root, or when apt cannot install,
#                          it says what is missing and pivotua starts anyway.
#   install-deps.sh test   everything `make test` drives as well. postgresql: the debug store suite starts
#                          a throwaway cluster on loopback (its binaries only; the Debian service is not
#                          used). kamailio: the cluster test runs its binary on deploy/kamailio/kamailio.cfg;
#                          the Debian service, which would listen on port 5060, is disabled;
#                          kamailio-tls-modules: the registration test's carrier speaks TLS. chromium: the
#                          call inspector's browser test runs it headless. node/npm: Twilio's own request
#                          validator checks our signatures; openssl computes signatures outside Go;
#                          php-cli runs docs/webhooks.md's PHP snippet.
#                          python3-websockets: the media stream tests' WebSocket app (testdata/streams) is
#                          written in Python from Twilio's published protocol, not by pivotua.
#
# A dpkg lock held by another apt (unattended upgrades, a second terminal) is waited for, not failed on.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
profile=${1:-test}
run_packages=(flite lame espeak-ng pocketsphinx pocketsphinx-en-us)
test_packages=(openssl sip-tester baresip-core sox libsox-fmt-all tshark postgresql kamailio kamailio-tls-modules chromium php-cli python3-websockets)
case "$profile" in
run) packages=("${run_packages[@]}") ;;
test) packages=("${run_packages[@]}" "${test_packages[@]}") ;;
*) echo "usage: install-deps.sh run|test" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "$profile" = test ] && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
	missing+=(nodejs npm) # many images ship node outside dpkg
fi
[ ${#missing[@]} -eq 0 ] && exit 0

# fail says why the packages are not there; for `run` that is a warning and pivotua starts anyway.
fail() {
	if [ "$profile" = run ]; then
		echo "install-deps: warning: $1; pivotua starts without ${missing[*]} (speech or MP3 may fail)." >&2
		exit 0
	fi
	echo "install-deps: $1" >&2
	exit 1
}
[ "$(id -u)" -eq 0 ] || fail "missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"

echo "install-deps: installing ${missing[*]}"
# tshark asks whether non-root users may capture; answer no, without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
# apt: wait up to 10 minutes for another apt or dpkg to let go of its locks.
apt=(apt-get -o DPkg::Lock::Timeout=600 -qq)
apt_with_wait() {
	local out
	for _ in $(seq 60); do
		out=$("${apt[@]}" "$@" 2>&1) && return 0
		grep -q "Could not get lock\|Unable to lock\|is another process using it" <<<"$out" || { echo "$out" >&2; return 1; }
		echo "install-deps: apt is busy elsewhere; waiting" >&2
		sleep 10
	done
	echo "$out" >&2
	return 1
}
apt_with_wait update || fail "apt-get update failed"
apt_with_wait install -y --no-install-recommends "${missing[@]}" ||
	fail "apt-get install ${missing[*]} failed"
if [[ " ${missing[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null; then
	systemctl disable --now kamailio >/dev/null 2>&1 || true
fi
exit 0
