// npm run release: every target into dist/release/difyctl-<version>-<os>-<arch>[.exe], the embed
// check, SHA256SUMS, VERSION, a copy of install.sh, and the Homebrew formula and winget manifests
// generated from SHA256SUMS. Version, channel and commit come from buildInfo() (DIFYCTL_VERSION,
// DIFYCTL_CHANNEL, DIFYCTL_COMMIT override package.json and git).
//
// Publishing = uploading dist/release/* (except homebrew/ and winget/) as the assets of the GitHub
// release v<version>; a mirror copies them to <base>/download/v<version>/ and VERSION to
// <base>/latest/download/VERSION (see install.sh).
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { homebrewFormula } from "../packaging/homebrew.mjs";
import { project } from "../packaging/project.mjs";
import { wingetManifests } from "../packaging/winget.mjs";
import { buildMatrix } from "./build-all.mjs";
import { ROOT, buildInfo } from "./build-lib.mjs";
import { RELEASE_TARGETS, releaseName } from "./targets.mjs";

export const RELEASE_DIR = join(ROOT, "dist", "release");
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

const sha256File = (p) => createHash("sha256").update(readFileSync(p)).digest("hex");

/** SHA256SUMS (sha256sum format) over every top-level file of `dir` except itself. */
export function writeChecksums(dir) {
  const files = readdirSync(dir).filter((f) => f !== "SHA256SUMS" && statSync(join(dir, f)).isFile()).sort();
  const text = files.map((f) => `${sha256File(join(dir, f))}  ${f}\n`).join("");
  writeFileSync(join(dir, "SHA256SUMS"), text);
  return text;
}

/** Reads SHA256SUMS and checks every listed file still matches it: the packaging is generated from checked data only. */
export function readChecksums(dir) {
  const sums = {};
  for (const line of readFileSync(join(dir, "SHA256SUMS"), "utf8").split("\n")) {
    if (!line) continue;
    const m = line.match(/^([0-9a-f]{64}) [ *]([^/\\]+)$/);
    if (!m) throw new Error(`SHA256SUMS: malformed line ${JSON.stringify(line)}`);
    if (sums[m[2]]) throw new Error(`SHA256SUMS: ${m[2]} listed twice`);
    const got = sha256File(join(dir, m[2]));
    if (got !== m[1]) throw new Error(`SHA256SUMS: ${m[2]} is ${got} on disk, listed as ${m[1]}`);
    sums[m[2]] = m[1];
  }
  return sums;
}

/** Writes homebrew/difyctl.rb and winget/manifests/… into `dir` from its SHA256SUMS and VERSION. */
export function writePackaging(dir, root = ROOT) {
  const version = readFileSync(join(dir, "VERSION"), "utf8").trim();
  const sums = readChecksums(dir);
  const p = project(root);
  rmSync(join(dir, "homebrew"), { recursive: true, force: true });
  rmSync(join(dir, "winget"), { recursive: true, force: true });
  mkdirSync(join(dir, "homebrew"), { recursive: true });
  writeFileSync(join(dir, "homebrew", "difyctl.rb"), homebrewFormula(p, version, sums));
  for (const [rel, text] of Object.entries(wingetManifests(p, version, sums))) {
    mkdirSync(dirname(join(dir, "winget", rel)), { recursive: true });
    writeFileSync(join(dir, "winget", rel), text);
  }
}

/** Everything after the binaries exist: VERSION, install.sh, SHA256SUMS, packaging. */
export function finalizeRelease(dir, version, root = ROOT) {
  if (!SEMVER.test(version)) throw new Error(`version ${JSON.stringify(version)} is not semver (it goes into URLs and file names)`);
  for (const f of readdirSync(dir)) if (f.endsWith(".map")) rmSync(join(dir, f));
  writeFileSync(join(dir, "VERSION"), version + "\n");
  copyFileSync(join(root, "install.sh"), join(dir, "install.sh"));
  writeChecksums(dir);
  writePackaging(dir, root);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  try {
    const info = buildInfo();
    if (!SEMVER.test(info.version)) throw new Error(`version ${JSON.stringify(info.version)} is not semver`);
    rmSync(RELEASE_DIR, { recursive: true, force: true });
    mkdirSync(RELEASE_DIR, { recursive: true });
    buildMatrix({ targets: RELEASE_TARGETS, outDir: RELEASE_DIR, name: (t) => releaseName(info.version, t) });
    finalizeRelease(RELEASE_DIR, info.version);
    let total = 0;
    for (const t of RELEASE_TARGETS) {
      const size = statSync(join(RELEASE_DIR, releaseName(info.version, t))).size;
      total += size;
      console.log(`${releaseName(info.version, t).padEnd(40)} ${(size / 1e6).toFixed(1)} MB`);
    }
    console.log(`release ${info.version} (${info.channel}, ${info.commit}): ${RELEASE_TARGETS.length} binaries, ${(total / 1e6).toFixed(0)} MB, in dist/release/ (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    console.error(`error: ${e.message}`);
    process.exit(1);
  }
}
