// install.sh against a local release mirror (Bun.serve on 127.0.0.1), run by dash, bash and
// busybox sh. Platform detection is steered with fake `uname`/`ldd`/`sysctl` early in PATH (and a
// fake root for the C library loaders), so the script's real detection code runs. Releases are
// archives made by the release's own tar writer; the real host binary (dist/difyctl, built by
// `npm test`) is served where a test runs what it installed, elsewhere a tiny shell script.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { BIN as BUILT, ROOT, tempDir } from "./helpers.ts";
// @ts-ignore -- plain .mjs build script
import { tar } from "../scripts/archive.mjs";

const INSTALL_SH = join(ROOT, "install.sh");
const LATEST = "2.0.0";

type Body = { file: string } | { text: string } | { bytes: Uint8Array };
const routes = new Map<string, Body>();
const requests: string[] = [];
let server: ReturnType<typeof Bun.serve>;
let base = "";

const sha256 = (data: string | Uint8Array) => new Bun.CryptoHasher("sha256").update(data).digest("hex");
const fileSha = (path: string) => sha256(readFileSync(path));
/** A stand-in binary: install.sh runs `<bin> version` before installing it. */
const fakeBinary = (label: string) => `#!/bin/sh\necho "difyctl ${label}"\n`;

/** A release archive as the release writes it: <name>/difyctl plus the files beside it. */
function archive(name: string, binary: { file: string } | { text: string }, inner = "difyctl"): { bytes: Uint8Array } {
  const bin = "file" in binary ? { file: binary.file } : { data: binary.text };
  const entries = [{ name, dir: true }, { name: `${name}/${inner}`, ...bin, mode: 0o755 }, { name: `${name}/LICENSE`, data: "license" }];
  // Level 1: the real binary is 100 MB and the tests only need a valid gzip stream.
  return { bytes: gzipSync(tar(entries, 0), { level: 1 }) };
}
const bodySha = (body: Body) => ("file" in body ? fileSha(body.file) : "text" in body ? sha256(body.text) : sha256(body.bytes));

/** Publishes difyctl-<version>-<suffix>.tar.gz for each suffix, and a SHA256SUMS over them. */
function publish(version: string, binaries: Record<string, { file: string } | { text: string }>, sums?: string | null) {
  const lines: string[] = [];
  for (const [suffix, binary] of Object.entries(binaries)) {
    const name = `difyctl-${version}-${suffix}`;
    const body = archive(name, binary);
    routes.set(`/download/v${version}/${name}.tar.gz`, body);
    lines.push(`${bodySha(body)}  ${name}.tar.gz`);
  }
  if (sums !== null) routes.set(`/download/v${version}/SHA256SUMS`, { text: sums ?? lines.join("\n") + "\n" });
}

const ALL_NAMES = ["linux-x64", "linux-x64-baseline", "linux-x64-musl", "linux-arm64", "linux-arm64-musl", "darwin-x64", "darwin-arm64"];

// A private copy: a concurrent `npm run build` must not change the file between hashing and serving.
const BIN = join(tempDir("difyctl-served-"), "difyctl");
let BIN_SHA = "";

beforeAll(() => {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run npm run build`);
  copyFileSync(BUILT, BIN);
  routes.set("/latest/download/VERSION", { text: `${LATEST}\n` });
  // A "mirror" that answers with a web page (captive portal, wrong URL).
  routes.set("/portal/latest/download/VERSION", { text: "<!doctype html><html><body>Sign in to Wi-Fi</body></html>\n" });
  // 1.0.0: the "old" release an upgrade starts from.
  publish("1.0.0", { "linux-x64": { text: fakeBinary("1.0.0") } });
  // 2.0.0 (latest): the real binary for this host.
  publish("2.0.0", { "linux-x64": { file: BIN } });
  // 4.0.0: stand-ins for every platform, for the detection tests (fast: no 100 MB transfers).
  const v4: Record<string, { text: string }> = {};
  for (const n of ALL_NAMES) v4[n] = { text: fakeBinary(`4.0.0 ${n}`) };
  publish("4.0.0", v4);
  BIN_SHA = fileSha(BIN);
  // Broken releases, one fault each.
  const good = { text: fakeBinary("3") };
  const goodSha = (v: string) => bodySha(routes.get(`/download/v${v}/difyctl-${v}-linux-x64.tar.gz`)!);
  publish("3.0.0", { "linux-x64": good }, `${sha256("something else")}  difyctl-3.0.0-linux-x64.tar.gz\n`);
  publish("3.0.1", { "linux-x64": good }, null);
  routes.set("/download/v3.0.1/SHA256SUMS", { text: `${goodSha("3.0.1")}  difyctl-3.0.1-linux-arm64.tar.gz\n` });
  publish("3.0.2", { "linux-x64": good }, null);
  routes.set("/download/v3.0.2/SHA256SUMS", { text: `${goodSha("3.0.2")}  difyctl-3.0.2-linux-x64.tar.gz\n${sha256("x")}  difyctl-3.0.2-linux-x64.tar.gz\n` });
  publish("3.0.3", { "linux-x64": good }, "<html><body>Not here</body></html>\n");
  publish("3.0.4", { "linux-x64": good }, null);
  routes.set("/download/v3.0.4/SHA256SUMS", { text: `${goodSha("3.0.4").slice(0, 63)}  difyctl-3.0.4-linux-x64.tar.gz\n` });
  publish("3.0.5", { "linux-x64": good }, null);
  // 3.0.6: a verified archive that does not hold <name>/difyctl; 3.0.7: not a gzip stream.
  const wrong = archive("difyctl-3.0.6-linux-x64", good, "difyctl.exe");
  routes.set("/download/v3.0.6/difyctl-3.0.6-linux-x64.tar.gz", wrong);
  routes.set("/download/v3.0.6/SHA256SUMS", { text: `${bodySha(wrong)}  difyctl-3.0.6-linux-x64.tar.gz\n` });
  const notGzip = { text: fakeBinary("3.0.7") };
  routes.set("/download/v3.0.7/difyctl-3.0.7-linux-x64.tar.gz", notGzip);
  routes.set("/download/v3.0.7/SHA256SUMS", { text: `${bodySha(notGzip)}  difyctl-3.0.7-linux-x64.tar.gz\n` });

  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      requests.push(path);
      const body = routes.get(path);
      if (!body) return new Response("not found", { status: 404 });
      if ("file" in body) return new Response(Bun.file(body.file));
      return new Response("text" in body ? body.text : new Uint8Array(body.bytes));
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(() => server?.stop(true));

interface Fake { s?: string; m?: string; musl?: boolean; rosetta?: boolean }
/** A fake / holding only the named C library loaders (for DIFYCTL_TEST_ROOT). */
function loaderRoot(files: string[]): string {
  const root = tempDir("difyctl-root-");
  for (const f of files) { mkdirSync(join(root, f, ".."), { recursive: true }); writeFileSync(join(root, f), ""); }
  return root;
}
const withAvx2 = () => {
  const f = join(tempDir(), "cpuinfo");
  writeFileSync(f, "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2\n");
  return f;
};
/** A directory of fake platform probes to put first in PATH. */
function fakeTools(f: Fake): string {
  const dir = tempDir("difyctl-fakebin-");
  const script = (name: string, body: string) => { writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`); chmodSync(join(dir, name), 0o755); };
  if (f.s || f.m) script("uname", `case "$1" in -m) echo '${f.m ?? "x86_64"}' ;; *) echo '${f.s ?? "Linux"}' ;; esac`);
  // Alpine's ldd: "musl libc (x86_64)" on stderr, exit 1.
  if (f.musl) script("ldd", `echo 'musl libc (x86_64)' >&2; echo 'Version 1.2.5' >&2; exit 1`);
  if (f.rosetta !== undefined) script("sysctl", `echo ${f.rosetta ? 1 : 0}`);
  return dir;
}

/** A PATH holding only busybox applets (an Alpine-like userland), minus `omit`. */
function busyboxPath(omit: string[] = []): string {
  const dir = tempDir("difyctl-busybox-");
  const applets = Bun.spawnSync(["busybox", "--list"]).stdout.toString().split("\n").filter(Boolean);
  for (const a of applets) if (!omit.includes(a)) symlinkSync(Bun.which("busybox")!, join(dir, a));
  return dir;
}

const noAvx2 = () => {
  const f = join(tempDir(), "cpuinfo");
  writeFileSync(f, "processor\t: 0\nflags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx\n");
  return f;
};

interface InstallRun { code: number; stdout: string; stderr: string; dir: string; requested: string[] }
async function install(opts: { shell?: string[]; env?: Record<string, string | undefined>; fake?: Fake; path?: string; dir?: string } = {}): Promise<InstallRun> {
  const dir = opts.dir ?? join(tempDir("difyctl-install-"), "bin");
  const fake = opts.fake ? fakeTools(opts.fake) : null;
  const env: Record<string, string> = {
    PATH: [fake, opts.path ?? process.env.PATH].filter(Boolean).join(":"),
    HOME: tempDir("difyctl-home-"),
    TMPDIR: process.env.TMPDIR ?? "/tmp",
    DIFYCTL_BASE_URL: base,
    DIFYCTL_INSTALL_DIR: dir,
  };
  for (const [k, v] of Object.entries(opts.env ?? {})) if (v === undefined) delete env[k]; else env[k] = v;
  const first = requests.length;
  // Resolve the shell with the test's PATH: the script's PATH may not contain it.
  const [shell, ...shellArgs] = opts.shell ?? ["sh"];
  const p = Bun.spawn([Bun.which(shell) ?? shell, ...shellArgs, INSTALL_SH], { env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  return { code, stdout, stderr, dir, requested: requests.slice(first) };
}

/** A run that downloads, verifies and unpacks the real ~50 MB archive (busybox gunzip is slow). */
const REAL_BINARY_MS = 60_000;
const leftovers = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

describe("install.sh installs a working binary", () => {
  for (const shell of [["sh"], ["bash"], ["busybox", "sh"]]) {
    test(`under ${shell.join(" ")}: latest version, checksum verified, binary runs`, async () => {
      const r = await install({ shell });
      expect(r.stderr).toContain("is not https"); // local mirror warning, not an error
      expect(r.code).toBe(0);
      expect(r.requested).toEqual(["/latest/download/VERSION", "/download/v2.0.0/SHA256SUMS", "/download/v2.0.0/difyctl-2.0.0-linux-x64.tar.gz"]);
      expect(leftovers(r.dir)).toEqual(["difyctl"]);
      const bin = join(r.dir, "difyctl");
      expect(fileSha(bin)).toBe(BIN_SHA);
      const v = Bun.spawnSync([bin, "version", "--json"], { env: { PATH: "/usr/bin:/bin", HOME: tempDir() } });
      expect(v.exitCode).toBe(0);
      expect(JSON.parse(v.stdout.toString())).toMatchObject({ platform: "linux", arch: "x64" });
      expect(r.stdout).toContain(`Installed ${bin}`);
      // The install dir is not in PATH here, so the hint must say how to add it.
      expect(r.stdout).toContain(`export PATH="${r.dir}:$PATH"`);
    }, REAL_BINARY_MS);
  }

  test("Alpine-like busybox userland: wget, busybox sha256sum and busybox tar are enough", async () => {
    const path = busyboxPath();
    expect(readdirSync(path)).toContain("tar");
    const r = await install({ shell: ["busybox", "sh"], path });
    expect(r.stderr).not.toContain("error");
    expect(r.code).toBe(0);
    expect(fileSha(join(r.dir, "difyctl"))).toBe(BIN_SHA);
    expect(leftovers(r.dir)).toEqual(["difyctl"]);
  }, REAL_BINARY_MS);

  test("re-running the same version says it is already up to date (and leaves the verified binary)", async () => {
    const dir = join(tempDir(), "bin");
    const first = await install({ dir, env: { DIFYCTL_VERSION: "4.0.0", DIFYCTL_TEST_CPUINFO: withAvx2() } });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Installed ${join(dir, "difyctl")}: difyctl 4.0.0 linux-x64`);
    writeFileSync(join(dir, "difyctl"), fakeBinary("4.0.0 linux-x64") + "# damaged\n", { mode: 0o755 });
    const again = await install({ dir, env: { DIFYCTL_VERSION: "4.0.0", DIFYCTL_TEST_CPUINFO: withAvx2() } });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`Already up to date: ${join(dir, "difyctl")} (difyctl 4.0.0 linux-x64)`);
    expect(again.stdout).not.toContain("Upgraded");
    expect(readFileSync(join(dir, "difyctl"), "utf8")).toBe(fakeBinary("4.0.0 linux-x64"));
    expect(leftovers(dir)).toEqual(["difyctl"]);
  });

  test("re-running upgrades in place; DIFYCTL_VERSION pins (with or without a leading v)", async () => {
    const dir = join(tempDir(), "bin");
    const old = await install({ dir, env: { DIFYCTL_VERSION: "v1.0.0" } });
    expect(old.code).toBe(0);
    expect(old.requested).not.toContain("/latest/download/VERSION");
    expect(readFileSync(join(dir, "difyctl"), "utf8")).toBe(fakeBinary("1.0.0"));
    const up = await install({ dir, env: { PATH: `${dir}:${process.env.PATH}` } });
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`Upgraded ${join(dir, "difyctl")}: difyctl 1.0.0 -> difyctl `);
    expect(up.stdout).not.toContain("export PATH"); // dir is in PATH now
    expect(fileSha(join(dir, "difyctl"))).toBe(BIN_SHA);
    expect(leftovers(dir)).toEqual(["difyctl"]);
  }, REAL_BINARY_MS);

  test("default install dir is ~/.local/bin, created without root", async () => {
    const home = tempDir("difyctl-home-");
    const r = await install({ env: { DIFYCTL_INSTALL_DIR: undefined, HOME: home, DIFYCTL_VERSION: "1.0.0" } });
    expect(r.code).toBe(0);
    expect(existsSync(join(home, ".local", "bin", "difyctl"))).toBe(true);
  });
});

describe("platform detection picks the right file", () => {
  const cases: [string, Fake, Record<string, string>, string][] = [
    ["Linux x86_64 glibc with AVX2", { s: "Linux", m: "x86_64" }, {}, "linux-x64"],
    ["Linux x86_64 without AVX2", { s: "Linux", m: "x86_64" }, { cpuinfo: "none" }, "linux-x64-baseline"],
    ["Linux x86_64 musl (Alpine)", { s: "Linux", m: "x86_64", musl: true }, {}, "linux-x64-musl"],
    ["Linux aarch64 glibc", { s: "Linux", m: "aarch64" }, {}, "linux-arm64"],
    ["Linux aarch64 musl", { s: "Linux", m: "aarch64", musl: true }, {}, "linux-arm64-musl"],
    ["macOS arm64", { s: "Darwin", m: "arm64" }, {}, "darwin-arm64"],
    ["macOS x86_64", { s: "Darwin", m: "x86_64", rosetta: false }, {}, "darwin-x64"],
    ["macOS x86_64 shell under Rosetta 2", { s: "Darwin", m: "x86_64", rosetta: true }, {}, "darwin-arm64"],
  ];
  for (const [name, fake, extra, want] of cases) {
    test(`${name} -> ${want}`, async () => {
      const env: Record<string, string> = { DIFYCTL_VERSION: "4.0.0" };
      if (extra.cpuinfo) env.DIFYCTL_TEST_CPUINFO = noAvx2();
      const r = await install({ fake, env });
      expect(r.stderr).not.toContain("error");
      expect(r.code).toBe(0);
      expect(r.requested.at(-1)).toBe(`/download/v4.0.0/difyctl-4.0.0-${want}.tar.gz`);
      expect(r.stdout).toContain(`difyctl 4.0.0 ${want}`);
    });
  }

  // The C library by its loader, on a userland without ldd (busybox): glibc's loader decides first.
  const loaderCases: [string, string[], string][] = [
    ["glibc with Debian's musl package too (both loaders), no ldd", ["lib64/ld-linux-x86-64.so.2", "lib/ld-musl-x86_64.so.1"], "linux-x64"],
    ["only musl's loader, no ldd", ["lib/ld-musl-x86_64.so.1"], "linux-x64-musl"],
    ["only glibc's loader, no ldd", ["lib64/ld-linux-x86-64.so.2"], "linux-x64"],
    ["no loader found, no ldd: glibc, the common case", [], "linux-x64"],
  ];
  for (const [name, files, want] of loaderCases) {
    test(`${name} -> ${want}`, async () => {
      const path = busyboxPath();
      expect(existsSync(join(path, "ldd"))).toBe(false);
      const r = await install({ shell: ["busybox", "sh"], path, fake: { s: "Linux", m: "x86_64" }, env: { DIFYCTL_VERSION: "4.0.0", DIFYCTL_TEST_ROOT: loaderRoot(files), DIFYCTL_TEST_CPUINFO: withAvx2() } });
      expect(r.stderr).not.toContain("error");
      expect(r.code).toBe(0);
      expect(r.requested.at(-1)).toBe(`/download/v4.0.0/difyctl-4.0.0-${want}.tar.gz`);
    });
  }

  test("musl's ldd wins over a glibc-named loader (Alpine with gcompat)", async () => {
    const r = await install({ fake: { s: "Linux", m: "x86_64", musl: true }, env: { DIFYCTL_VERSION: "4.0.0", DIFYCTL_TEST_ROOT: loaderRoot(["lib64/ld-linux-x86-64.so.2", "lib/ld-musl-x86_64.so.1"]), DIFYCTL_TEST_CPUINFO: withAvx2() } });
    expect(r.code).toBe(0);
    expect(r.requested.at(-1)).toBe("/download/v4.0.0/difyctl-4.0.0-linux-x64-musl.tar.gz");
  });

  test("aarch64: glibc's loader is /lib/ld-linux-aarch64.so.1", async () => {
    const path = busyboxPath();
    const r = await install({ shell: ["busybox", "sh"], path, fake: { s: "Linux", m: "aarch64" }, env: { DIFYCTL_VERSION: "4.0.0", DIFYCTL_TEST_ROOT: loaderRoot(["lib/ld-linux-aarch64.so.1", "lib/ld-musl-aarch64.so.1"]) } });
    expect(r.code).toBe(0);
    expect(r.requested.at(-1)).toBe("/download/v4.0.0/difyctl-4.0.0-linux-arm64.tar.gz");
  });

  test("musl on an x64 CPU without AVX2 fails clearly (there is no such build)", async () => {
    const r = await install({ fake: { s: "Linux", m: "x86_64", musl: true }, env: { DIFYCTL_TEST_CPUINFO: noAvx2(), DIFYCTL_VERSION: "4.0.0" } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("no difyctl build for musl (Alpine) on x64 CPUs without AVX2");
    expect(existsSync(r.dir)).toBe(false);
  });

  for (const [name, fake, msg] of [
    ["FreeBSD", { s: "FreeBSD", m: "amd64" }, "unsupported operating system: FreeBSD"],
    ["32-bit ARM", { s: "Linux", m: "armv7l" }, "unsupported CPU architecture: armv7l"],
    ["Windows (Git Bash)", { s: "MINGW64_NT-10.0-19045", m: "x86_64" }, "winget install LangGenius.difyctl"],
  ] as [string, Fake, string][]) {
    test(`unsupported platform fails before any download: ${name}`, async () => {
      const r = await install({ fake });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(msg);
      expect(r.requested).toEqual([]);
      expect(existsSync(r.dir)).toBe(false);
    });
  }
});

describe("install.sh fails closed", () => {
  const broken: [string, string, string][] = [
    ["3.0.0", "archive does not match its SHA256SUMS line", "checksum mismatch for difyctl-3.0.0-linux-x64"],
    ["3.0.1", "SHA256SUMS lacks the file", "SHA256SUMS has no single entry for difyctl-3.0.1-linux-x64"],
    ["3.0.2", "SHA256SUMS lists the file twice", "SHA256SUMS has no single entry"],
    ["3.0.3", "SHA256SUMS is an HTML page", "SHA256SUMS has no single entry"],
    ["3.0.4", "SHA256SUMS hash is truncated", "malformed"],
    ["3.0.5", "SHA256SUMS is missing (404)", "download failed"],
    ["3.0.6", "the verified archive lacks difyctl-<version>-<os>-<arch>/difyctl", "holds no difyctl-3.0.6-linux-x64/difyctl"],
    ["3.0.7", "the verified file is not a gzip archive", "cannot extract difyctl-3.0.7-linux-x64.tar.gz"],
  ];
  for (const [version, what, msg] of broken) {
    test(`${what}: non-zero exit, existing install untouched, no temp files`, async () => {
      const dir = join(tempDir(), "bin");
      mkdirSync(dir);
      writeFileSync(join(dir, "difyctl"), fakeBinary("previous"), { mode: 0o755 });
      const r = await install({ dir, env: { DIFYCTL_VERSION: version } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(msg);
      expect(readFileSync(join(dir, "difyctl"), "utf8")).toBe(fakeBinary("previous"));
      expect(leftovers(dir)).toEqual(["difyctl"]);
    });
  }

  test("a version that does not exist: download error naming the version", async () => {
    const r = await install({ env: { DIFYCTL_VERSION: "9.9.9" } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("download failed: " + base + "/download/v9.9.9/SHA256SUMS");
    expect(r.stderr).toContain("version 9.9.9 exists");
    expect(existsSync(r.dir)).toBe(false);
  });

  test("a version string that could escape the URL path is refused", async () => {
    const r = await install({ env: { DIFYCTL_VERSION: "1.0.0/../../evil" } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("invalid DIFYCTL_VERSION '1.0.0/../../evil'");
    expect(r.requested).toEqual([]);
  });

  test("a base URL that is not a release mirror: the latest lookup fails clearly", async () => {
    const r = await install({ env: { DIFYCTL_BASE_URL: `${base}/portal` } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("/portal/latest/download/VERSION does not hold a version (starts with '<!doctypehtml><html>')");
    expect(r.requested).toEqual(["/portal/latest/download/VERSION"]);
    expect(existsSync(r.dir)).toBe(false);
  });

  test("network failure (nothing listening): clear error, nothing installed", async () => {
    const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const url = `http://127.0.0.1:${dead.port}`;
    dead.stop(true);
    const r = await install({ env: { DIFYCTL_BASE_URL: url } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`download failed: ${url}/latest/download/VERSION`);
    expect(r.stderr).toContain("DIFYCTL_BASE_URL");
    expect(existsSync(r.dir)).toBe(false);
  });

  test("no SHA-256 tool: says so (and what to install) before any download, instead of a checksum mismatch", async () => {
    const r = await install({ shell: ["busybox", "sh"], path: busyboxPath(["sha256sum"]) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("no SHA-256 tool found (sha256sum, shasum or openssl)");
    expect(r.stderr).toContain("hint: install one: coreutils (sha256sum), perl (shasum) or openssl");
    expect(r.stderr).not.toContain("mismatch");
    expect(r.requested).toEqual([]);
    expect(existsSync(r.dir)).toBe(false);
  });

  test("neither curl nor wget: clear error before any download", async () => {
    const r = await install({ shell: ["busybox", "sh"], path: busyboxPath(["wget"]) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("neither curl nor wget is installed");
    expect(r.requested).toEqual([]);
  });

  test("a non-http(s) base URL is refused", async () => {
    const r = await install({ env: { DIFYCTL_BASE_URL: "file:///etc" } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("DIFYCTL_BASE_URL must start with https://");
  });
});

test("shellcheck finds nothing in install.sh (POSIX sh)", () => {
  const r = Bun.spawnSync(["shellcheck", "--shell=sh", "--severity=style", INSTALL_SH]);
  expect(r.stdout.toString() + r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
});
