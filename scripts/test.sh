#!/usr/bin/env bash
# npm test: build the binary, then run every bun test inside a private D-Bus session with an
# unlocked gnome-keyring (the keychain suite needs a real Secret Service), and print the closing
# line CI reads: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUN=./node_modules/.bin/bun
[ -x "node_modules/@oven/bun-linux-x64/bin/bun" ] && BUN=node_modules/@oven/bun-linux-x64/bin/bun

# The Debian packages the suites need: installed when this user can (root or passwordless sudo);
# otherwise the suites that need them are skipped and named at the end, with the command that
# installs them. CI must run everything, so there a missing package is a failure.
SKIPPED_NOTE=""
if [ -n "$(bash scripts/test-deps.sh check)" ] && ! bash scripts/test-deps.sh install; then
  if [ "${CI:-}" = "true" ]; then
    echo "missing test packages: $(bash scripts/test-deps.sh check)" >&2
    echo "0 passed, 1 failed"; exit 1
  fi
  SKIPPED_NOTE="skipped: the keychain suites (tests/keychain-e2e.test.ts, parts of tests/doctor.test.ts and tests/keychain-unit.test.ts) and the checks that need $(bash scripts/test-deps.sh check); install them with: $(bash scripts/test-deps.sh command)"
  export DIFYCTL_TEST_NO_KEYCHAIN=1
fi

npm run --silent build || { echo "0 passed, 1 failed"; exit 1; }
rm -rf .tmp/captured && mkdir -p .tmp
# One log per run: parallel runs on one machine must not add up each other's counts.
LOG=$(mktemp "${TMPDIR:-/tmp}/difyctl-test-log.XXXXXX")
export LOG

# Keep gnome-keyring's files and the runtime dir out of the user's HOME.
KEYRING_HOME=$(mktemp -d)
XDG_RUNTIME_DIR=$(mktemp -d) && chmod 700 "$XDG_RUNTIME_DIR"
export XDG_RUNTIME_DIR
export TEST_KEYRING_HOME=$KEYRING_HOME

run_tests() {
  "$BUN" test "$@" 2>&1 | tee -a "$LOG"
  return "${PIPESTATUS[0]}"
}

# The secrets scan reads what every other test captured, so it runs last, on its own.
FINAL=""
[ -f tests/secrets-scan.final.ts ] && FINAL=./tests/secrets-scan.final.ts
: > "$LOG"

if command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null; then
  export BUN ROOT FINAL
  # shellcheck disable=SC2016 # expanded by the inner shell
  HOME=$KEYRING_HOME dbus-run-session -- bash -c '
    sh "$ROOT/scripts/keyring-session.sh" difyctl-ci
    cd "$ROOT" || exit 1
    "$BUN" test "$@" 2>&1 | tee -a "$LOG"; rc=${PIPESTATUS[0]}
    if [ -n "$FINAL" ] && [ $# -eq 0 ]; then "$BUN" test "$FINAL" 2>&1 | tee -a "$LOG"; [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1; fi
    exit $rc
  ' bash "$@"
  rc=$?
else
  export DIFYCTL_TEST_NO_KEYCHAIN=1
  run_tests "$@"
  rc=$?
  if [ -n "$FINAL" ] && [ $# -eq 0 ]; then run_tests "$FINAL" || rc=1; fi
fi

[ -n "$SKIPPED_NOTE" ] && echo "$SKIPPED_NOTE"
# Sum the counts of both runs; a run that crashed before its summary still fails through rc.
awk '/^ *[0-9]+ pass$/{p+=$1} /^ *[0-9]+ fail$/{f+=$1} END{printf "%d passed, %d failed\n", p, f}' "$LOG"
exit "$rc"
