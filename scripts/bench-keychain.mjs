// The keychain part of `npm run bench`: keychain-mode `auth status` and `run app` against the same
// commands in file mode and the hello-world baseline, inside a real D-Bus session with an unlocked
// gnome-keyring (a private one started here, so the user's own keyring is never written), plus the
// phase breakdown the binary reports under DIFY_DEBUG_TIMING=1. "via the library" is the path every
// read took before reads went straight to the Secret Service (DIFY_KEYRING_DIRECT=0).
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, ROOT } from "./build-lib.mjs";

const APP = "c0000000-0000-4000-8000-0000000000be";
const WS = "b0000000-0000-4000-8000-000000000001";
const PHASE_RUNS = Number(process.env.BENCH_PHASE_RUNS || 25);
const TARGET = 2.5;

const have = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** A private session bus with an unlocked gnome-keyring, or the caller's bus when the tools are missing. */
function startSession(work) {
  if (!have("dbus-daemon") || !have("gnome-keyring-daemon")) {
    const bus = process.env.DBUS_SESSION_BUS_ADDRESS;
    return bus ? { bus, env: { DBUS_SESSION_BUS_ADDRESS: bus }, private: false, stop() {} } : null;
  }
  const home = join(work, "keyring-home");
  const rt = join(work, "keyring-run");
  mkdirSync(home);
  mkdirSync(rt);
  chmodSync(rt, 0o700);
  const env = { PATH: process.env.PATH, HOME: home, XDG_RUNTIME_DIR: rt };
  const d = spawnSync("dbus-daemon", ["--session", "--fork", "--print-address=1", "--print-pid=1"], { env });
  if (d.status !== 0) return null;
  const [bus, pid] = d.stdout.toString().trim().split("\n");
  env.DBUS_SESSION_BUS_ADDRESS = bus;
  const pids = [Number(pid)];
  const stop = () => { for (const p of pids.reverse()) try { process.kill(p, "SIGTERM"); } catch { /* gone */ } };
  const g = spawnSync("gnome-keyring-daemon", ["--unlock", "--components=secrets"], { env, input: "difyctl-bench" });
  // The daemon claims its bus name a moment after --unlock returns.
  let owner = null;
  for (let i = 0; i < 100 && !owner; i++) {
    owner = spawnSync("dbus-send", ["--session", "--dest=org.freedesktop.DBus", "--print-reply", "/org/freedesktop/DBus",
      "org.freedesktop.DBus.GetConnectionUnixProcessID", "string:org.freedesktop.secrets"], { env }).stdout.toString().match(/uint32 (\d+)/);
    if (!owner) spawnSync("sleep", ["0.05"]);
  }
  if (owner) pids.push(Number(owner[1]));
  if (g.status !== 0 || !owner) { stop(); return null; }
  return { bus, env: { DBUS_SESSION_BUS_ADDRESS: bus }, private: true, stop };
}

/** A tiny Dify for `run app`: version, describe and a run that ends at once. In its own process (the bench spawns synchronously). */
async function startAppServer(work) {
  const file = join(work, "app-server.mjs");
  writeFileSync(file, `import { createServer } from "node:http";
const APP = ${JSON.stringify(APP)};
const s = createServer((req, res) => {
  req.resume();
  const u = new URL(req.url, "http://x");
  const json = (status, body) => { res.writeHead(status, { "Content-Type": "application/json" }); res.end(JSON.stringify(body)); };
  if (u.pathname === "/openapi/v1/_version") return json(200, { version: "1.14.0", edition: "SELF_HOSTED" });
  if (u.pathname === "/openapi/v1/apps/" + APP + "/describe") return json(200, { info: { id: APP, name: "Bench", mode: "completion" }, parameters: null, input_schema: { type: "object", properties: {}, required: [] } });
  if (u.pathname === "/openapi/v1/apps/" + APP + "/run" && req.method === "POST") {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    return res.end('data: {"event":"message","answer":"ok"}\\n\\ndata: {"event":"message_end","metadata":{}}\\n\\n');
  }
  json(404, { code: "not_found", message: "not found", status: 404 });
});
s.listen(0, "127.0.0.1", () => process.stdout.write(s.address().port + "\\n"));
`);
  const p = spawn("node", [file], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    p.stdout.once("data", (d) => resolve(Number(String(d).trim())));
    p.once("exit", (code) => reject(new Error(`the run-app server exited ${code}`)));
  });
  return { host: `127.0.0.1:${port}`, stop: () => p.kill() };
}

function hostsYml(host, storage, scheme) {
  return [
    `current_host: ${host}`, ...(scheme ? [`scheme: ${scheme}`] : []), "subject_type: account",
    "account:", "  id: a0000000-0000-4000-8000-000000000001", "  email: gareth@dify.ai", "  name: Gareth Chen",
    "workspace:", `  id: ${WS}`, "  name: Acme Corp", "  role: owner",
    "available_workspaces:", `  - id: ${WS}`, "    name: Acme Corp", "    role: owner",
    `token_storage: ${storage}`, "token_id: t-1", "token_expires_at: null", "",
  ].join("\n");
}

function configDir(work, name, host, storage, scheme) {
  const dir = join(work, name);
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, "hosts.yml"), hostsYml(host, storage, scheme), { mode: 0o600 });
  if (storage === "file") {
    writeFileSync(join(dir, "tokens.yml"), `version: 1\ntokens:\n  t-1:\n    host: ${host}\n    bearer: dfoa_${"x".repeat(43)}\n    expires_at: null\n`, { mode: 0o600 });
  }
  return dir;
}

/** Stores the session's bearer in the Secret Service through the library, as login does. */
function storeEntry(session, host) {
  const blob = JSON.stringify({ bearer: `dfoa_${"y".repeat(43)}`, source: "oauth", token_id: "t-1", expires_at: null });
  const code = `const {Entry}=require("@napi-rs/keyring"); new Entry("difyctl",${JSON.stringify(host)},{linux:{store:"secret-service"}}).setPassword(${JSON.stringify(blob)})`;
  return spawnSync(BUN, ["-e", code], { cwd: ROOT, env: { ...process.env, ...session.env } }).status === 0;
}

function deleteEntry(session, host) {
  spawnSync(BUN, ["-e", `const {Entry}=require("@napi-rs/keyring"); new Entry("difyctl",${JSON.stringify(host)},{linux:{store:"secret-service"}}).deletePassword()`], { cwd: ROOT, env: { ...process.env, ...session.env } });
}

/**
 * Sets up the keychain cases. Returns the cases to interleave with the others, `report` to print
 * after the main table, and `stop` to end what was started here.
 */
export async function keychainBench({ bin, env, work }) {
  const session = startSession(work);
  if (!session) {
    return { cases: [], report() { console.log("(keychain mode skipped: no dbus-daemon + gnome-keyring-daemon and no DBUS_SESSION_BUS_ADDRESS)"); }, stop() {} };
  }
  // On the caller's own bus the entry goes under a host no real session uses, and is removed after.
  const statusHost = session.private ? "dify.example.com" : "bench.difyctl.invalid";
  const server = await startAppServer(work);
  const stored = [statusHost, server.host];
  if (!stored.every((h) => storeEntry(session, h))) {
    server.stop();
    session.stop();
    return { cases: [], report() { console.log("(keychain mode skipped: could not store an entry in the Secret Service)"); }, stop() {} };
  }
  const kenv = { ...env, ...session.env };
  const kstatus = configDir(work, "kc-status", statusHost, "keychain");
  const kapp = configDir(work, "kc-app", server.host, "keychain", "http");
  const fapp = configDir(work, "file-app", server.host, "file", "http");
  const cache = join(work, "cache");
  const cases = [
    { name: "difyctl auth status (keychain)", cmd: [bin, "auth", "status"], env: { ...kenv, DIFY_CONFIG_DIR: kstatus } },
    { name: "  same, via the library (before)", cmd: [bin, "auth", "status"], env: { ...kenv, DIFY_CONFIG_DIR: kstatus, DIFY_KEYRING_DIRECT: "0" } },
    { name: "difyctl run app (file store)", cmd: [bin, "run", "app", APP, "--json"], env: { ...env, DIFY_CONFIG_DIR: fapp, DIFY_CACHE_DIR: cache } },
    { name: "difyctl run app (keychain)", cmd: [bin, "run", "app", APP, "--json"], env: { ...kenv, DIFY_CONFIG_DIR: kapp, DIFY_CACHE_DIR: cache } },
  ];

  function phases(caseEnv) {
    const per = new Map();
    const order = [];
    for (let i = 0; i < PHASE_RUNS; i++) {
      const r = spawnSync(bin, ["auth", "status"], { env: { ...caseEnv, DIFY_DEBUG_TIMING: "1" }, stdio: ["ignore", "pipe", "pipe"] });
      for (const line of r.stderr.toString().split("\n")) {
        const m = /^timing: (.+?)\s+\+\s*([\d.]+) ms\s+\(at ([\d.]+) ms\)/.exec(line);
        if (!m) continue;
        if (!per.has(m[1])) { per.set(m[1], { d: [], at: [] }); order.push(m[1]); }
        per.get(m[1]).d.push(Number(m[2]));
        per.get(m[1]).at.push(Number(m[3]));
      }
    }
    return order.map((p) => ({ phase: p, d: per.get(p).d, at: per.get(p).at }));
  }

  function report({ times, median, base }) {
    const k = median(times.get(cases[0].name));
    const lib = median(times.get(cases[1].name));
    const ra = median(times.get(cases[3].name));
    console.log(`keychain auth status: ${(k / base).toFixed(2)}x hello-world (target <= ${TARGET}x: ${k / base <= TARGET ? "met" : "MISSED"}); via the library ${(lib / base).toFixed(2)}x; run app in keychain mode ${(ra / base).toFixed(2)}x`);
    console.log(`(Secret Service: ${session.private ? "a private dbus-daemon + unlocked gnome-keyring started by the bench" : "the caller's session bus"})`);
    for (const [label, caseEnv] of [["direct read (default)", cases[0].env], ["via the library (DIFY_KEYRING_DIRECT=0)", cases[1].env]]) {
      const ps = phases(caseEnv);
      console.log(`\nKEYCHAIN PHASES, auth status, ${label}: median of ${PHASE_RUNS} runs (ms since the runtime started)`);
      console.log("phase".padEnd(42), "+ms".padStart(8), "at".padStart(8));
      for (const p of ps) console.log(p.phase.padEnd(42), median(p.d).toFixed(2).padStart(8), median(p.at).toFixed(2).padStart(8));
    }
  }

  let stopped = false;
  function stop() {
    if (stopped) return;
    stopped = true;
    if (!session.private) for (const h of stored) deleteEntry(session, h);
    server.stop();
    session.stop();
  }
  // A case that fails throws out of the bench: the daemons started here must not outlive it.
  process.once("exit", stop);
  return { cases, report, stop };
}
