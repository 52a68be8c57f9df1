"use strict";
// postinstall of the difyctl npm package: checks that this machine's binary (from its platform
// package) runs and is this version, then puts it where npm links the `difyctl` command, so every
// run starts the native binary directly instead of a Node launcher (~40 ms per run).
//
// Not done on Windows, where npm's .cmd/.ps1 wrappers run bin/difyctl with node (the launcher
// stays), nor under Yarn, which may run install scripts again from another platform. With
// --ignore-scripts this never runs and the launcher works as it is.
const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");
const { binaryPath } = require("./platform.cjs");
const { version } = require("./package.json");

function main() {
  const bin = binaryPath();
  const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 60000 });
  const got = (r.stdout || "").trim();
  if (r.status !== 0 || got !== `difyctl ${version}`) {
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}: ${(r.stderr || got).trim().split("\n")[0]}`;
    throw new Error(`${bin} does not run here (${why}); expected "difyctl ${version}"`);
  }
  const ua = process.env.npm_config_user_agent || "";
  if (process.platform === "win32" || ua.startsWith("yarn")) return;
  const target = path.join(__dirname, "bin", "difyctl");
  const tmp = `${target}.install-${process.pid}`;
  fs.rmSync(tmp, { force: true });
  try {
    fs.linkSync(bin, tmp);
  } catch {
    fs.copyFileSync(bin, tmp);
    fs.chmodSync(tmp, 0o755);
  }
  fs.renameSync(tmp, target); // atomic: the command is the launcher or the binary, never half of one
}

try {
  main();
} catch (e) {
  console.error(`difyctl: ${e.message}`);
  process.exit(1);
}
