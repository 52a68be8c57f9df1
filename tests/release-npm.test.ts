// The npm channel end to end: the packages `npm run release` writes (made here by the same code,
// from the host binary) are served by a tiny local registry, installed with the real npm into a
// temp prefix, and the installed `difyctl` is run. npm must pick the one platform package that
// matches (os/cpu/libc), and the postinstall must leave the native binary itself as the command.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, lstatSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { BIN, ROOT, tempDir } from "./helpers.ts";
// @ts-ignore -- plain .mjs build scripts
import { NPM_PLATFORMS, npmTarballName, writeNpmPackages } from "../packaging/npm.mjs";
// @ts-ignore
import { RELEASE_TARGETS, releaseName } from "../scripts/targets.mjs";

const SLOW = 120_000;
const hostKey = `${process.platform}-${process.arch}`; // the suite runs on glibc Linux
let version = "";
let server: ReturnType<typeof Bun.serve>;
let registry = "";
const served: string[] = [];

/** package.json inside a .tgz (npm tarballs hold package/package.json). */
function packageJson(tgz: Buffer): any {
  const tar = gunzipSync(tgz);
  for (let off = 0; off + 512 <= tar.length;) {
    const name = tar.toString("utf8", off, off + 100).replace(/\0.*$/s, "");
    const size = parseInt(tar.toString("latin1", off + 124, off + 136), 8);
    if (name === "package/package.json") return JSON.parse(tar.toString("utf8", off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error("no package/package.json");
}

beforeAll(async () => {
  const v = Bun.spawnSync([BIN, "--version"]).stdout.toString().trim();
  version = v.replace(/^difyctl /, "");
  expect(version).toMatch(/^\d+\.\d+\.\d+/);
  // The host binary stands in for this platform's build; the others never leave the registry.
  const dir = tempDir("difyctl-npm-release-");
  const bin = join(dir, "bin");
  mkdirSync(bin);
  for (const id of Object.values(NPM_PLATFORMS as Record<string, string>)) {
    const t = RELEASE_TARGETS.find((x: any) => x.id === id);
    const file = join(bin, releaseName(version, t));
    if (id === NPM_PLATFORMS[hostKey]) copyFileSync(BIN, file);
    else writeFileSync(file, `not the binary for ${id}\n`);
  }
  const out = join(dir, "npm");
  await writeNpmPackages({ version, binDir: bin, outDir: out, root: ROOT, mtime: 1_760_000_000 });

  const packuments = new Map<string, any>();
  const tarballs = new Map<string, Buffer>();
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = decodeURIComponent(new URL(req.url).pathname);
      served.push(path);
      if (path.startsWith("/-/tarballs/")) {
        const tgz = tarballs.get(path.slice("/-/tarballs/".length));
        return tgz ? new Response(new Uint8Array(tgz)) : new Response("not found", { status: 404 });
      }
      const doc = packuments.get(path.slice(1));
      return doc ? Response.json(doc) : Response.json({ error: "not found" }, { status: 404 });
    },
  });
  registry = `http://127.0.0.1:${server.port}/`;
  for (const name of ["difyctl", ...Object.keys(NPM_PLATFORMS).map((k) => `@langgenius/difyctl-${k}`)]) {
    const file = npmTarballName(name, version);
    const tgz = readFileSync(join(out, file));
    tarballs.set(file, tgz);
    const manifest = {
      ...packageJson(tgz),
      dist: {
        tarball: `${registry}-/tarballs/${file}`,
        integrity: `sha512-${new Bun.CryptoHasher("sha512").update(tgz).digest("base64")}`,
        shasum: new Bun.CryptoHasher("sha1").update(tgz).digest("hex"),
      },
    };
    packuments.set(name, { name, "dist-tags": { latest: version }, versions: { [version]: manifest } });
  }
}, SLOW);
afterAll(() => server?.stop(true));

/**
 * `npm install -g` into a fresh prefix from the local registry only, with a private cache and
 * config. Asynchronous: the registry is served from this process.
 */
async function npmInstall(extra: string[] = []) {
  const home = tempDir("difyctl-npm-home-");
  const prefix = join(home, "prefix");
  const npmrc = join(home, ".npmrc");
  const globalrc = join(home, "npmrc-global");
  writeFileSync(npmrc, "");
  writeFileSync(globalrc, "");
  const first = served.length;
  const p = Bun.spawn(["npm", "install", "--global", "--prefix", prefix, "--registry", registry, "--cache", join(home, "cache"),
    "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=warn", ...extra, `difyctl@${version}`], {
    env: { PATH: process.env.PATH!, HOME: home, npm_config_userconfig: npmrc, npm_config_globalconfig: globalrc, TMPDIR: process.env.TMPDIR ?? "/tmp" },
    stdout: "pipe", stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out: stdout + stderr, prefix, home, requested: served.slice(first) };
}

function runInstalled(prefix: string, home: string, args: string[]) {
  const r = Bun.spawnSync([join(prefix, "bin", "difyctl"), ...args], {
    env: { PATH: `${join(prefix, "bin")}:/usr/bin:/bin`, HOME: home, DIFY_CONFIG_DIR: join(home, "difyctl-config") },
  });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const isElf = (f: string) => readFileSync(f).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));

describe("npm install -g difyctl", () => {
  test("downloads only this platform's package; the command is the native binary (no Node launcher); --version and auth status run", async () => {
    const r = await npmInstall();
    expect(r.out).not.toContain("ERR");
    expect(r.code).toBe(0);
    const tarballs = r.requested.filter((p) => p.startsWith("/-/tarballs/")).sort();
    expect(tarballs).toEqual([`/-/tarballs/difyctl-${version}.tgz`, `/-/tarballs/langgenius-difyctl-${hostKey}-${version}.tgz`].sort());
    const link = join(r.prefix, "bin", "difyctl");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    const target = realpathSync(link);
    expect(target).toBe(join(r.prefix, "lib", "node_modules", "difyctl", "bin", "difyctl"));
    expect(isElf(target)).toBe(true); // the launcher was replaced by the binary itself
    expect(readFileSync(target).equals(readFileSync(BIN))).toBe(true);
    const v = runInstalled(r.prefix, r.home, ["--version"]);
    expect(v.stdout).toBe(`difyctl ${version}\n`);
    expect(v.code).toBe(0);
    const s = runInstalled(r.prefix, r.home, ["auth", "status"]);
    expect(s.stdout + s.stderr).toContain("Not logged in");
    expect(s.code).toBe(4);
  }, SLOW);

  test("with --ignore-scripts the Node launcher stays and runs the same binary", async () => {
    const r = await npmInstall(["--ignore-scripts"]);
    expect(r.code).toBe(0);
    const target = realpathSync(join(r.prefix, "bin", "difyctl"));
    expect(readFileSync(target, "utf8").startsWith("#!/usr/bin/env node")).toBe(true);
    const v = runInstalled(r.prefix, r.home, ["--version"]);
    expect(v.stdout).toBe(`difyctl ${version}\n`);
    expect(v.code).toBe(0);
    const s = runInstalled(r.prefix, r.home, ["auth", "status", "--json"]);
    expect(s.code).toBe(4); // the launcher passes the exit status on
  }, SLOW);

  test("a missing platform package (a --no-optional install, an unsupported npm): the launcher and the postinstall say how to fix it", async () => {
    const r = await npmInstall(["--ignore-scripts"]);
    expect(r.code).toBe(0);
    rmSync(join(r.prefix, "lib", "node_modules", "difyctl", "node_modules", "@langgenius", `difyctl-${hostKey}`), { recursive: true });
    const want = `@langgenius/difyctl-${hostKey}, which holds the binary for ${hostKey}, is not installed: reinstall difyctl without --omit=optional`;
    const v = runInstalled(r.prefix, r.home, ["--version"]);
    expect(v.stderr).toContain(want);
    expect(v.code).toBe(1);
    const pkgDir = join(r.prefix, "lib", "node_modules", "difyctl");
    const post = Bun.spawnSync(["node", "install.cjs"], { cwd: pkgDir });
    expect(post.stderr.toString()).toContain(`difyctl: ${want}`);
    expect(post.exitCode).toBe(1);
    expect(readFileSync(join(pkgDir, "bin", "difyctl"), "utf8").startsWith("#!/usr/bin/env node")).toBe(true); // launcher untouched
  }, SLOW);
});
