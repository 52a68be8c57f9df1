// npm run release: every target, signed where macOS needs it, checked, archived and described for
// each channel, in dist/release/:
//
//   bin/difyctl-<version>-<os>-<arch>[.exe]     the binaries (not published: the archives hold them)
//   difyctl-<version>-<os>-<arch>.tar.gz        binary + LICENSE + README.md + completions/ (.zip for Windows)
//   SHA256SUMS  VERSION  install.sh             the files a GitHub release publishes besides the archives
//   homebrew/difyctl.rb  winget/manifests/…     generated from SHA256SUMS
//   npm/*.tgz                                   the npm packages (difyctl + one per platform)
//
//   node scripts/release.mjs [all]                 build, then package (the default)
//   node scripts/release.mjs build [--targets a,b] compile into bin/, sign darwin ad hoc, embed check, smoke runs
//   node scripts/release.mjs package               everything after the binaries, from bin/ (the release
//                                                  workflow fills bin/ from several runners, the darwin
//                                                  binaries re-signed with codesign on macOS)
//
// Version, channel and commit come from buildInfo() (DIFYCTL_VERSION, DIFYCTL_CHANNEL, DIFYCTL_COMMIT
// override package.json and git). Archive timestamps: SOURCE_DATE_EPOCH, else the commit time.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { homebrewFormula } from "../packaging/homebrew.mjs";
import { writeNpmPackages } from "../packaging/npm.mjs";
import { project } from "../packaging/project.mjs";
import { wingetManifests } from "../packaging/winget.mjs";
import { writeTarGz, writeZip } from "./archive.mjs";
import { buildMatrix } from "./build-all.mjs";
import { ROOT, buildInfo } from "./build-lib.mjs";
import { signFile, verifySignature } from "./macho-sign.mjs";
import { RELEASE_TARGETS, archiveName, archiveRoot, releaseName } from "./targets.mjs";

export const RELEASE_DIR = join(ROOT, "dist", "release");
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
/** The completion scripts every archive carries, by file name (the names each shell looks for). */
export const COMPLETION_FILES = { bash: "difyctl.bash", zsh: "_difyctl", fish: "difyctl.fish" };

const sha256File = (p) => createHash("sha256").update(readFileSync(p)).digest("hex");
const log = (m) => process.stderr.write(m + "\n");

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
export function writePackaging(dir, root = ROOT, releaseDate = new Date()) {
  const version = readFileSync(join(dir, "VERSION"), "utf8").trim();
  const sums = readChecksums(dir);
  const p = project(root);
  rmSync(join(dir, "homebrew"), { recursive: true, force: true });
  rmSync(join(dir, "winget"), { recursive: true, force: true });
  mkdirSync(join(dir, "homebrew"), { recursive: true });
  writeFileSync(join(dir, "homebrew", "difyctl.rb"), homebrewFormula(p, version, sums));
  for (const [rel, text] of Object.entries(wingetManifests(p, version, sums, releaseDate))) {
    mkdirSync(dirname(join(dir, "winget", rel)), { recursive: true });
    writeFileSync(join(dir, "winget", rel), text);
  }
}

/**
 * The release gate for macOS: every darwin binary's signature is recomputed (page hashes,
 * codeLimit, special slots). A broken signature gets the binary killed at launch.
 */
export function checkSignatures(binDir, version, targets = RELEASE_TARGETS) {
  const problems = [];
  const ok = [];
  for (const t of targets.filter((x) => x.os === "darwin")) {
    const file = join(binDir, releaseName(version, t));
    const r = verifySignature(readFileSync(file));
    if (r.problems.length) problems.push(`${releaseName(version, t)}:\n    ${r.problems.join("\n    ")}`);
    else ok.push(`${releaseName(version, t)}: ${r.pages} page hashes match (${r.hashTypes.join(", ")}, ${r.identifier})`);
  }
  if (problems.length) throw new Error(`signature check failed:\n  ${problems.join("\n  ")}`);
  return ok;
}

/** Runs `bin completion <shell>` for each shell (the scripts are the same for every platform). */
export function generateCompletions(bin) {
  const out = {};
  for (const shell of [...Object.keys(COMPLETION_FILES), "powershell"]) {
    const r = spawnSync(bin, ["completion", shell], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/", LANG: "C.UTF-8" }, timeout: 60_000 });
    if (r.status !== 0 || !r.stdout.includes("difyctl")) throw new Error(`${bin} completion ${shell} exited ${r.status}: ${r.stderr || r.error?.message}`);
    out[shell] = r.stdout;
  }
  return out;
}

/** A binary of `binDir` that runs on this machine (the completions are generated with it). */
export function runnableBinary(binDir, version) {
  const os = process.platform === "win32" ? "windows" : process.platform;
  for (const t of RELEASE_TARGETS.filter((x) => x.os === os && x.arch.split("-")[0] === process.arch)) {
    const file = join(binDir, releaseName(version, t));
    if (existsSync(file) && spawnSync(file, ["--version"], { timeout: 60_000 }).status === 0) return file;
  }
  throw new Error(`no binary in ${binDir} runs on this machine (${os}-${process.arch}); package on a machine one of them runs on`);
}

/** The files of one archive, under a top directory named like the archive. */
export function archiveEntries(version, t, binFile, completions, root = ROOT) {
  const top = archiveRoot(version, t);
  const entries = [
    { name: top, dir: true },
    { name: `${top}/difyctl${t.exe ? ".exe" : ""}`, file: binFile, mode: 0o755 },
    { name: `${top}/LICENSE`, file: join(root, "LICENSE") },
    { name: `${top}/README.md`, file: join(root, "README.md") },
    { name: `${top}/completions`, dir: true },
  ];
  for (const [shell, name] of Object.entries(COMPLETION_FILES)) entries.push({ name: `${top}/completions/${name}`, data: completions[shell] });
  if (t.exe) entries.push({ name: `${top}/completions/difyctl.ps1`, data: completions.powershell });
  return entries;
}

/** Writes every archive into `dir` (in parallel: compression runs on the thread pool). Returns {name: bytes}. */
export async function writeArchives(dir, binDir, version, completions, mtime, root = ROOT, targets = RELEASE_TARGETS) {
  const sizes = {};
  await Promise.all(targets.map(async (t) => {
    const entries = archiveEntries(version, t, join(binDir, releaseName(version, t)), completions, root);
    const out = join(dir, archiveName(version, t));
    sizes[archiveName(version, t)] = t.exe ? await writeZip(out, entries, mtime) : await writeTarGz(out, entries, mtime);
  }));
  return sizes;
}

export function commitTime(root = ROOT) {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  try { return Number(execFileSync("git", ["log", "-1", "--format=%ct"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim()); } catch { return Math.floor(Date.now() / 1000); }
}

/**
 * Everything after the binaries exist in `dir`/bin: the signature gate, archives, VERSION,
 * install.sh, SHA256SUMS, the Homebrew formula, the winget manifests and the npm packages.
 * `completions` defaults to running a binary of bin/ that runs here.
 */
export async function packageRelease({ dir, version, root = ROOT, completions, mtime = commitTime(root), npm = true, releaseDate = new Date(mtime * 1000) }) {
  if (!SEMVER.test(version)) throw new Error(`version ${JSON.stringify(version)} is not semver (it goes into URLs and file names)`);
  const binDir = join(dir, "bin");
  const missing = RELEASE_TARGETS.map((t) => releaseName(version, t)).filter((f) => !existsSync(join(binDir, f)));
  if (missing.length) throw new Error(`${binDir} lacks ${missing.join(", ")}`);
  const timings = {};
  let t0 = Date.now();
  const signatures = checkSignatures(binDir, version);
  timings.signatures = Date.now() - t0;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (f !== "bin" && (statSync(p).isFile() || ["homebrew", "winget", "npm"].includes(f))) rmSync(p, { recursive: true, force: true });
  }
  completions ??= generateCompletions(runnableBinary(binDir, version));
  t0 = Date.now();
  const sizes = await writeArchives(dir, binDir, version, completions, mtime, root);
  timings.archives = Date.now() - t0;
  writeFileSync(join(dir, "VERSION"), version + "\n");
  copyFileSync(join(root, "install.sh"), join(dir, "install.sh"));
  writeChecksums(dir);
  writePackaging(dir, root, releaseDate);
  t0 = Date.now();
  const npmFiles = npm ? await writeNpmPackages({ version, binDir, outDir: join(dir, "npm"), root, mtime }) : {};
  timings.npm = Date.now() - t0;
  return { signatures, sizes, npm: npmFiles, timings };
}

const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

async function main(argv) {
  const t0 = Date.now();
  const stage = argv[0] && !argv[0].startsWith("--") ? argv[0] : "all";
  const ti = argv.indexOf("--targets");
  const only = ti >= 0 ? argv[ti + 1].split(",") : null;
  const info = buildInfo();
  if (!SEMVER.test(info.version)) throw new Error(`version ${JSON.stringify(info.version)} is not semver`);
  const binDir = join(RELEASE_DIR, "bin");
  if (stage === "build" || stage === "all") {
    const targets = only ? RELEASE_TARGETS.filter((t) => only.includes(t.id)) : RELEASE_TARGETS;
    if (only && targets.length !== only.length) throw new Error(`unknown target in ${only.join(",")}`);
    if (stage === "all") rmSync(RELEASE_DIR, { recursive: true, force: true });
    mkdirSync(binDir, { recursive: true });
    const built = buildMatrix({
      targets, outDir: binDir, name: (t) => releaseName(info.version, t),
      // Bun keeps its own, now broken, signature in darwin-x64 binaries: sign every darwin binary
      // ad hoc (on macOS the release workflow then re-signs with codesign).
      afterCompile: (t, file) => { if (t.os === "darwin") signFile(file, "difyctl"); },
    });
    for (const b of built) log(`${releaseName(info.version, b.t).padEnd(40)} ${mb(statSync(b.file).size)}`);
  }
  if (stage === "package" || stage === "all") {
    const r = await packageRelease({ dir: RELEASE_DIR, version: info.version });
    for (const s of r.signatures) log(`signature ok: ${s}`);
    for (const t of RELEASE_TARGETS) {
      const raw = statSync(join(binDir, releaseName(info.version, t))).size;
      const packed = r.sizes[archiveName(info.version, t)];
      log(`${archiveName(info.version, t).padEnd(44)} ${mb(packed).padStart(9)}  (binary ${mb(raw)}, ${((packed / raw) * 100).toFixed(0)}%)`);
    }
    for (const [f, n] of Object.entries(r.npm)) log(`npm/${f.padEnd(40)} ${mb(n).padStart(9)}`);
    const total = Object.values(r.sizes).reduce((a, b) => a + b, 0);
    log(`archives ${mb(total)}; signature check ${r.timings.signatures} ms, archives ${(r.timings.archives / 1000).toFixed(1)} s, npm packages ${(r.timings.npm / 1000).toFixed(1)} s`);
  }
  console.log(`release ${info.version} (${info.channel}, ${info.commit}) ${stage}: dist/release/ in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`error: ${e.message}`);
    process.exit(1);
  });
}
