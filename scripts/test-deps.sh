#!/usr/bin/env bash
# The Debian packages the test suites need, in one place for `npm test` and CI.
#   scripts/test-deps.sh check     prints the missing packages (nothing when all are there)
#   scripts/test-deps.sh install   installs the missing ones with apt-get when it can (root, or
#                                  passwordless sudo); exits 1 if some are still missing
#   scripts/test-deps.sh command   prints the one command that installs them
set -uo pipefail

# command:package — the keychain suites need a real Secret Service (D-Bus + gnome-keyring) and
# libsecret's secret-tool as an independent client; install.sh is checked with shellcheck and run
# under busybox sh and zsh; the arm64 release binary runs under qemu.
PAIRS="dbus-run-session:dbus dbus-daemon:dbus-daemon gnome-keyring-daemon:gnome-keyring secret-tool:libsecret-tools
shellcheck:shellcheck busybox:busybox zsh:zsh qemu-aarch64:qemu-user script:bsdutils unzip:unzip"

missing() {
  local need=""
  for pair in $PAIRS; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need="$need ${pair#*:}"
  done
  [ -e /usr/aarch64-linux-gnu/lib/libgcc_s.so.1 ] || need="$need libc6-arm64-cross libgcc-s1-arm64-cross"
  echo "$need" | xargs -n1 2>/dev/null | sort -u | xargs
}

case "${1:-check}" in
  check) missing ;;
  command) echo "sudo apt-get install -y --no-install-recommends $(missing)" ;;
  install)
    need=$(missing)
    [ -z "$need" ] && exit 0
    command -v apt-get >/dev/null || exit 1
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      sudo -n true 2>/dev/null || exit 1
      SUDO="sudo -n"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null 2>&1
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null 2>&1
    [ -z "$(missing)" ]
    ;;
  *) echo "usage: $0 check|install|command" >&2; exit 2 ;;
esac
