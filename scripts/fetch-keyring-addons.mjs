// npm installs only the host's @napi-rs/keyring-<platform> package, but each cross-compiled binary
// must embed its own. This fetches the others with `npm pack` at exactly the installed
// @napi-rs/keyring version, checks each tarball against the integrity recorded in
// package-lock.json, and extracts it into node_modules. Tarballs are cached in .tmp/keyring-addons
// so a later `npm install` that prunes them (npm treats them as extraneous) costs one re-extract.
//
//   node scripts/fetch-keyring-addons.mjs [suffix…]    (default: every addon of the release matrix)
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT } from "./build-lib.mjs";
import { ALL_ADDONS, addonFile, addonPackage } from "./targets.mjs";

export const CACHE = join(ROOT, ".tmp", "keyring-addons");
const MODULES = join(ROOT, "node_modules", "@napi-rs");

export function installedKeyringVersion() {
  const p = join(MODULES, "keyring", "package.json");
  if (!existsSync(p)) throw new Error("@napi-rs/keyring is not installed: run `npm ci` first");
  return JSON.parse(readFileSync(p, "utf8")).version;
}

function lockEntry(pkg) {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
  return lock.packages?.[`node_modules/${pkg}`] ?? null;
}

function sri(buf) {
  return "sha512-" + createHash("sha512").update(buf).digest("base64");
}

/**
 * Makes sure `.tmp/keyring-addons/<suffix>-<version>/` holds the verified package contents and
 * that node_modules has the same `.node`. Returns the path of the verified `.node` (the reference
 * for the embed check: it comes from the locked tarball, not from whatever is in node_modules).
 */
export function ensureAddon(suffix, version = installedKeyringVersion(), log = () => {}) {
  const pkg = addonPackage(suffix);
  const entry = lockEntry(pkg);
  if (!entry?.integrity) throw new Error(`package-lock.json has no integrity for ${pkg}; refresh the lock with \`npm install\``);
  if (entry.version !== version) throw new Error(`package-lock.json pins ${pkg}@${entry.version} but @napi-rs/keyring is ${version}; run \`npm install\``);

  mkdirSync(CACHE, { recursive: true });
  const tgz = join(CACHE, `napi-rs-keyring-${suffix}-${version}.tgz`);
  if (!existsSync(tgz) || sri(readFileSync(tgz)) !== entry.integrity) {
    log(`npm pack ${pkg}@${version}`);
    // Pack into a private dir (run outside the project, so npm never touches package.json or
    // node_modules), check it, then rename it into place: concurrent builds never see half a file.
    const packDir = join(CACHE, `.pack-${process.pid}`);
    rmSync(packDir, { recursive: true, force: true });
    mkdirSync(packDir);
    try {
      execFileSync("npm", ["pack", `${pkg}@${version}`, "--pack-destination", packDir, "--silent", "--ignore-scripts"], {
        cwd: packDir, stdio: ["ignore", "ignore", "pipe"], shell: process.platform === "win32",
      });
      const packed = join(packDir, basename(tgz));
      if (!existsSync(packed)) throw new Error(`npm pack ${pkg}@${version} did not produce ${basename(tgz)}`);
      const got = sri(readFileSync(packed));
      if (got !== entry.integrity) throw new Error(`${pkg}@${version}: tarball integrity ${got} does not match package-lock.json ${entry.integrity}`);
      renameSync(packed, tgz);
    } finally {
      rmSync(packDir, { recursive: true, force: true });
    }
  }

  // Unpack into a private dir, then move it into place in the cache and in node_modules. Another
  // build may be doing the same at the same moment, so a directory that already holds the same
  // bytes is kept, and one is never deleted before its replacement is ready.
  const stage = join(CACHE, `.${suffix}-${version}.tmp-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  try {
    execFileSync("tar", ["-xzf", tgz, "-C", stage, "--strip-components=1"], { stdio: ["ignore", "ignore", "pipe"] });
    const meta = JSON.parse(readFileSync(join(stage, "package.json"), "utf8"));
    if (meta.name !== pkg || meta.version !== version) throw new Error(`${tgz} holds ${meta.name}@${meta.version}, not ${pkg}@${version}`);
    if (!existsSync(join(stage, addonFile(suffix)))) throw new Error(`${pkg}@${version} has no ${addonFile(suffix)}`);
    const want = readFileSync(join(stage, addonFile(suffix)));
    const unpacked = join(CACHE, `${suffix}-${version}`);
    placeDir(stage, unpacked, addonFile(suffix), want, () => {});
    placeDir(unpacked, join(MODULES, `keyring-${suffix}`), addonFile(suffix), want, log);
    // The reference for the embed check comes from the locked tarball, not from node_modules.
    return join(unpacked, addonFile(suffix));
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Makes `dest` a copy of `src` unless dest/<file> already has `want`'s bytes. */
function placeDir(src, dest, file, want, log) {
  const ok = () => existsSync(join(dest, file)) && readFileSync(join(dest, file)).equals(want);
  if (ok()) return;
  log(existsSync(dest) ? `warning: ${dest} differs from the locked tarball; replacing it` : `extracting ${basename(dest)} into ${basename(dirname(dest))}`);
  const tmp = `${dest}.tmp-${process.pid}`;
  const old = `${dest}.old-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(src, tmp, { recursive: true });
  try { renameSync(dest, old); } catch (e) { if (e.code !== "ENOENT") throw e; }
  try { renameSync(tmp, dest); } catch (e) { if (!ok()) throw e; } // a concurrent run put the same bytes there
  rmSync(tmp, { recursive: true, force: true });
  rmSync(old, { recursive: true, force: true });
  if (!ok()) throw new Error(`${dest}/${file} does not match the locked tarball after extraction`);
}

/** Fetches every suffix; returns { suffix: verified .node path }. Throws (naming all failures) if any is missing. */
export function ensureAddons(suffixes = ALL_ADDONS, log = (m) => process.stderr.write(m + "\n")) {
  const version = installedKeyringVersion();
  const out = {};
  const failures = [];
  for (const s of suffixes) {
    try { out[s] = ensureAddon(s, version, log); } catch (e) { failures.push(`${addonPackage(s)}: ${e.message}`); }
  }
  if (failures.length) throw new Error(`cannot provide every keyring addon:\n  ${failures.join("\n  ")}`);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const got = ensureAddons(process.argv.length > 2 ? process.argv.slice(2) : ALL_ADDONS);
    for (const [s, p] of Object.entries(got)) console.log(`${addonPackage(s)}@${installedKeyringVersion()}  ${p}`);
  } catch (e) {
    console.error(`error: ${e.message}`);
    process.exit(1);
  }
}
