"use strict";
// Which per-platform package holds this machine's difyctl binary, and where its binary is.
// scripts/release.mjs fills in the package names (packaging/npm.mjs).
const path = require("path");

const PACKAGES = /* PACKAGES */ {};

/** Node built for glibc reports the glibc it runs on; a musl Node (Alpine) reports none. */
function isMusl() {
  const report = process.report && typeof process.report.getReport === "function" ? process.report.getReport() : null;
  return !(report && report.header && report.header.glibcVersionRuntime);
}

function platformKey() {
  const key = `${process.platform}-${process.arch}`;
  return process.platform === "linux" && isMusl() ? `${key}-musl` : key;
}

/** The installed native binary for this machine; throws a message a person can act on. */
function binaryPath() {
  const key = platformKey();
  const pkg = PACKAGES[key];
  if (!pkg) throw new Error(`no difyctl binary is published on npm for ${key} (supported: ${Object.keys(PACKAGES).join(", ")})`);
  let dir;
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(`${pkg}, which holds the binary for ${key}, is not installed: reinstall difyctl without --omit=optional (or --no-optional)`);
  }
  return path.join(dir, "bin", process.platform === "win32" ? "difyctl.exe" : "difyctl");
}

module.exports = { PACKAGES, platformKey, binaryPath };
