#!/bin/sh
# Inside a private D-Bus session (dbus-run-session): starts gnome-keyring's Secret Service with an
# unlocked login keyring, then waits until it really stores and returns an item. The daemon sets
# its keyring up after it has returned; a client that comes too early can meet a keyring that
# asks for a (headless, impossible) prompt, and a suite would then fail for reasons of its own.
# Used by npm test and npm run stress.
printf "%s" "${1:-difyctl-ci}" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
command -v secret-tool >/dev/null 2>&1 || exit 0
i=0
while [ "$i" -lt 50 ]; do
  if printf ready | timeout 2 secret-tool store --label="difyctl readiness check" difyctl-ready 1 2>/dev/null \
    && [ "$(timeout 2 secret-tool lookup difyctl-ready 1 2>/dev/null)" = ready ]; then
    timeout 2 secret-tool clear difyctl-ready 1 2>/dev/null
    exit 0
  fi
  sleep 0.1
  i=$((i + 1))
done
echo "warning: gnome-keyring did not become ready in 5 s; the keychain suites may fail" >&2
