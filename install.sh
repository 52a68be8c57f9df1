#!/bin/sh
# difyctl installer: downloads the archive for this machine, checks it against the release's
# SHA256SUMS, extracts the binary and installs it without root. Re-running upgrades in place.
#
#   curl -fsSL https://github.com/langgenius/difyctl/releases/latest/download/install.sh | sh
#
# Environment:
#   DIFYCTL_VERSION      version to install, e.g. 0.2.0 (default: the latest release)
#   DIFYCTL_INSTALL_DIR  target directory (default: ~/.local/bin)
#   DIFYCTL_BASE_URL     release location, for mirrors (default below). Layout under it:
#                          latest/download/VERSION              the latest version, one line
#                          download/v<version>/SHA256SUMS       "<sha256>  <file>" per file
#                          download/v<version>/difyctl-<version>-<os>-<arch>.tar.gz
#                        (GitHub Releases serves exactly this; a mirror copies the files.)
#   DIFYCTL_TEST_CPUINFO test-only: read this file instead of /proc/cpuinfo
#   DIFYCTL_TEST_ROOT    test-only: look for the C library's loader under this directory, not /
#
# Archives: <os> is linux or darwin; <arch> is x64, arm64, x64-baseline (x64 CPUs without AVX2),
# x64-musl or arm64-musl (Alpine). Each holds difyctl-<version>-<os>-<arch>/difyctl, LICENSE,
# README.md and completions/. Windows: use winget (see the README).

set -eu

# The one place the release URL is defined; scripts/release.mjs reads it from here.
DIFYCTL_DEFAULT_BASE_URL="https://github.com/langgenius/difyctl/releases"

tmpdir=""
tmpbin=""
cleanup() {
  if [ -n "$tmpdir" ]; then rm -rf "$tmpdir"; fi
  if [ -n "$tmpbin" ]; then rm -f "$tmpbin"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '%s\n' "$*"; }
fail() {
  printf 'difyctl install: error: %s\n' "$1" >&2
  if [ $# -gt 1 ]; then printf 'hint: %s\n' "$2" >&2; fi
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

base_url=${DIFYCTL_BASE_URL:-$DIFYCTL_DEFAULT_BASE_URL}
base_url=${base_url%/}
case $base_url in
  https://*) ;;
  http://*) say "warning: $base_url is not https; the checksum then only guards against corrupted downloads" >&2 ;;
  *) fail "DIFYCTL_BASE_URL must start with https:// (or http:// for a local mirror): $base_url" ;;
esac

# --- platform -----------------------------------------------------------------------------------
uname_s=$(uname -s 2>/dev/null || echo unknown)
uname_m=$(uname -m 2>/dev/null || echo unknown)
case $uname_s in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  MINGW* | MSYS* | CYGWIN* | Windows_NT)
    fail "this script does not install on Windows ($uname_s)" \
      "run 'winget install LangGenius.difyctl', or download difyctl-<version>-windows-x64.zip from $base_url" ;;
  *) fail "unsupported operating system: $uname_s" "difyctl ships binaries for Linux, macOS and Windows" ;;
esac
case $uname_m in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail "unsupported CPU architecture: $uname_m ($uname_s)" "difyctl ships binaries for x86_64 and arm64" ;;
esac

if [ "$os" = darwin ] && [ "$arch" = x64 ]; then
  # An x64 shell under Rosetta 2 on Apple silicon: the native binary is the better choice.
  if [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || echo 0)" = 1 ]; then arch=arm64; fi
fi

if [ "$os" = linux ]; then
  # The glibc build starts only where its loader is; a glibc system may also carry musl's loader
  # (Debian's musl package), so that one decides only when glibc's is absent. musl's ldd
  # ("musl libc" on stderr) wins over both: Alpine's gcompat adds a glibc-named loader.
  root=${DIFYCTL_TEST_ROOT:-}
  case $arch in
    x64) glibc_loader=$root/lib64/ld-linux-x86-64.so.2 ;;
    *) glibc_loader=$root/lib/ld-linux-aarch64.so.1 ;;
  esac
  if have ldd && ldd --version 2>&1 | grep -qi musl; then
    libc=musl
  elif [ -e "$glibc_loader" ]; then
    libc=gnu
  elif ls "$root"/lib/ld-musl-* >/dev/null 2>&1; then
    libc=musl
  else
    libc=gnu
  fi
  if [ "$arch" = x64 ] && ! grep -qw avx2 "${DIFYCTL_TEST_CPUINFO:-/proc/cpuinfo}" 2>/dev/null; then
    # The default x64 build needs AVX2 (it dies with "Illegal instruction" without it).
    if [ "$libc" = musl ]; then
      fail "no difyctl build for musl (Alpine) on x64 CPUs without AVX2" \
        "run the glibc build in a glibc image (e.g. debian:stable-slim): it has a baseline variant"
    fi
    arch=x64-baseline
  elif [ "$libc" = musl ]; then
    arch=$arch-musl
  fi
fi

# --- download -----------------------------------------------------------------------------------
if have curl; then
  fetch() {
    case $1 in
      # Never follow a redirect from https down to http.
      https://*) curl -fsSL --proto '=https' --proto-redir '=https' --retry 2 --connect-timeout 20 -o "$2" "$1" ;;
      *) curl -fsSL --retry 2 --connect-timeout 20 -o "$2" "$1" ;;
    esac
  }
elif have wget; then
  if wget --version >/dev/null 2>&1; then
    fetch() { wget -q -T 30 --tries=3 -O "$2" "$1"; }
  else
    # BusyBox wget (Alpine): no --version, and -T crashes some builds (Debian's 1.35).
    fetch() { wget -q -O "$2" "$1"; }
  fi
else
  fail "neither curl nor wget is installed" "install one of them (e.g. 'apt-get install curl' or 'apk add curl') and re-run"
fi

# Everything the verify and extract steps need, checked before the download.
if have sha256sum; then sha256_of() { sha256sum "$1"; }
elif have shasum; then sha256_of() { shasum -a 256 "$1"; }
elif have openssl; then sha256_of() { openssl dgst -sha256 -r "$1"; }
else
  fail "no SHA-256 tool found (sha256sum, shasum or openssl); the download cannot be verified, so nothing was installed" \
    "install one: coreutils (sha256sum), perl (shasum) or openssl, e.g. 'apt-get install coreutils' or 'apk add coreutils', and re-run"
fi
have tar || fail "tar is not installed" "install it (e.g. 'apt-get install tar' or 'apk add tar') and re-run"

tmpdir=$(mktemp -d 2>/dev/null || mktemp -d -t difyctl-install) || fail "cannot create a temporary directory" "set TMPDIR to a writable directory"

download() {
  fetch "$1" "$2" || fail "download failed: $1" \
    "check the network connection and proxy settings${DIFYCTL_VERSION:+, and that version $version exists}, or set DIFYCTL_BASE_URL to a reachable mirror"
}

if [ -n "${DIFYCTL_VERSION:-}" ]; then
  version=${DIFYCTL_VERSION#v}
else
  version=""
  download "$base_url/latest/download/VERSION" "$tmpdir/VERSION"
  version=$(tr -d ' \t\r\n' <"$tmpdir/VERSION")
fi
# The version goes into URLs and file names: digits first, then only [0-9A-Za-z.+-].
case $version in
  [0-9]*[!0-9A-Za-z.+-]* | [!0-9]* | '')
    if [ -n "${DIFYCTL_VERSION:-}" ]; then fail "invalid DIFYCTL_VERSION '$version'" "use a release version such as 1.2.3"; fi
    fail "$base_url/latest/download/VERSION does not hold a version (starts with '$(printf '%s' "$version" | cut -c1-20)')" \
      "is DIFYCTL_BASE_URL a difyctl release mirror? set DIFYCTL_VERSION to skip the lookup" ;;
esac

name="difyctl-$version-$os-$arch"
file="$name.tar.gz"
url="$base_url/download/v$version"
say "Downloading difyctl $version for $os-$arch"
download "$url/SHA256SUMS" "$tmpdir/SHA256SUMS"
download "$url/$file" "$tmpdir/$file"

# --- verify -------------------------------------------------------------------------------------
expected=$(awk -v f="$file" '$2 == f || $2 == "*" f { print tolower($1); n++ } END { if (n != 1) exit 1 }' "$tmpdir/SHA256SUMS") ||
  fail "SHA256SUMS has no single entry for $file" "the release is incomplete or was tampered with; nothing was installed"
case $expected in
  *[!0-9a-f]*) fail "SHA256SUMS entry for $file is malformed; nothing was installed" ;;
esac
[ ${#expected} -eq 64 ] || fail "SHA256SUMS entry for $file is malformed; nothing was installed"
sha256_of "$tmpdir/$file" >"$tmpdir/actual" || fail "cannot compute the SHA-256 of $file"
actual=$(awk '{ print tolower($1); exit }' "$tmpdir/actual")
[ "$actual" = "$expected" ] || fail "checksum mismatch for $file (expected $expected, got $actual); nothing was installed" \
  "retry; if it persists, the download or the mirror is corrupted or tampered with"

# --- extract (only a verified archive is opened) ------------------------------------------------
mkdir "$tmpdir/x" || fail "cannot write to $tmpdir"
if ! tar -xzf "$tmpdir/$file" -C "$tmpdir/x" 2>"$tmpdir/tar.err"; then
  fail "cannot extract $file: $(head -n 1 "$tmpdir/tar.err")" "check free space in ${TMPDIR:-/tmp}; set TMPDIR to another directory"
fi
newbin="$tmpdir/x/$name/difyctl"
if [ ! -f "$newbin" ] || [ -L "$newbin" ]; then fail "$file holds no $name/difyctl; nothing was installed"; fi

# --- install ------------------------------------------------------------------------------------
if [ -n "${DIFYCTL_INSTALL_DIR:-}" ]; then
  dir=$DIFYCTL_INSTALL_DIR
else
  [ -n "${HOME:-}" ] || fail "HOME is not set" "set DIFYCTL_INSTALL_DIR"
  dir=$HOME/.local/bin
fi
if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
  fail "cannot write to $dir" "set DIFYCTL_INSTALL_DIR to a directory you own; no root is needed"
fi

target="$dir/difyctl"
previous=""
previous_short=""
if [ -x "$target" ]; then
  previous=$("$target" version 2>/dev/null || true)
  previous_short=$("$target" --version 2>/dev/null || true)
fi

# Copy next to the target, then rename over it: the rename is atomic, so an interrupted run never
# leaves a half-written difyctl behind, and the old binary stays until the new one is in place.
tmpbin="$dir/.difyctl.install.$$"
cp "$newbin" "$tmpbin" || fail "cannot write $tmpbin"
chmod 755 "$tmpbin"
if ! out=$("$tmpbin" version 2>&1); then
  hint="is $dir on a noexec mount? set DIFYCTL_INSTALL_DIR elsewhere"
  case $out in *libstdc++*) hint="install the C++ runtime first: apk add libstdc++" ;; esac
  fail "the downloaded difyctl does not run on this machine: $(printf '%s' "$out" | head -n 1)" "$hint"
fi
new_short=$("$tmpbin" --version 2>/dev/null || true)
# Replaced even when up to date: the file then matches the verified release again.
mv -f "$tmpbin" "$target" || fail "cannot move the new binary to $target"
tmpbin=""

if [ -n "$previous_short" ] && [ "$previous_short" = "$new_short" ]; then
  say "Already up to date: $target ($out)"
elif [ -n "$previous" ]; then
  say "Upgraded $target: $previous -> $out"
else
  say "Installed $target: $out"
fi

case ":${PATH:-}:" in
  *":$dir:"*)
    found=$(command -v difyctl 2>/dev/null || true)
    if [ -n "$found" ] && [ "$found" != "$target" ]; then
      say "note: $found comes first in PATH and shadows $target"
    fi
    ;;
  *)
    say ""
    say "$dir is not in your PATH. Add it, e.g. in ~/.profile, ~/.bashrc or ~/.zshrc:"
    say "  export PATH=\"$dir:\$PATH\""
    ;;
esac
