// A seeded fuzzer that feeds every endpoint the CLI calls (found by running every
// command in the command table once and recording its requests) malformed JSON, wrong types,
// bodies over the 16 MiB cap, truncated bodies, wrong content types, dripped bytes, hangs,
// redirects to another origin, SSE garbage and invalid UTF-8. Every case must end with a
// documented exit code, one JSON envelope line under --json, no stack trace, no hang, no token
// in the output, no bearer at the other origin, and a config dir that still makes sense.
//   DIFYCTL_SEED=<n> replays; DIFYCTL_FUZZ_CASE=<i> runs one case verbosely.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Command as CommandSpec, COMMANDS, flagsOf } from "../src/cli/command-table.ts";
import { serializeHostsFile, serializeTokensFile } from "../src/storage/hosts-file.ts";
import { EMAILS, type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { baseEnv, tempDir } from "./helpers.ts";
import { bytes, type CaseState, concat, deepJson, HostileProxy, httpResponse, type Plan, type ProxiedRequest, type RealResponse, startRecorder } from "./stress/hostile.ts";
import { banner, MintLog, outputProblems, pool, readDir, report, type Rng, scale, sessionOf, spawnCli, type SpawnResult, STRESS } from "./stress/lib.ts";

const CASES = Number(process.env.DIFYCTL_FUZZ_CASES ?? scale(250, 4000));
const HUGE_CASES = scale(4, 40);
const CONCURRENCY = scale(32, 32);
const HTTP_TIMEOUT_S = 1;
const ONLY = process.env.DIFYCTL_FUZZ_CASE;

let fake: FakeServer;
let proxy: HostileProxy;
let evil: ReturnType<typeof startRecorder>;
const mints = new MintLog();
beforeAll(async () => {
  fake = await startFakeServer({
    interval: 0.05, slowDownWindowMs: 10, autoApprove: { afterPolls: 1 },
    codeRateLimitPerHour: 0, rateLimitPerToken: 0, accountRateLimitPerMinute: 0, lookupRateLimitPer5Min: 0,
  });
  mints.watch(fake);
  proxy = new HostileProxy(fake.url);
  proxy.start();
  evil = startRecorder();
});
afterAll(async () => { proxy?.stop(); evil?.stop(); await fake?.close(); });

// ------------------------------------------------------------------ scenarios
type SessionKind = "none" | "account" | "sso";
interface Scenario { name: string; args: string[]; session: SessionKind; endpoints: { method: string; path: string }[] }

const APP = IDS.apps.supportChat;
/** Arguments that make each command do its network work (unknown new commands get placeholders). */
function argsFor(spec: CommandSpec, url: string): string[] | null {
  const p = spec.path.join(" ");
  const known: Record<string, string[]> = {
    "auth login": ["--host", url, "--insecure", "--no-browser"],
    "auth logout": [],
    "auth status": flagsOf(spec).some((f) => f.long === "--verify") ? ["--verify"] : [],
    "auth use": [IDS.workspaces.side],
    "auth devices list": [],
    "auth devices revoke": ["--all", "--yes"],
    "get apps": [],
    "get app": [APP],
    "run app": [APP, "hello"],
    "get permitted-external-apps": [],
    "get permitted-external-app": [APP],
    "run permitted-external-app": [APP, "hello"],
    "auth doctor": [],
  };
  if (p in known) return known[p]!;
  if (spec.path[0] === "completion" || spec.path[0] === "help") return null;
  const req = (spec.args ?? []).filter((a) => a.required);
  return req.map((a) => (a.kind === "workspace-id" ? IDS.workspaces.side : a.kind === "shell" ? "bash" : APP));
}
const sessionFor = (spec: CommandSpec): SessionKind =>
  spec.path.join(" ") === "auth login" ? "none" : spec.path.some((w) => w.includes("permitted-external")) ? "sso" : "account";

let caseSeq = 0;
/** A fresh case: its proxy prefix, config dir and (if wanted) a stored session. */
function newCase(kind: SessionKind): { id: string; url: string; dir: string; env: Record<string, string>; st: CaseState; host: string } {
  const id = `c${(++caseSeq).toString(36)}`;
  const st = proxy.open(id);
  const url = proxy.url(id);
  const host = url.replace(/^http:\/\//, "");
  const dir = join(tempDir("difyctl-fuzz-"), "cfg");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (kind !== "none") {
    // Each case signs in as its own account: one case's `devices revoke --all` must not end another's session.
    const gareth = fake.accounts.find((a) => a.email === EMAILS.gareth)!;
    const acct = { ...gareth, id: crypto.randomUUID(), email: `${id}@fuzz.example`, name: `Fuzz ${id}` };
    fake.accounts.push(acct);
    const sso = { ...fake.ssoSubjects[0]!, email: `${id}@sso.example` };
    fake.ssoSubjects.push(sso);
    const { token, tokenId } = fake.mintToken(kind === "sso" ? sso.email : acct.email);
    const ws = acct.memberships.map((m) => ({ id: m.workspaceId, name: fake.workspaces.find((w) => w.id === m.workspaceId)!.name, role: m.role }));
    const meta = kind === "account"
      ? { current_host: host, scheme: "http" as const, subject_type: "account" as const, account: { id: acct.id, email: acct.email, name: acct.name },
          workspace: ws[0]!, available_workspaces: ws, token_storage: "file" as const, token_id: tokenId, token_expires_at: null }
      : { current_host: host, scheme: "http" as const, subject_type: "external_sso" as const, account: null, available_workspaces: [],
          external_sso: { email: sso.email, issuer: sso.issuer }, token_storage: "file" as const, token_id: tokenId, token_expires_at: null };
    writeFileSync(join(dir, "hosts.yml"), serializeHostsFile(meta), { mode: 0o600 });
    writeFileSync(join(dir, "tokens.yml"), serializeTokensFile({ tokens: { [tokenId]: { host, bearer: token, expires_at: null } } }), { mode: 0o600 });
  }
  const env = baseEnv(dir, { DIFY_TOKEN_STORAGE: "file", DIFY_HTTP_TIMEOUT: String(HTTP_TIMEOUT_S) });
  return { id, url, dir, env, st, host };
}

const scenarios: Scenario[] = [];
async function discover(): Promise<void> {
  for (const spec of COMMANDS) {
    const kind = sessionFor(spec);
    const c = newCase(kind);
    const args = argsFor(spec, c.url);
    if (!args) continue;
    // The agent's two-step sign-in, if the command has it: the first step alone talks to the server.
    if (spec.path.join(" ") === "auth login" && flagsOf(spec).some((f) => f.long === "--no-wait")) {
      const c2 = newCase("none");
      await spawnCli([...spec.path, "--host", c2.url, "--insecure", "--no-browser", "--no-wait", "--json"], { env: c2.env, timeoutMs: 20_000 });
      const seen2 = [...new Map(c2.st.requests.map((q) => [`${q.method} ${q.path.split("?")[0]}`, { method: q.method, path: q.path.split("?")[0]! }])).values()];
      if (seen2.length) scenarios.push({ name: "auth login", args: ["--no-wait"], session: "none", endpoints: seen2 });
    }
    const r = await spawnCli([...spec.path, ...args, "--json"], { env: c.env, timeoutMs: 20_000 });
    const seen = new Map<string, { method: string; path: string }>();
    for (const q of c.st.requests) {
      const path = q.path.split("?")[0]!;
      seen.set(`${q.method} ${path}`, { method: q.method, path });
    }
    if (seen.size) scenarios.push({ name: spec.path.join(" "), args, session: kind, endpoints: [...seen.values()] });
    else if (r.code !== 0 && !["auth use", "auth status", "auth whoami", "version"].includes(spec.path.join(" "))) {
      console.log(`[fuzz] ${spec.path.join(" ")} made no request (exit ${r.code}): ${r.stderr.slice(0, 200)}`);
    }
  }
}

// ------------------------------------------------------------------ mutations
const STATUSES = [200, 200, 200, 200, 201, 202, 204, 299, 400, 401, 403, 404, 405, 409, 410, 413, 418, 422, 429, 500, 502, 503, 504, 599];
const CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/html; charset=utf-8", "text/plain", "application/octet-stream",
  "text/event-stream", "application/problem+json", "application/json; charset=iso-8859-1", "", "garbage/\u00ff"];
const WEIRD_VALUES: (() => unknown)[] = [
  () => null, () => 0, () => -1, () => 1e308, () => true, () => "", () => [], () => ({}), () => "x".repeat(70_000),
  () => "\u001b[2J\u001b[31mred\u0007\r\n\u009b", () => "../../etc/passwd", () => "javascript:alert(1)", () => "%s%n%x",
  () => "\u202e\u200bbidi", () => "http://127.0.0.1:9/phish\u001b]8;;http://evil/\u0007x", () => "file:///etc/passwd", () => [[[[[[[[[[1]]]]]]]]]], () => ({ __proto__: { polluted: true }, constructor: { prototype: { x: 1 } } }),
  () => Number.MAX_SAFE_INTEGER + 2, () => "2026-13-45T99:99:99Z", () => "NaN", () => -0, () => "🦀".repeat(1000),
];

/** Walks a JSON value and replaces, removes or corrupts one random node. */
function mutateJson(v: unknown, rng: Rng, echo: string): unknown {
  const paths: (string | number)[][] = [];
  const walk = (x: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (p.length > 6) return;
    if (Array.isArray(x)) x.slice(0, 20).forEach((y, i) => walk(y, [...p, i]));
    else if (x && typeof x === "object") for (const k of Object.keys(x)) walk((x as Record<string, unknown>)[k], [...p, k]);
  };
  walk(v, []);
  const clone = structuredClone(v);
  const path = rng.pick(paths);
  const value = rng.chance(0.15) ? echo : rng.pick(WEIRD_VALUES)();
  if (path.length === 0) return value;
  let parent: any = clone;
  for (const k of path.slice(0, -1)) parent = parent[k];
  const key = path[path.length - 1]!;
  if (rng.chance(0.25) && !Array.isArray(parent)) delete parent[key];
  else parent[key] = value;
  return clone;
}

function headerFor(rng: Rng, ct: string, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  if (ct) h["Content-Type"] = ct;
  if (rng.chance(0.15)) h["Retry-After"] = rng.pick(["0", "1", "-1", "abc", "3600", "99999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 01 Jan 2100 00:00:00 GMT", ""]);
  if (rng.chance(0.05)) h["Set-Cookie"] = "a=" + "b".repeat(3000);
  if (rng.chance(0.05)) h["X-Junk"] = "\u00ff\u00fe";
  return h;
}

const INVALID_UTF8 = new Uint8Array([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc, 0xed, 0xa0, 0x80]);

function sseGarbage(rng: Rng, realText: string, echo: string): string[] {
  const frames = realText.split(/(?<=\n\n)/).filter(Boolean);
  const junk = [
    "data: {not json}\n\n", "data: null\n\n", "data: []\n\n", "data: 42\n\n", 'data: {"event":42}\n\n', 'data: {"event":"message","answer":42}\n\n',
    'data: {"event":"message_end","metadata":"x"}\n\n', 'data: {"event":"error","status":"x","code":{},"message":[]}\n\n', `data: {"event":"message","answer":"${echo}"}\n\n`,
    "event: error\ndata: \n\n", ": comment\n\n", "retry: -5\n\n", "id: \u0000\n\n", "data: \u001b[2J\n\n", "\r\r\r\n\n", "data:" + "a".repeat(100_000) + "\n\n",
    'data: {"event":"workflow_finished","data":{"outputs":"str","status":9}}\n\n', 'data: {"event":"node_finished","data":null}\n\n', "event: ping\n\n",
  ];
  const out: string[] = [];
  for (const f of frames) {
    if (rng.chance(0.3)) out.push(rng.pick(junk));
    if (rng.chance(0.85)) out.push(rng.chance(0.1) ? f.slice(0, rng.int(f.length)) : f);
  }
  for (let i = rng.int(3); i > 0; i--) out.splice(rng.int(out.length + 1), 0, rng.pick(junk));
  return out;
}

interface Mutation { name: string; slow?: boolean; huge?: boolean; status?: number; plan: (req: ProxiedRequest, real: () => Promise<RealResponse>) => Promise<Plan> }

function bearerOf(req: ProxiedRequest): string {
  return (req.headers.authorization ?? "").replace(/^Bearer\s+/i, "") || "dfoa_notoken";
}

function pickMutation(rng: Rng, allowHuge: boolean): Mutation {
  const kinds = ["json-mutate", "json-truncate", "status-swap", "content-type", "random-json", "invalid-utf8", "wire-truncate", "wire-garbage",
    "chunked-garbage", "drop", "hang", "slow-headers", "slow-body", "redirect", "sse", "sse-stall", "echo-error", "deep-json", "empty"] as const;
  const kind = allowHuge && rng.chance(0.5) ? "huge" : rng.pick(kinds);
  const status = rng.pick(STATUSES);
  switch (kind) {
    case "json-mutate": return {
      name: `${kind}:${status}`, status, plan: async (req, real) => {
        const r = await real();
        let v: unknown;
        try { v = JSON.parse(new TextDecoder().decode(r.body)); } catch { v = { error: "x" }; }
        return { chunks: [httpResponse(status, headerFor(rng, "application/json"), JSON.stringify(mutateJson(v, rng, bearerOf(req))))] };
      },
    };
    case "json-truncate": return {
      name: kind, status: 200, plan: async (_req, real) => {
        const r = await real();
        return { chunks: [httpResponse(r.status, { ...r.headers }, r.body.slice(0, rng.int(Math.max(1, r.body.length))))] };
      },
    };
    case "status-swap": return {
      name: `${kind}:${status}`, status, plan: async (_req, real) => {
        const r = await real();
        return { chunks: [httpResponse(status, r.headers, r.body)] };
      },
    };
    case "content-type": return {
      name: kind, status: 200, plan: async (_req, real) => {
        const r = await real();
        const ct = rng.pick(CONTENT_TYPES);
        const body = rng.chance(0.5) ? r.body : bytes("<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>");
        return { chunks: [httpResponse(rng.chance(0.7) ? r.status : status, headerFor(rng, ct), body)] };
      },
    };
    case "random-json": {
      const body = rng.pick(["null", "[]", "{}", "42", '"str"', "true", '{"error":null}', '{"error":{}}', '{"code":1,"message":2}', '{"data":"x","has_more":"yes","page":-1}',
        '{"data":[null,1,"x",[]],"has_more":true,"page":1}', '{"token":123}', '{"device_code":"","user_code":"","verification_uri":""}', '{"version":{}}']);
      return { name: `${kind}:${status}`, status, plan: async () => ({ chunks: [httpResponse(status, headerFor(rng, "application/json"), body)] }) };
    }
    case "invalid-utf8": return {
      name: `${kind}:${status}`, status, plan: async (_req, real) => {
        const r = await real();
        const at = rng.int(r.body.length + 1);
        return { chunks: [httpResponse(status, { ...r.headers }, concat(r.body.slice(0, at), INVALID_UTF8, r.body.slice(at)))] };
      },
    };
    case "wire-truncate": return {
      name: kind, status: 200, plan: async (_req, real) => {
        const r = await real();
        const full = httpResponse(r.status, { ...r.headers, "Content-Length": String(r.body.length + 100) }, r.body);
        return { chunks: [full.slice(0, rng.int(full.length))] };
      },
    };
    case "wire-garbage": {
      const g = rng.pick([
        "HELLO\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n", "HTTP/1.1 200\r\n", "HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\n{}", "\u0000\u0001\u0002\u0003",
        "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + "X: y\r\n".repeat(5000) + "\r\n{}", "HTTP/1.1 200 OK\nContent-Length: 2\n\n{}",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
      ]);
      return { name: kind, plan: async () => ({ chunks: [bytes(g)] }) };
    }
    case "chunked-garbage": {
      const g = rng.pick(["zz\r\n{}\r\n0\r\n\r\n", "5\r\n{}\r\n", "ffffffffffffffff\r\n{}\r\n", "2\r\n{}\r\n", "-1\r\n\r\n", "2;ext=\u00ff\r\n{}\r\n0\r\n\r\n"]);
      return { name: kind, plan: async () => ({ chunks: [bytes(`HTTP/1.1 ${status} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${g}`)] }) };
    }
    case "drop": return { name: kind, plan: async () => ({ chunks: [new Uint8Array()] }) };
    case "hang": return { name: kind, slow: true, plan: async () => ({ chunks: [new Uint8Array()], hang: true }) };
    case "slow-headers": return {
      name: kind, slow: true, plan: async () => {
        const full = httpResponse(200, { "Content-Type": "application/json" }, "{}");
        return { chunks: [...full].map((b) => new Uint8Array([b])), delayMs: 150 };
      },
    };
    case "slow-body": return {
      name: kind, slow: true, plan: async (_req, real) => {
        const r = await real();
        const body = r.body.length ? r.body : bytes("{}");
        const head = httpResponse(r.status, { ...r.headers, "Content-Length": String(body.length + 400) }, new Uint8Array());
        // Drips a byte every 100 ms for at most ~5 s: past the 1 s timeout, but finite.
        return { chunks: [head, ...[...concat(body, bytes(" ".repeat(400)))].slice(0, 50).map((b) => new Uint8Array([b]))], delayMs: 100 };
      },
    };
    case "redirect": {
      const code = rng.pick([301, 302, 303, 307, 308]);
      return { name: `${kind}:${code}`, status: code, plan: async (req) => ({ chunks: [httpResponse(code, { Location: `${evil.url}${req.path}` }, "")] }) };
    }
    case "sse": return {
      name: `${kind}`, status: 200, plan: async (req, real) => {
        const r = await real();
        const text = new TextDecoder().decode(r.body);
        const frames = sseGarbage(rng, r.headers["content-type"]?.includes("event-stream") ? text : `data: ${text}\n\n`, bearerOf(req));
        const body = bytes(frames.join(""));
        const cut = rng.chance(0.2) ? rng.int(body.length) : body.length;
        const withBad = rng.chance(0.3) ? concat(body.slice(0, cut), INVALID_UTF8) : body.slice(0, cut);
        return { chunks: [httpResponse(200, { "Content-Type": "text/event-stream" }, withBad)] };
      },
    };
    case "sse-stall": return {
      // Headers and maybe a few frames, then silence with the connection open: the stream's idle limit must end it.
      name: kind, slow: true, status: 200, plan: async (_req, real) => {
        const r = await real();
        const isSse = r.headers["content-type"]?.includes("event-stream");
        const frames = isSse ? new TextDecoder().decode(r.body).split(/(?<=\n\n)/).slice(0, rng.int(3)) : [];
        const head = httpResponse(200, { "Content-Type": isSse ? "text/event-stream" : "application/json", "Transfer-Encoding": "chunked" }, new Uint8Array());
        const chunk = (t: string) => bytes(`${t.length.toString(16)}\r\n${t}\r\n`);
        return { chunks: [head, ...frames.filter(Boolean).map((f) => chunk(f)), ...(isSse ? [chunk("event: ping\n\n")] : [chunk('{"data":[')])], delayMs: 20, hang: true };
      },
    };
    case "echo-error": return {
      name: `${kind}:${status}`, status, plan: async (req) => {
        const b = bearerOf(req);
        const body = rng.pick([
          { code: "invalid_token", message: `bearer ${b} is not valid`, hint: `try ${b}` },
          { error: "invalid_grant", error_description: `token ${b}` },
          { error: `x${b}`, message: b },
        ]);
        return { chunks: [httpResponse(status, { "Content-Type": "application/json", "X-Echo": b }, JSON.stringify(body))] };
      },
    };
    case "deep-json": {
      const n = rng.pick([1000, 100_000, 1_000_000]);
      return { name: `${kind}:${n}`, status, plan: async () => ({ chunks: [httpResponse(status, { "Content-Type": "application/json" }, deepJson(n))] }) };
    }
    case "empty": return { name: `${kind}:${status}`, status, plan: async () => ({ chunks: [httpResponse(status, headerFor(rng, rng.pick(CONTENT_TYPES)), "")] }) };
    case "huge": {
      const size = (16 << 20) + 1 + rng.int(2 << 20);
      const shape = rng.pick(["string", "spaces", "array"]);
      return {
        name: `huge:${shape}:${status}`, huge: true, status, plan: async () => {
          const body = new Uint8Array(size).fill(0x20);
          if (shape === "string") { body.set(bytes('{"data":"'), 0); body.fill(0x61, 9, size - 2); body.set(bytes('"}'), size - 2); }
          if (shape === "array") { body[0] = 0x5b; for (let i = 1; i < size - 1; i += 2) { body[i] = 0x31; body[i + 1] = 0x2c; } body[size - 2] = 0x31; body[size - 1] = 0x5d; }
          const ct = rng.chance(0.3) ? "text/event-stream" : "application/json";
          return { chunks: [httpResponse(status, { "Content-Type": ct }, body)] };
        },
      };
    }
  }
}

// ------------------------------------------------------------------ one case
interface CaseResult { problems: string[]; name: string; r?: SpawnResult; kind: string; scenario: string }

async function runCase(i: number, rng: Rng, sc: Scenario, allowHuge: boolean): Promise<CaseResult> {
  const target = rng.pick(sc.endpoints);
  const mut = pickMutation(rng, allowHuge);
  const json = rng.chance(0.75);
  const debug = rng.chance(0.25);
  const c = newCase(sc.session);
  // ×99 on the poll keeps the device poller in its documented 5-retry backoff (1 s → 16 s): ~40 s.
  const longPoll = sc.name === "auth login" && target.path.endsWith("/device/token");
  const times = mut.slow ? 1 + rng.int(2) : rng.pick(longPoll && !STRESS ? [1, 1, 2] : [1, 1, 1, 2, 3, 99]);
  const budgetMs = longPoll && times > 2 ? 55_000 : 20_000;
  c.st.rule = { match: (q) => q.method === target.method && q.path.split("?")[0] === target.path, times, plan: mut.plan };
  const args = sc.name === "auth login" ? ["--host", c.url, "--insecure", "--no-browser", ...sc.args.filter((a) => a === "--no-wait")] : sc.args;
  const env = { ...c.env, ...(debug ? { DIFY_DEBUG: "1" } : {}), ...(!json && rng.chance(0.2) ? { DIFY_OUTPUT: "json" } : {}) };
  const hostsBefore = readText(join(c.dir, "hosts.yml"));
  const evilBefore = evil.requests.length;
  const r = await spawnCli([...sc.name.split(" "), ...args, ...(json ? ["--json"] : [])], { env, timeoutMs: budgetMs + 5000 });
  const name = `#${i} ${sc.name} ${target.method} ${target.path} ${mut.name} ×${times}${json ? " --json" : ""}${debug ? " DIFY_DEBUG=1" : ""}`;
  const problems = outputProblems(r, { json: json || env.DIFY_OUTPUT === "json", report: sc.name === "auth doctor" });
  // Slow answers must be cut by the HTTP timeout: a request waits at most DIFY_HTTP_TIMEOUT.
  if (mut.slow && r.elapsedMs > 12_000) problems.push(`took ${Math.round(r.elapsedMs)} ms with DIFY_HTTP_TIMEOUT=${HTTP_TIMEOUT_S}`);
  if (!mut.slow && r.elapsedMs > budgetMs) problems.push(`took ${Math.round(r.elapsedMs)} ms (budget ${budgetMs} ms)`);
  for (const q of evil.requests.slice(evilBefore)) {
    if (q.headers.authorization || /dfo[ae]_/.test(JSON.stringify(q))) problems.push(`the bearer reached the other origin: ${q.method} ${q.path}`);
    else problems.push(`a request reached the other origin: ${q.method} ${q.path}`);
  }
  // The config dir: parses, one consistent session or none; a session goes only on a 401 or logout.
  const st = readDir(c.dir);
  st.leftovers = st.leftovers.filter((n) => n !== "login-pending.yml");
  // The token endpoint's answer may have been rewritten by the fuzzer: the server's word is all the CLI has.
  sessionOf(st, mints, new Map([[c.host, fake]]), sc.name === "auth login");
  for (const p of st.problems) problems.push(`config dir: ${p}`);
  if (st.leftovers.length) problems.push(`debris: ${st.leftovers.join(", ")}`);
  const hostsAfter = readText(join(c.dir, "hosts.yml"));
  // Byte-dripped answers are not sniffed; a 401 may hide in them, so they are allowed to clear too.
  const mayChange = ["auth login", "auth logout", "auth devices revoke", "auth use"].includes(sc.name) || c.st.sent.includes(401) || mut.name === "slow-headers";
  if (sc.session !== "none" && hostsAfter !== hostsBefore && !mayChange) problems.push("the session changed without a 401");
  return { problems, name, r, kind: mut.name.split(":")[0]!, scenario: sc.name };
}

function readText(p: string): string | null {
  try { return readFileSync(p, "utf8"); } catch { return null; }
}

describe("hostile and broken servers", () => {
  test(`discovery: every command that talks to the server is fuzzed`, async () => {
    await discover();
    console.log(`[fuzz] endpoints: ${scenarios.map((s) => `${s.name} → ${s.endpoints.map((e) => `${e.method} ${e.path}`).join(", ")}`).join("; ")}`);
    expect(scenarios.map((s) => s.name)).toContain("auth login");
    expect(scenarios.map((s) => s.name)).toContain("auth logout");
    const endpoints = new Set(scenarios.flatMap((s) => s.endpoints.map((e) => e.path)));
    expect(endpoints.has("/openapi/v1/oauth/device/code")).toBe(true);
    expect(endpoints.has("/openapi/v1/oauth/device/token")).toBe(true);
  }, 120_000);

  test(`${CASES} seeded cases: documented exit, one envelope, no trace, no hang, no leak`, async () => {
    expect(scenarios.length).toBeGreaterThan(0);
    const rng = banner("fuzz-server");
    const plan = Array.from({ length: CASES }, (_, i) => ({ i, rng: rng.fork(i) }));
    const hugeAt = new Set(Array.from({ length: HUGE_CASES }, (_, k) => Math.floor(((k + 0.5) * CASES) / HUGE_CASES)));
    const failures: CaseResult[] = [];
    const byMutation = new Map<string, { n: number; ms: number }>();
    const byScenario = new Map<string, { n: number; ms: number }>();
    const t0 = performance.now();
    const todo = ONLY !== undefined ? plan.filter((p) => p.i === Number(ONLY)) : plan;
    await pool(todo, CONCURRENCY, async ({ i, rng: r }) => {
      const sc = r.pick(scenarios);
      const res = await runCase(i, r, sc, hugeAt.has(i));
      const t = byMutation.get(res.kind) ?? { n: 0, ms: 0 };
      byMutation.set(res.kind, { n: t.n + 1, ms: t.ms + (res.r?.elapsedMs ?? 0) });
      const u = byScenario.get(res.scenario) ?? { n: 0, ms: 0 };
      byScenario.set(res.scenario, { n: u.n + 1, ms: u.ms + (res.r?.elapsedMs ?? 0) });
      if (ONLY !== undefined) console.log(res.name, res.r);
      if (res.problems.length) failures.push(res);
    });
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const fmt = (m: Map<string, { n: number; ms: number }>) => [...m].map(([k, v]) => `${k} ${v.n}×${Math.round(v.ms / v.n)}ms`).join(", ");
    console.log(`[fuzz] mutations: ${fmt(byMutation)}\n[fuzz] commands: ${fmt(byScenario)}`);
    report("fuzz-server", { cases: todo.length, failures: failures.length, huge_cases: HUGE_CASES, other_origin_requests: evil.requests.length, seconds: Number(secs) });
    for (const f of failures.slice(0, Number(process.env.DIFYCTL_FUZZ_SHOW ?? 15))) {
      console.log(`FAIL ${f.name}\n  ${f.problems.join("\n  ")}\n  exit ${f.r?.code} stdout ${JSON.stringify(f.r?.stdout.slice(0, 300))}\n  stderr ${JSON.stringify(f.r?.stderr.slice(0, 500))}`);
    }
    expect(failures.map((f) => `${f.name}: ${f.problems.join("; ")}`)).toEqual([]);
  }, STRESS ? 1_800_000 : 120_000);
});

describe("hostile bodies, bounded", () => {
  // Each command's list or describe endpoint answers something that is not its shape: a clear
  // "malformed response" (code unknown, exit 1), quickly; never an empty list or a stack overflow.
  const BUDGET_MS = 5000;
  const cases: { cmd: string[]; session: SessionKind; method: string; path: string }[] = [
    { cmd: ["get", "apps"], session: "account", method: "GET", path: "/openapi/v1/apps" },
    { cmd: ["get", "app", APP], session: "account", method: "GET", path: `/openapi/v1/apps/${APP}/describe` },
    { cmd: ["run", "app", APP, "hello"], session: "account", method: "GET", path: `/openapi/v1/apps/${APP}/describe` },
    { cmd: ["auth", "devices", "list"], session: "account", method: "GET", path: "/openapi/v1/account/sessions" },
    { cmd: ["get", "permitted-external-apps"], session: "sso", method: "GET", path: "/openapi/v1/permitted-external-apps" },
    { cmd: ["get", "permitted-external-app", APP], session: "sso", method: "GET", path: "/openapi/v1/permitted-external-apps" },
  ];
  const bodies: [string, string][] = [
    ["a 1,000,000-deep array", deepJson(1_000_000)],
    ["a 1,000,000-deep object", '{"data":'.repeat(1_000_000) + "[]" + "}".repeat(1_000_000)],
    ["a bare array", "[]"],
    ["a bare array of rows", `[{"id":"${APP}","name":"x","mode":"chat"}]`],
    ["data that is not a list", '{"data":"x","has_more":false}'],
    ["rows that are not objects", '{"data":[null,1,"x"],"has_more":false}'],
    ["a number", "42"],
  ];

  async function attempt(c: (typeof cases)[number], body: string, json: boolean) {
    const k = newCase(c.session);
    k.st.rule = {
      match: (q) => q.method === c.method && q.path.split("?")[0] === c.path, times: 99,
      plan: async () => ({ chunks: [httpResponse(200, { "Content-Type": "application/json" }, body)] }),
    };
    const r = await spawnCli([...c.cmd, ...(json ? ["--json"] : [])], { env: k.env, timeoutMs: BUDGET_MS + 10_000 });
    return { r, hits: k.st.hits };
  }

  for (const c of cases) {
    test(`${c.cmd.join(" ")}: ${c.method} ${c.path.replace(APP, "<id>")} answering anything but its shape is an error`, async () => {
      for (const [what, body] of bodies) {
        // The rows-only shapes do not apply to describe (any object of blocks is a description).
        if (c.path.endsWith("/describe") && (what === "data that is not a list" || what === "rows that are not objects")) continue;
        for (const json of [true, false]) {
          const { r, hits } = await attempt(c, body, json);
          const label = `${c.cmd.join(" ")} ← ${what}${json ? " --json" : ""}`;
          expect({ label, hits: hits > 0, code: r.code, problems: outputProblems(r, { json }) }).toEqual({ label, hits: true, code: 1, problems: [] });
          const message = json ? JSON.parse(r.stderr.trim().split("\n").pop()!).error.message : r.stderr;
          expect({ label, message }).toEqual({ label, message: expect.stringMatching(/malformed response|not in the expected format/) });
          expect({ label, fast: r.elapsedMs < BUDGET_MS }).toEqual({ label, fast: true });
          expect(r.stdout).toBe("");
        }
      }
    }, 120_000);
  }

  test("run app: an event nested 1,000,000 levels deep ends the stream with a malformed response, fast; the partial answer is kept", async () => {
    const k = newCase("account");
    const deep = '{"event":"message","answer":'.repeat(1) + '{"a":'.repeat(1_000_000) + "1" + "}".repeat(1_000_000) + "}";
    k.st.rule = {
      match: (q) => q.method === "POST" && q.path === `/openapi/v1/apps/${APP}/run`, times: 1,
      plan: async () => ({ chunks: [httpResponse(200, { "Content-Type": "text/event-stream" }, `data: {"event":"message","answer":"partial"}\n\ndata: ${deep}\n\n`)] }),
    };
    const r = await spawnCli(["run", "app", APP, "hello", "--json"], { env: k.env, timeoutMs: BUDGET_MS + 10_000 });
    expect({ code: r.code, problems: outputProblems(r, { json: true }) }).toEqual({ code: 1, problems: [] });
    expect(JSON.parse(r.stderr.trim().split("\n").pop()!).error.message).toContain("malformed response");
    expect(JSON.parse(r.stdout)).toMatchObject({ answer: "partial" });
    expect(r.elapsedMs).toBeLessThan(BUDGET_MS);
  }, 60_000);
});
