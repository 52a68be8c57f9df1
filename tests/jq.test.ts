// --jq through the compiled binary: the real jq (WebAssembly, embedded), on auth status, get apps
// and run app --stream (per line); a bad expression is a usage error before anything is sent;
// the release binaries this machine can run carry the jq module and use it offline.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { baseEnv, envelope, FAST, ROOT, run, tempDir } from "./helpers.ts";

let s: FakeServer;
let env: Record<string, string>;

beforeAll(async () => {
  s = await startFakeServer({ ...FAST, rateLimitPerToken: 0 });
  const t = s.mintToken();
  env = baseEnv(tempDir(), { DIFY_TOKEN: t.token, DIFY_HOST: s.url, DIFY_WORKSPACE_ID: IDS.workspaces.acme });
});
afterAll(async () => { await s.close(); });

describe("--jq", () => {
  test("auth status: a field, raw (strings print without quotes)", async () => {
    const r = await run(["auth", "status", "--jq", ".host"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${new URL(s.url).host}\n`);
    const all = await run(["auth", "status", "--jq", "."], { env });
    expect(JSON.parse(all.stdout).logged_in).toBe(true);
  });

  test("get apps: select and project, one value per line", async () => {
    const r = await run(["get", "apps", "--jq", '.[] | select(.mode == "workflow") | .id'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${IDS.apps.summarizer}\n`);
    const objs = await run(["get", "apps", "--jq", "[.[] | {id, mode}] | length"], { env });
    expect(Number(objs.stdout)).toBeGreaterThan(3);
  });

  test("run app --stream: the filter applies to each event line", async () => {
    const r = await run(["run", "app", IDS.apps.supportChat, "hello", "--stream", "--jq", 'select(.event == "message") | .answer'], { env });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.join("")).toBe(`Thanks for asking about "hello"! Here is what I found.`);
  });

  test("a bad expression is a usage error with jq's message, and nothing is sent", async () => {
    const before = s.requests.length;
    const r = await run(["get", "apps", "--json", "--jq", ".[] | select(.mode =="], { env });
    expect(r.code).toBe(2);
    const e = envelope(r.stderr);
    expect(e.code).toBe("usage_invalid_flag");
    expect(e.message).toStartWith("--jq: syntax error");
    const u = await run(["get", "apps", "--json", "--jq", "nosuchfn(1)"], { env });
    expect(envelope(u.stderr).message).toContain("nosuchfn/1 is not defined");
    expect(s.requests.length).toBe(before);
  });

  test("an expression that does not fit the data is an error naming jq's complaint", async () => {
    const r = await run(["auth", "status", "--json", "--jq", ".host[0]"], { env });
    expect(r.code).toBe(2);
    expect(envelope(r.stderr).message).toContain("Cannot index string");
  });
});

describe("release binaries", () => {
  /** The linux x64 binaries of `npm run release` (read only); else one built here into a temp dir. */
  async function binaries(): Promise<string[]> {
    const dir = join(ROOT, "dist", "release");
    const found = existsSync(dir)
      ? readdirSync(dir, { recursive: true }).map(String).filter((p) => /linux-x64(-baseline)?[/-]difyctl$/.test(p) || /difyctl-[^/]*linux-x64(-baseline)?$/.test(p)).map((p) => join(dir, p))
      : [];
    // A release built before --jq existed says nothing about this source tree: build one instead.
    const fresh = found.filter((p) => statSync(p).mtimeMs >= statSync(join(ROOT, "src", "cli", "jq.ts")).mtimeMs);
    if (fresh.length || process.platform !== "linux" || process.arch !== "x64") return fresh;
    const out = join(tempDir("difyctl-jq-release-"), "difyctl");
    const r = Bun.spawnSync(["node", "--input-type=module", "-e", `import { compile } from "./scripts/build-lib.mjs"; compile({ target: "bun-linux-x64", outfile: ${JSON.stringify(out)} });`], { cwd: ROOT, stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building a linux x64 binary failed: ${r.stderr.toString()}`);
    return [out];
  }

  test.skipIf(process.platform !== "linux" || process.arch !== "x64")("linux x64 release binaries embed the jq module and run --jq offline", async () => {
    const bins = await binaries();
    expect(bins.length).toBeGreaterThan(0);
    for (const bin of bins) {
      // The jq WebAssembly module is inside the binary, byte for byte.
      const wasm = readFileSync(join(ROOT, "node_modules", "jq-wasm", "dist", "build", "jq.wasm"));
      expect(readFileSync(bin).indexOf(wasm.subarray(0, 64 * 1024))).toBeGreaterThan(0);
      // Offline: no server, proxies pointing nowhere; the filter still runs.
      const r = await run(["version", "--jq", ".version"], { env: baseEnv(tempDir(), { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9" }), bin });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    }
  }, 120_000);
});
