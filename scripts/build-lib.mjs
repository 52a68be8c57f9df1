// Shared by build.mjs (host) and build-all.mjs (every target): one place for the compile flags.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { hostAddon } from "./targets.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const BUN = (() => {
  const bin = join(ROOT, "node_modules", ".bin", process.platform === "win32" ? "bun.exe" : "bun");
  const direct = join(ROOT, "node_modules", "@oven", `bun-${process.platform}-${process.arch}`, "bin", "bun");
  // If npm skipped bun's postinstall, the shim only prints a warning: use the real binary.
  if (existsSync(direct)) return direct;
  return bin;
})();

export function buildInfo() {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  let commit = process.env.DIFYCTL_COMMIT || "";
  if (!commit) {
    try { commit = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] }).toString().trim(); } catch { commit = "unknown"; }
  }
  return {
    version: process.env.DIFYCTL_VERSION || pkg.version,
    channel: process.env.DIFYCTL_CHANNEL || "stable",
    commit,
  };
}

/**
 * Compiles src/main.ts into a standalone binary. `target` is a bun target (bun-linux-x64…) or null
 * for the host. `addon` is the @napi-rs/keyring-<addon> package to embed (default: the host's).
 */
export function compile({ target = null, outfile, entry = "src/main.ts", addon = target ? null : hostAddon() }) {
  const info = buildInfo();
  mkdirSync(dirname(resolve(ROOT, outfile)), { recursive: true });
  const args = [
    // The keychain worker is a second entry point: the native keychain calls run there so the
    // main thread can time them out (src/storage/keychain-store.ts).
    "build", entry, "src/storage/keychain-worker.ts", "--compile", "--minify", "--bytecode", "--splitting", "--format=esm", "--sourcemap",
    // A compiled binary otherwise loads .env and bunfig.toml (with `preload`) from the user's cwd.
    "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
    "--define", `DIFYCTL_VERSION=${JSON.stringify(info.version)}`,
    "--define", `DIFYCTL_CHANNEL=${JSON.stringify(info.channel)}`,
    "--define", `DIFYCTL_COMMIT=${JSON.stringify(info.commit)}`,
    "--outfile", outfile,
  ];
  // napi-rs picks gnu vs musl at run time (isMusl()), so Bun would embed both .node files in every
  // Linux binary and a musl binary could load the gnu one. Pinning the loader's override variable
  // to one package makes the rest of the loader dead code: exactly one .node is embedded.
  if (addon) args.push("--define", `process.env.NAPI_RS_NATIVE_LIBRARY_PATH=${JSON.stringify(`@napi-rs/keyring-${addon}`)}`);
  if (target) args.push(`--target=${target}`);
  const r = spawnSync(BUN, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) {
    process.stderr.write(r.stdout?.toString() ?? "");
    process.stderr.write(r.stderr?.toString() ?? "");
    throw new Error(`bun build failed for ${target ?? "host"} (exit ${r.status})`);
  }
  return { ...info, outfile };
}
