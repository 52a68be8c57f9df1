// Proves each compiled binary carries exactly the right @napi-rs/keyring addon. Bun builds fine
// when the target's package is missing (the binary only breaks at run time, on the user's
// machine), so this is the gate: a full byte match of the verified .node (from the locked npm
// tarball) inside the binary, and no byte match of any other platform's .node.
//
//   node scripts/verify-embed.mjs              checks the build:all outputs in dist/
//   node scripts/verify-embed.mjs <file> <addon-suffix>   checks one binary
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT } from "./build-lib.mjs";
import { ensureAddons } from "./fetch-keyring-addons.mjs";
import { ALL_ADDONS, CORE_TARGETS, addonFile } from "./targets.mjs";

function occurrences(hay, needle) {
  let n = 0;
  for (let i = hay.indexOf(needle); i !== -1; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}

/** Names of the keyring addons Bun embedded (`/$bunfs/root/keyring.<suffix>-<hash>.node`, `B:/~BUN/root/…` on Windows). */
export function embeddedAddonNames(bin) {
  const text = bin.toString("latin1");
  const names = new Set();
  for (const m of text.matchAll(/(?:\$bunfs|~BUN)\/root\/keyring\.([a-z0-9_-]+)-[a-z0-9]{8}\.node/g)) names.add(m[1]);
  return [...names].sort();
}

/**
 * Checks one binary. `references` maps every known suffix to its verified .node path.
 * Returns a list of problems (empty = good).
 */
export function checkBinary(file, expected, references) {
  const problems = [];
  if (!existsSync(file)) return [`${file}: missing`];
  const bin = readFileSync(file);
  for (const [suffix, ref] of Object.entries(references)) {
    const n = occurrences(bin, readFileSync(ref));
    if (suffix === expected && n !== 1) problems.push(`${file}: expected ${addonFile(expected)} embedded once, found ${n} byte-exact copies`);
    if (suffix !== expected && n !== 0) problems.push(`${file}: must not embed ${addonFile(suffix)} (found ${n})`);
  }
  const names = embeddedAddonNames(bin);
  if (names.length !== 1 || names[0] !== expected) problems.push(`${file}: embedded addon names ${JSON.stringify(names)}, want ["${expected}"]`);
  return problems;
}

/** Checks [{file, addon}] against every release addon; throws with all problems at once. */
export function verifyEmbeds(items, log = (m) => process.stderr.write(m + "\n")) {
  const references = ensureAddons(ALL_ADDONS, log);
  const problems = [];
  for (const { file, addon } of items) {
    const p = checkBinary(file, addon, references);
    problems.push(...p);
    if (!p.length) log(`ok  ${file}: embeds exactly ${addonFile(addon)}`);
  }
  if (problems.length) throw new Error(`embed check failed:\n  ${problems.join("\n  ")}`);
}

/** The host as a release target sees it: os (linux/darwin/windows), CPU, and musl on Linux. */
function host() {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const musl = os === "linux" && !process.report?.getReport?.()?.header?.glibcVersionRuntime;
  return { os, arch: process.arch, musl };
}

/**
 * Runs a binary that can execute here (natively, or linux-arm64 under qemu-user when present):
 * `version --json` must report the target, and reading a keychain session must reach native code
 * (on Linux without a session bus: a D-Bus error from the addon, not "could not load"). Returns
 * null when the target cannot run here. musl binaries run on a musl host (Alpine, with
 * `apk add libstdc++`). qemu needs the arm64 glibc and libgcc_s (the addon links libgcc_s.so.1):
 * apt-get install qemu-user libc6-arm64-cross libgcc-s1-arm64-cross.
 */
export function smokeRun(file, target, expect) {
  const qemu = which("qemu-aarch64");
  const h = host();
  const [arch, variant] = target.arch.split("-");
  let prefix = null;
  if (target.os === h.os && (variant === "musl") === h.musl) {
    if (arch === h.arch) prefix = [];
    else if (h.os === "linux" && !h.musl && arch === "arm64" && h.arch === "x64" && qemu && existsSync("/usr/aarch64-linux-gnu/lib/libgcc_s.so.1")) prefix = [qemu, "-L", "/usr/aarch64-linux-gnu"];
  }
  if (!prefix) return null;
  const dir = mkdtempSync(join(tmpdir(), "difyctl-smoke-"));
  try {
    writeFileSync(join(dir, "hosts.yml"), "current_host: dify.example.com\nsubject_type: account\naccount: {id: a1, email: a@example.com, name: A}\ntoken_storage: keychain\ntoken_id: t1\n", { mode: 0o600 });
    chmodSync(dir, 0o700);
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DIFY_CONFIG_DIR: dir, TMPDIR: tmpdir() };
    if (h.os === "linux") env.PATH = "/usr/bin:/bin"; // and no DBUS_SESSION_BUS_ADDRESS: the addon must answer "unavailable"
    const t0 = Date.now();
    const v = spawnSync(prefix[0] ?? file, [...prefix.slice(1), ...(prefix.length ? [file] : []), "version", "--json"], { env, encoding: "utf8", timeout: 120_000 });
    const ms = Date.now() - t0;
    if (v.status !== 0) throw new Error(`${file} version --json exited ${v.status}: ${v.stderr}`);
    const info = JSON.parse(v.stdout);
    const want = { ...expect, platform: target.os, arch };
    for (const [k, val] of Object.entries(want)) if (info[k] !== val) throw new Error(`${file} version --json: ${k}=${info[k]}, want ${val}`);
    const s = spawnSync(prefix[0] ?? file, [...prefix.slice(1), ...(prefix.length ? [file] : []), "auth", "status", "--json"], { env, encoding: "utf8", timeout: 120_000 });
    if (s.stderr.includes("could not load") || (h.os === "linux" && !s.stderr.includes("keyring_unavailable"))) throw new Error(`${file}: the keyring addon did not load: ${s.stderr}`);
    return { ms, via: prefix.length ? "qemu-aarch64" : "native" };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function which(cmd) {
  if (process.platform === "win32") return null;
  for (const d of (process.env.PATH ?? "").split(":")) if (d && existsSync(join(d, cmd))) return join(d, cmd);
  return null;
}

export const coreItems = (dir = join(ROOT, "dist")) =>
  CORE_TARGETS.map((t) => ({ file: join(dir, `difyctl-${t.id}${t.exe ? ".exe" : ""}`), addon: t.addon }));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const items = process.argv.length === 4 ? [{ file: process.argv[2], addon: process.argv[3] }] : coreItems();
    verifyEmbeds(items);
  } catch (e) {
    console.error(`error: ${e.message}`);
    process.exit(1);
  }
}
