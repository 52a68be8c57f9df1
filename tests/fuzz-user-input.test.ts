// Bad user input. Every flag and argument of every command in the command table gets
// empty, huge, control-character and non-UTF-8 values (raw argv bytes), plus hostile hosts
// (credentials, fragments, odd ports, IPv6, IDN), a --host that is not a Dify server, and odd
// environment variables. Invalid input is a usage error (exit 2) with no request sent; nothing
// crashes, hangs or prints a trace. Traffic goes to 127.0.0.1 (and ::1) only: no value here may
// make the CLI resolve a DNS name.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { argLabel, type Command as CommandSpec, COMMANDS, flagsOf, type ValueKind } from "../src/cli/command-table.ts";
import { serializeHostsFile, serializeTokensFile } from "../src/storage/hosts-file.ts";
import { EMAILS, type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { baseEnv, tempDir } from "./helpers.ts";
import { HostileProxy } from "./stress/hostile.ts";
import { banner, outputProblems, pool, report, type Rng, scale, spawnCli, type SpawnResult, STRESS } from "./stress/lib.ts";

let fake: FakeServer;
let proxy: HostileProxy;
let html: ReturnType<typeof Bun.serve>;
let html404: ReturnType<typeof Bun.serve>;
let jsonAny: ReturnType<typeof Bun.serve>;
let redirector: ReturnType<typeof Bun.serve>;
const foreignHits = { html: 0, html404: 0, json: 0, redirect: 0 };
beforeAll(async () => {
  fake = await startFakeServer({ interval: 0.05, slowDownWindowMs: 10, autoApprove: { afterPolls: 1 }, codeRateLimitPerHour: 0, rateLimitPerToken: 0, accountRateLimitPerMinute: 0 });
  proxy = new HostileProxy(fake.url);
  proxy.start();
  const page = "<!doctype html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>";
  html = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => { foreignHits.html++; return new Response(page, { headers: { "Content-Type": "text/html" } }); } });
  html404 = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => { foreignHits.html404++; return new Response(page, { status: 404, headers: { "Content-Type": "text/html" } }); } });
  jsonAny = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => { foreignHits.json++; return Response.json({ ok: true, data: [] }); } });
  redirector = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => { foreignHits.redirect++; return new Response(null, { status: 302, headers: { Location: "/login?next=/" } }); } });
});
afterAll(async () => { proxy?.stop(); html?.stop(true); html404?.stop(true); jsonAny?.stop(true); redirector?.stop(true); await fake?.close(); });

const APP = IDS.apps.supportChat;
let caseSeq = 0;
/** A signed-in config dir whose host is a private proxy prefix: its request log is this case's alone. */
function signedIn(kind: "account" | "sso"): { env: Record<string, string>; requests: () => number; url: string } {
  const id = `u${(++caseSeq).toString(36)}`;
  const st = proxy.open(id);
  const url = proxy.url(id);
  const host = url.replace(/^http:\/\//, "");
  const dir = join(tempDir("difyctl-uin-"), "cfg");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const acct = fake.accounts.find((a) => a.email === EMAILS.gareth)!;
  const { token, tokenId } = fake.mintToken(kind === "sso" ? EMAILS.sso : EMAILS.gareth);
  const ws = acct.memberships.map((m) => ({ id: m.workspaceId, name: "w", role: m.role }));
  writeFileSync(join(dir, "hosts.yml"), serializeHostsFile(kind === "account"
    ? { current_host: host, scheme: "http", subject_type: "account", account: { id: acct.id, email: acct.email, name: acct.name }, workspace: ws[0]!, available_workspaces: ws, token_storage: "file", token_id: tokenId, token_expires_at: null }
    : { current_host: host, scheme: "http", subject_type: "external_sso", account: null, available_workspaces: [], external_sso: { email: EMAILS.sso, issuer: "https://idp.partner.com" }, token_storage: "file", token_id: tokenId, token_expires_at: null }), { mode: 0o600 });
  writeFileSync(join(dir, "tokens.yml"), serializeTokensFile({ tokens: { [tokenId]: { host, bearer: token, expires_at: null } } }), { mode: 0o600 });
  return { env: baseEnv(dir, { DIFY_TOKEN_STORAGE: "file", DIFY_HTTP_TIMEOUT: "2" }), requests: () => st.requests.length, url };
}

type Val = string | Uint8Array;
const FIFO = (() => { const d = tempDir("difyctl-fifo-"); const p = join(d, "fifo"); execFileSync("mkfifo", [p]); return p; })();
const HOSTILE: { name: string; v: Val; invalid: boolean }[] = [
  { name: "empty", v: "", invalid: true },
  { name: "space", v: " ", invalid: true },
  { name: "tab+newline", v: "\t\n", invalid: true },
  { name: "huge 70 KB", v: "x".repeat(70_000), invalid: true },
  { name: "long 10 KB", v: "y".repeat(10_000), invalid: false },
  { name: "ANSI escape", v: "\u001b[31mred\u001b[0m", invalid: true },
  { name: "OSC 8 link", v: "\u001b]8;;http://evil/\u0007x\u001b]8;;\u0007", invalid: true },
  { name: "newline inside", v: "a\nb", invalid: true },
  { name: "carriage return", v: "abc\rdef", invalid: true },
  { name: "bell + DEL", v: "\u0007\u007f", invalid: true },
  { name: "C1 CSI", v: "\u009b31m", invalid: true },
  { name: "bidi override", v: "\u202eabc", invalid: false },
  { name: "zero-width", v: "\u200b", invalid: false },
  { name: "emoji", v: "🦀🦀", invalid: false },
  { name: "non-UTF-8 ff fe", v: new Uint8Array([0xff, 0xfe]), invalid: true },
  { name: "non-UTF-8 truncated sequence", v: new Uint8Array([0x61, 0xc3]), invalid: true },
  { name: "overlong slash", v: new Uint8Array([0xc0, 0xaf]), invalid: true },
  { name: "dash", v: "-", invalid: false },
  { name: "looks like a flag", v: "--json", invalid: false },
  { name: "path traversal", v: "../../../etc/passwd", invalid: false },
  { name: "url-encoded traversal", v: "..%2f..%2fadmin", invalid: false },
  { name: "query injection", v: "x?admin=1&limit=99999", invalid: false },
  { name: "fragment", v: "x#y", invalid: false },
  { name: "format string", v: "%s%n%x%p", invalid: false },
  { name: "shell metacharacters", v: "'; rm -rf / #`id`$(id)", invalid: false },
  { name: "NaN", v: "NaN", invalid: false },
  { name: "negative", v: "-1", invalid: false },
  { name: "1e309", v: "1e309", invalid: false },
  { name: "zero", v: "0", invalid: false },
  { name: "JSON object", v: '{"a":1}', invalid: false },
  { name: "JSON array", v: "[1,2]", invalid: false },
  { name: "deep JSON", v: "[".repeat(20_000) + "]".repeat(20_000), invalid: false },
  { name: "@ nonexistent file", v: "@/nonexistent/x.json", invalid: false },
  { name: "@ /dev/zero", v: "@/dev/zero", invalid: false },
  { name: "@ directory", v: "@/etc", invalid: false },
  { name: "@ FIFO", v: `@${FIFO}`, invalid: false },
  { name: "a UUID of nothing", v: "00000000-0000-4000-8000-000000000000", invalid: false },
];

/**
 * Whether a value is malformed for a slot, so that the command must refuse it with exit 2 before
 * sending anything. Free text (a query, --name, --inputs) has no such rule; null = do not feed
 * this value (a --host that would make the CLI resolve a DNS name).
 */
function malformedFor(slot: string, v: Val): boolean | null {
  const text = typeof v === "string" ? v : "\ufffd";
  const control = /[\u0000-\u001f\u007f-\u009f\ufffd]/.test(text);
  if (/--host|url/.test(slot)) return control || text.trim() === "" || text.length > 4096 || /#/.test(text) ? true : null;
  if (/workspace|conversation|<id>|<app-id>/.test(slot)) return !/^[A-Za-z0-9_-]{1,64}$/.test(text.trim());
  if (/--mode|<shell>/.test(slot)) return true;
  if (/--limit/.test(slot)) return !(/^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 5000);
  if (/device-label-or-id/.test(slot)) return control || text.trim() === "";
  return false;
}

interface Slot { kind: "option" | "positional"; name: string; index?: number }
function slotsOf(spec: CommandSpec): Slot[] {
  const s: Slot[] = [];
  for (const f of flagsOf(spec)) if (f.takesValue) s.push({ kind: "option", name: f.long });
  (spec.args ?? []).forEach((a, i) => s.push({ kind: "positional", name: argLabel(a), index: i }));
  return s;
}

/** A valid value of each kind, against the fake server: the baseline every case varies one slot of. */
const SAMPLE: Partial<Record<ValueKind, string>> = {
  "workspace-id": IDS.workspaces.side, "app-id": APP, query: "hello", device: "difyctl on fake-host-1", shell: "bash",
};

/** Valid arguments for a command, from its argument specs (a new command needs no entry here). */
function baseline(spec: CommandSpec): string[] {
  return (spec.args ?? []).filter((a) => !a.variadic).map((a) => (a.kind && SAMPLE[a.kind]) ?? "x");
}

const failures: string[] = [];
const tally = { runs: 0, usage: 0, sent_on_usage_error: 0 };

async function runOne(name: string, args: Val[], o: { env: Record<string, string>; requests: () => number; strictInvalid: boolean; json: boolean }): Promise<SpawnResult> {
  const before = o.requests();
  const r = await spawnCli([...args, ...(o.json ? ["--json"] : [])], { env: o.env, timeoutMs: 20_000 });
  tally.runs++;
  const sent = o.requests() - before;
  const jsonMode = o.json || args.includes("--json") || o.env.DIFY_OUTPUT?.toLowerCase() === "json";
  const p = outputProblems(r, { json: jsonMode, report: args[1] === "doctor" });
  if (r.code === 2) { tally.usage++; if (sent && o.strictInvalid) tally.sent_on_usage_error++; }
  if (o.strictInvalid && r.code !== 2) p.push(`expected a usage error (exit 2), got ${r.code}${sent ? ` after ${sent} request(s)` : ""}`);
  // A malformed value is refused before any request; a well-formed one may need the server to be
  // judged (a device label that matches no session), so exit 2 after requests is fine there.
  if (o.strictInvalid && r.code === 2 && sent) p.push(`exit 2 but ${sent} request(s) were sent first`);
  if (r.elapsedMs > 15_000) p.push(`took ${Math.round(r.elapsedMs)} ms`);
  if (p.length) failures.push(`${name}: ${p.join("; ")} (stderr ${JSON.stringify(r.stderr.slice(0, 240))})`);
  return r;
}

function flush(what: string): void {
  const f = failures.splice(0);
  if (f.length) console.log(`[user-input:${what}] ${f.length} failures\n${f.slice(0, 40).join("\n")}`);
  allFailures.push(...f);
  expect(f).toEqual([]);
}
const allFailures: string[] = [];
afterAll(() => report("user-input", { runs: tally.runs, usage_errors: tally.usage, requests_sent_on_usage_error: tally.sent_on_usage_error, failures: allFailures.length }));

describe("bad user input", () => {
  test("every flag and argument of every command with hostile values", async () => {
    const rng = banner("fuzz-user-input");
    const jobs: { name: string; args: Val[]; kind: "account" | "sso"; strictInvalid: boolean; json: boolean }[] = [];
    for (const spec of COMMANDS) {
      if (spec.path.join(" ") === "auth login") continue; // --host is fuzzed below, without DNS
      const kind = spec.path.some((w) => w.includes("permitted-external")) ? "sso" : "account";
      const base = baseline(spec);
      for (const slot of slotsOf(spec)) {
        for (const h of HOSTILE) {
          const malformed = malformedFor(slot.name, h.v);
          if (malformed === null) continue;
          let args: Val[];
          if (slot.kind === "option") args = [...spec.path, ...base, slot.name, h.v];
          else { const b: Val[] = [...base]; while (b.length <= slot.index!) b.push("x"); b[slot.index!] = h.v; args = [...spec.path, ...b]; }
          // `--flag=value` spelling too, for options.
          if (slot.kind === "option" && rng.chance(0.3) && typeof h.v === "string") args = [...spec.path, ...base, `${slot.name}=${h.v}`];
          jobs.push({ name: `${spec.path.join(" ")} ${slot.name}=${h.name}`, args, kind, strictInvalid: malformed, json: rng.chance(0.5) });
        }
      }
      // Flags that take no value, given one; repeated flags; unknown flags; flags in odd places.
      jobs.push({ name: `${spec.path.join(" ")} --json=1`, args: [...spec.path, ...base, "--json=1"], kind, strictInvalid: true, json: false });
      jobs.push({ name: `${spec.path.join(" ")} --json --json`, args: [...spec.path, ...base, "--json", "--json"], kind, strictInvalid: true, json: false });
      jobs.push({ name: `${spec.path.join(" ")} --no-such-flag`, args: [...spec.path, ...base, "--no-such-flag\u001b[2J"], kind, strictInvalid: true, json: true });
      jobs.push({ name: `${spec.path.join(" ")} -Z`, args: [...spec.path, ...base, "-Z"], kind, strictInvalid: true, json: false });
      jobs.push({ name: `${spec.path.join(" ")} extra args`, args: [...spec.path, ...base, "extra1", "extra2", "extra3"], kind, strictInvalid: !spec.args?.some((a) => a.variadic), json: true });
      jobs.push({ name: `${spec.path.join(" ")} 5000 args`, args: [...spec.path, ...Array.from({ length: 5000 }, (_, i) => `a${i}`)], kind, strictInvalid: true, json: true });
    }
    jobs.push({ name: "unknown command", args: ["frobnicate", "\u001b[2J"], kind: "account", strictInvalid: true, json: true });
    jobs.push({ name: "non-UTF-8 command", args: [new Uint8Array([0xff, 0x61, 0x75, 0x74, 0x68])], kind: "account", strictInvalid: true, json: true });
    jobs.push({ name: "flag before command", args: ["--bogus", "auth", "status"], kind: "account", strictInvalid: true, json: true });
    // npm test runs a seeded sample; npm run stress runs all of them.
    const picked = STRESS ? jobs : jobs.filter(() => rng.chance(Math.min(1, 280 / jobs.length)));
    await pool(picked, 16, async (j) => {
      const c = signedIn(j.kind);
      await runOne(j.name, j.args, { env: c.env, requests: c.requests, strictInvalid: j.strictInvalid, json: j.json });
    });
    console.log(`[user-input] ${picked.length} of ${jobs.length} flag/argument cases`);
    flush("flags");
  }, STRESS ? 600_000 : 90_000);

  test("hosts: credentials, fragments, odd ports, IPv6, numeric forms; all without DNS", async () => {
    const port = new URL(fake.url).port;
    const cases: [string, number[]][] = [
      [`http://user:pass@127.0.0.1:${port}`, [2]],
      [`http://user@127.0.0.1:${port}`, [2]],
      [`http://127.0.0.1:${port}@127.0.0.2:${port}`, [2]],
      [`http://127.0.0.1:${port}/#frag`, [2]],
      [`http://127.0.0.1:${port}/?q=1`, [2]],
      [`http://127.0.0.1:${port}#`, [2]],
      ["http://127.0.0.1:65536", [2]],
      ["http://127.0.0.1:99999999999", [2]],
      ["http://127.0.0.1:-1", [2]],
      ["http://127.0.0.1:8x", [2]],
      ["http://[::1", [2]],
      ["http://[fe80::1%25eth0]:1", [2]],
      ["http://[zz::1]:1", [2]],
      ["javascript:alert(1)", [2]],
      ["file:///etc/passwd", [2]],
      ["ftp://127.0.0.1/", [2]],
      ["data:text/html,hi", [2]],
      ["", [2]],
      ["   ", [2]],
      ["http://", [2]],
      ["http://127.0.0.1:" + port + "/" + "p".repeat(3000), [2]],
      ["http://127.0.0.1 :1", [2]],
      [`https://127.0.0.1:${port}/\u001b[2J`, [2]],
      // Valid forms of the loopback address: they sign in (or fail cleanly at the network).
      [`http://127.0.0.1:${port}`, [0]],
      [`HTTP://127.0.0.1:${port}/`, [0]],
      [`  http://127.0.0.1:${port}  `, [0]],
      [`http://[::ffff:127.0.0.1]:${port}`, [0]],
      [`http://2130706433:${port}`, [0]],
      [`http://0x7f.1:${port}`, [0]],
      [`http://127.1:${port}`, [0]],
      [`http://127.0.0.1.:${port}`, [0, 1]],
      [`http://127.0.0.1:${port}/sub/../`, [0]],
      [`http://127.0.0.1:${port}/nope`, [6]],
      ["http://127.0.0.1:1", [1]],
      ["http://[::1]:1", [1]],
      ["http://127.0.0.1:0", [1, 2]],
      [`127.0.0.1:${port}`, [1]], // https by default: TLS to a plain-text server fails cleanly
      [`http://127.0.0.1:${port}`.replace("http", "https"), [1]],
    ];
    for (const [h, exits] of cases) {
      for (const insecure of [true, false]) {
        const dir = join(tempDir("difyctl-host-"), "cfg");
        const before = fake.requests.length;
        const args = ["auth", "login", "--host", h, "--no-browser", ...(insecure ? ["--insecure"] : [])];
        const r = await runOne(`login --host ${JSON.stringify(h.slice(0, 80))}${insecure ? " --insecure" : ""}`, args, {
          env: baseEnv(dir, { DIFY_TOKEN_STORAGE: "file", DIFY_HTTP_TIMEOUT: "2" }), requests: () => fake.requests.length - before + 0, strictInvalid: false, json: true,
        });
        const want = !insecure && h.trim().toLowerCase().startsWith("http://") ? [2] : exits;
        if (!want.includes(r.code)) failures.push(`login --host ${JSON.stringify(h.slice(0, 80))}${insecure ? " --insecure" : ""}: exit ${r.code}, expected ${want.join("/")} (${r.stderr.slice(-200)})`);
      }
    }
    flush("hosts");
  }, 120_000);

  test("IDN and homograph hosts are normalised offline (environment session, no request)", async () => {
    const cases: [string, RegExp][] = [
      ["https://bücher.example", /"host":"xn--bcher-kva\.example"/],
      ["https://ⅾify.example", /"host":"dify\.example"/], // U+217E maps to "d"
      ["https://DIFY.EXAMPLE./", /"host":"dify\.example\.?"/],
      ["https://xn--bcher-kva.example:8443/base/", /"host":"xn--bcher-kva\.example:8443\/base"/],
    ];
    for (const [h, re] of cases) {
      const dir = join(tempDir("difyctl-idn-"), "cfg");
      const env = baseEnv(dir, { DIFY_TOKEN: `dfoa_${"A".repeat(43)}`, DIFY_HOST: h, DIFY_WORKSPACE_ID: "ws1" });
      const r = await runOne(`DIFY_HOST=${h}`, ["auth", "status"], { env, requests: () => 0, strictInvalid: false, json: true });
      if (r.code !== 0 || !re.test(r.stdout)) failures.push(`DIFY_HOST=${h}: exit ${r.code}, stdout ${r.stdout}`);
    }
    flush("idn");
  }, 30_000);

  test("--host that is not a Dify server: HTML, HTML 404, any-JSON, login-page redirect", async () => {
    const targets: [string, string, number[], RegExp][] = [
      ["html", `http://127.0.0.1:${html.port}`, [6], /not JSON|not a Dify|Dify server/i],
      ["html404", `http://127.0.0.1:${html404.port}`, [6], /does not implement the OAuth device flow/],
      ["json", `http://127.0.0.1:${jsonAny.port}`, [1], /missing|Dify server/],
      ["redirect", `http://127.0.0.1:${redirector.port}`, [1], /redirect/],
    ];
    for (const [name, url, exits, msg] of targets) {
      for (const cmd of [["auth", "login", "--host", url, "--insecure", "--no-browser"], ...(COMMANDS.some((c) => c.path.join(" ") === "auth doctor") ? [["auth", "doctor", "--host", url]] : [])]) {
        const dir = join(tempDir("difyctl-nondify-"), "cfg");
        const r = await runOne(`${name}: ${cmd.slice(0, 2).join(" ")}`, cmd, { env: baseEnv(dir, { DIFY_TOKEN_STORAGE: "file", DIFY_HTTP_TIMEOUT: "2" }), requests: () => 0, strictInvalid: false, json: cmd[1] === "login" });
        if (cmd[1] === "login" && (!exits.includes(r.code) || !msg.test(r.stderr))) failures.push(`${name}: login exit ${r.code} (want ${exits}), stderr ${r.stderr.slice(-300)}`);
      }
    }
    flush("non-dify");
  }, 60_000);

  test("environment variables with odd values", async () => {
    const c0 = signedIn("account");
    const cases: [string, Record<string, string>, number[]][] = [
      ["DIFY_OUTPUT=xml", { DIFY_OUTPUT: "xml" }, [0]],
      ["DIFY_OUTPUT=JSON", { DIFY_OUTPUT: "JSON" }, [0]],
      ["DIFY_TOKEN_STORAGE=floppy", { DIFY_TOKEN_STORAGE: "floppy" }, [0, 2]],
      ["DIFY_CREDENTIAL_STORAGE=keychain", { DIFY_CREDENTIAL_STORAGE: "keychain" }, [0, 2]],
      ["DIFY_HTTP_TIMEOUT=abc", { DIFY_HTTP_TIMEOUT: "abc" }, [0, 2]],
      ["DIFY_HTTP_TIMEOUT=-1", { DIFY_HTTP_TIMEOUT: "-1" }, [0, 2]],
      ["DIFY_HTTP_TIMEOUT=0", { DIFY_HTTP_TIMEOUT: "0" }, [0, 2]],
      ["DIFY_HTTP_TIMEOUT=1e99", { DIFY_HTTP_TIMEOUT: "1e99" }, [0, 2]],
      ["DIFY_DEBUG=\u001b[2J", { DIFY_DEBUG: "\u001b[2J" }, [0]],
      ["DIFY_CONFIG_DIR relative", { DIFY_CONFIG_DIR: "rel/dir" }, [0, 2, 4, 6]],
      ["DIFY_CONFIG_DIR with control chars", { DIFY_CONFIG_DIR: "/tmp/a\u001b[2Jb" }, [0, 2, 4, 6]],
      ["DIFY_CONFIG_DIR 5000 chars", { DIFY_CONFIG_DIR: "/tmp/" + "d".repeat(5000) }, [1, 2, 4, 6]],
      ["DIFY_TOKEN only", { DIFY_TOKEN: `dfoa_${"B".repeat(43)}` }, [2]],
      ["DIFY_TOKEN app- key", { DIFY_TOKEN: `app-${"C".repeat(24)}`, DIFY_HOST: "http://127.0.0.1:1", DIFY_WORKSPACE_ID: "w" }, [4]],
      ["DIFY_TOKEN with newline", { DIFY_TOKEN: `dfoa_${"D".repeat(20)}\nInjected: 1`, DIFY_HOST: "http://127.0.0.1:1", DIFY_WORKSPACE_ID: "w" }, [4]],
      ["DIFY_HOST with credentials", { DIFY_TOKEN: `dfoa_${"E".repeat(43)}`, DIFY_HOST: "http://u:p@127.0.0.1:1", DIFY_WORKSPACE_ID: "w" }, [2]],
      ["DIFY_WORKSPACE_ID hostile", { DIFY_TOKEN: `dfoa_${"F".repeat(43)}`, DIFY_HOST: "http://127.0.0.1:1", DIFY_WORKSPACE_ID: "../../x\u001b" }, [0, 2]],
    ];
    for (const [name, extra, exits] of cases) {
      for (const cmd of [["auth", "status"], ...(COMMANDS.some((c) => c.path.join(" ") === "get apps") ? [["get", "apps"]] : [])]) {
        const r = await runOne(`${name} · ${cmd.join(" ")}`, cmd, { env: { ...c0.env, ...extra }, requests: c0.requests, strictInvalid: false, json: true });
        const allowed = cmd[0] === "get" ? [...exits, 1, 4] : exits;
        if (!allowed.includes(r.code)) failures.push(`${name} · ${cmd.join(" ")}: exit ${r.code}, expected ${allowed.join("/")} (${r.stderr.slice(0, 200)})`);
      }
    }
    flush("env");
  }, 60_000);
});
