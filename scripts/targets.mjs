// The build matrix: one row per shipped binary. `addon` is the @napi-rs/keyring platform package
// suffix whose .node must be embedded (and the only one allowed in that binary).

/** The five targets of the prebuild matrix: `npm run build:all`. */
export const CORE_TARGETS = [
  { id: "linux-x64", bun: "bun-linux-x64", os: "linux", arch: "x64", addon: "linux-x64-gnu" },
  { id: "linux-arm64", bun: "bun-linux-arm64", os: "linux", arch: "arm64", addon: "linux-arm64-gnu" },
  { id: "darwin-x64", bun: "bun-darwin-x64", os: "darwin", arch: "x64", addon: "darwin-x64" },
  { id: "darwin-arm64", bun: "bun-darwin-arm64", os: "darwin", arch: "arm64", addon: "darwin-arm64" },
  { id: "windows-x64", bun: "bun-windows-x64", os: "windows", arch: "x64", addon: "win32-x64-msvc", exe: true },
];

/** Extra release targets: Alpine (musl) and x64 CPUs without AVX2. */
export const EXTRA_TARGETS = [
  { id: "linux-x64-musl", bun: "bun-linux-x64-musl", os: "linux", arch: "x64-musl", addon: "linux-x64-musl" },
  { id: "linux-arm64-musl", bun: "bun-linux-arm64-musl", os: "linux", arch: "arm64-musl", addon: "linux-arm64-musl" },
  { id: "linux-x64-baseline", bun: "bun-linux-x64-baseline", os: "linux", arch: "x64-baseline", addon: "linux-x64-gnu" },
];

export const RELEASE_TARGETS = [...CORE_TARGETS, ...EXTRA_TARGETS];

/** Every addon suffix any target embeds: all of them are fetched, and each binary is checked against all. */
export const ALL_ADDONS = [...new Set(RELEASE_TARGETS.map((t) => t.addon))];

export const addonPackage = (suffix) => `@napi-rs/keyring-${suffix}`;
export const addonFile = (suffix) => `keyring.${suffix}.node`;

/** The addon the host's own `npm run build` embeds (the same one npm installed for this machine). */
export function hostAddon() {
  const { platform, arch } = process;
  if (platform === "win32") return `win32-${arch}-msvc`;
  if (platform === "darwin") return `darwin-${arch}`;
  if (platform === "linux") {
    // Node reports glibcVersionRuntime on glibc; its absence means musl (Alpine).
    const glibc = process.report?.getReport?.()?.header?.glibcVersionRuntime;
    return `linux-${arch}-${glibc ? "gnu" : "musl"}`;
  }
  return null;
}

/** Binary file name: difyctl-<version>-<os>-<arch>[.exe]. */
export const releaseName = (version, t) => `difyctl-${version}-${t.os}-${t.arch}${t.exe ? ".exe" : ""}`;

/** The archive's top directory: difyctl-<version>-<os>-<arch>. */
export const archiveRoot = (version, t) => `difyctl-${version}-${t.os}-${t.arch}`;

/** Published archive: difyctl-<version>-<os>-<arch>.tar.gz, .zip for Windows (Explorer and winget open zip). */
export const archiveName = (version, t) => `${archiveRoot(version, t)}.${t.exe ? "zip" : "tar.gz"}`;
