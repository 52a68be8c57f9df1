// The secrets scan. Runs AFTER every other test (it is not matched by bun's default
// *.test.ts glob; run it explicitly, last):
//   bun test ./tests/secrets-scan.final.ts
// It first drives every command with DIFY_DEBUG=1 (so debug logs are in the capture), then scans
//   - every byte the test suite captured from the binary (.tmp/captured/*.log, by tests/helpers.ts),
//   - every file in every config dir the tests used (listed in .tmp/captured/dirs/), and their
//     -home and -cache siblings,
// for a minted token (dfoa_/dfoe_ + 43) or device code (dc_ + 32) outside where it belongs
// (tokens.yml for tokens, login-pending.yml for a pending device code). Nothing scanned = failure.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { COMMANDS, flagsOf } from "../src/cli/command-table.ts";
import { maskSecrets, redact } from "../src/ui/redact.ts";
import { EMAILS, type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { baseEnv, CAPTURE_DIR, ROOT, tempDir } from "./helpers.ts";
import { report, spawnCli } from "./stress/lib.ts";

const TOKEN = /dfo[ae]_[A-Za-z0-9_-]{43}/g;
const DEVICE_CODE = /dc_[A-Za-z0-9_-]{32}/g;
const MAX_FILE = 64 << 20;

const servers: FakeServer[] = [];
afterAll(async () => { await Promise.all(servers.map((s) => s.close())); });
const has = (...p: string[]) => COMMANDS.some((c) => c.path.join(" ") === p.join(" "));

interface Finding { where: string; what: string; context: string }

/** Where a secret may legitimately sit on disk. */
function allowedOnDisk(file: string, kind: "token" | "device code"): boolean {
  const n = basename(file);
  if (kind === "token") return n === "tokens.yml" || n.startsWith("tokens.yml.tmp-");
  return n === "login-pending.yml" || n.startsWith("login-pending.yml.tmp-");
}

function scanText(text: string, where: string, onDisk: boolean, out: Finding[]): void {
  for (const [re, kind] of [[TOKEN, "token"], [DEVICE_CODE, "device code"]] as const) {
    re.lastIndex = 0;
    for (const m of text.matchAll(re)) {
      if (onDisk && allowedOnDisk(where, kind)) continue;
      const at = m.index ?? 0;
      out.push({ where: `${where}@${at}`, what: kind, context: JSON.stringify(maskSecrets(text.slice(Math.max(0, at - 60), at + 80))) });
    }
  }
}

function walk(dir: string, files: string[], depth = 0): void {
  if (depth > 6 || !existsSync(dir)) return;
  let st;
  try { st = lstatSync(dir); } catch { return; }
  if (st.isSymbolicLink()) return;
  if (st.isFile()) { files.push(dir); return; }
  if (!st.isDirectory()) return;
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const n of names) walk(join(dir, n), files, depth + 1);
}

describe("secrets scan (run last)", () => {
  test("debug sweep: every command with DIFY_DEBUG=1, including a 401 and a logout", async () => {
    const s = await startFakeServer({ interval: 0.05, slowDownWindowMs: 10, autoApprove: { afterPolls: 1 }, codeRateLimitPerHour: 0, rateLimitPerToken: 0 });
    servers.push(s);
    const dir = join(tempDir("difyctl-secrets-"), "cfg");
    const env = baseEnv(dir, { DIFY_DEBUG: "1", DIFY_TOKEN_STORAGE: "file" });
    const runs: string[][] = [["auth", "login", "--host", s.url, "--insecure", "--no-browser"], ["auth", "status", "-v"], ["auth", "whoami"]];
    if (has("auth", "status")) runs.push(["auth", "status", "--verify", "--json"]);
    if (has("auth", "use")) runs.push(["auth", "use", IDS.workspaces.side]);
    if (has("auth", "devices", "list")) runs.push(["auth", "devices", "list"], ["auth", "devices", "list", "--json"]);
    if (has("get", "apps")) runs.push(["get", "apps"], ["get", "apps", "--json"]);
    if (has("get", "app")) runs.push(["get", "app", IDS.apps.supportChat]);
    if (has("run", "app")) runs.push(["run", "app", IDS.apps.supportChat, "hello"], ["run", "app", IDS.apps.supportChat, "hello", "--stream"]);
    if (has("auth", "doctor")) runs.push(["auth", "doctor"], ["auth", "doctor", "--json"]);
    const outputs: string[] = [];
    for (const args of runs) {
      const r = await spawnCli(args, { env, timeoutMs: 30_000 });
      outputs.push(r.stdout + r.stderr);
    }
    // The token dies on the server: the next call gets a 401 and clears the session (debug on).
    const id = /token_id: (\S+)/.exec(readFileSync(join(dir, "hosts.yml"), "utf8"))?.[1];
    if (id && has("get", "apps")) {
      s.revoke(id);
      const r = await spawnCli(["get", "apps"], { env, timeoutMs: 30_000 });
      expect(r.code).toBe(4);
      outputs.push(r.stdout + r.stderr);
    }
    // Sign in again (another account: the old-token revoke runs too) and out, with --no-wait/--resume if present.
    s.setOption({ autoApprove: { afterPolls: 1, as: EMAILS.alice } });
    for (const args of [["auth", "login", "--host", s.url, "--insecure", "--no-browser", "--json"], ["auth", "login", "--host", s.url, "--insecure", "--no-browser"], ["auth", "logout"]]) {
      const r = await spawnCli(args, { env, timeoutMs: 30_000 });
      outputs.push(r.stdout + r.stderr);
    }
    if (COMMANDS.some((c) => flagsOf(c).some((f) => f.long === "--no-wait"))) {
      for (const args of [["auth", "login", "--host", s.url, "--insecure", "--no-browser", "--no-wait", "--json"], ["auth", "login", "--resume", "--json"], ["auth", "logout"]]) {
        await Bun.sleep(120);
        const r = await spawnCli(args, { env, timeoutMs: 30_000 });
        outputs.push(r.stdout + r.stderr);
      }
    }
    const all = outputs.join("\n");
    expect(all).toContain("debug: >");
    expect(all).toContain("Bearer ***");
    expect(all).not.toMatch(/Bearer (?!\*\*\*)[A-Za-z0-9_-]{6,}/);
  }, 120_000);

  test("redaction rules mask every credential shape the debug log or an error could carry", () => {
    const tok = `dfoa_${"Q".repeat(43)}`;
    const cases = [
      `Authorization: Bearer ${tok}`, `{"Authorization":"Bearer ${tok}"}`, `bearer\t${tok}`, `x${tok}y`, `_${tok}`, `token=${tok}&a=1`,
      `dc_${"R".repeat(32)}`, `xdc_${"R".repeat(32)}`, `"device_code":"dc_${"R".repeat(32)}"`, `dfoe_${"S".repeat(43)}`,
    ];
    for (const c of cases) {
      expect(redact(c)).not.toMatch(/Q{10}|R{10}|S{10}/);
      expect(maskSecrets(c)).not.toMatch(/Q{43}|R{32}|S{43}/);
    }
  });

  test("no minted token or device code in anything the suite captured, the config dirs or the debug logs", () => {
    const findings: Finding[] = [];
    let bytes = 0;
    let files = 0;
    expect(existsSync(CAPTURE_DIR)).toBe(true);
    const logs = readdirSync(CAPTURE_DIR).filter((n) => n.endsWith(".log"));
    for (const n of logs) {
      const p = join(CAPTURE_DIR, n);
      const text = readFileSync(p, "latin1");
      bytes += text.length;
      files++;
      scanText(text, `.tmp/captured/${n}`, false, findings);
    }
    const captureBytes = bytes;
    // Config dirs (and -home/-cache siblings) the tests used: only the token store may hold a token.
    const dirLists = existsSync(join(CAPTURE_DIR, "dirs")) ? readdirSync(join(CAPTURE_DIR, "dirs")) : [];
    const dirs = new Set<string>();
    for (const l of dirLists) for (const d of readFileSync(join(CAPTURE_DIR, "dirs", l), "utf8").split("\n")) if (d) dirs.add(d);
    let dirFiles = 0;
    for (const d of dirs) {
      const found: string[] = [];
      for (const root of [d, `${d}-home`, `${d}-cache`]) walk(root, found);
      for (const f of found) {
        let size = 0;
        try { size = statSync(f).size; } catch { continue; }
        if (size > MAX_FILE) continue;
        let text: string;
        try { text = readFileSync(f, "latin1"); } catch { continue; }
        bytes += text.length;
        dirFiles++;
        scanText(text, f, true, findings);
      }
    }
    report("secrets-scan", { bytes_scanned: bytes, capture_bytes: captureBytes, capture_files: files, config_dirs: dirs.size, config_files: dirFiles, findings: findings.length });
    for (const f of findings.slice(0, 30)) console.log(`FINDING ${f.what} in ${f.where}: ${f.context}`);
    // Nothing scanned is a failure: the scan must have seen the suite's output.
    expect(files).toBeGreaterThan(0);
    expect(captureBytes).toBeGreaterThan(10_000);
    expect(findings).toEqual([]);
  }, 300_000);
});

// Keep ROOT referenced for readers: captures live under ROOT/.tmp/captured.
void ROOT;
