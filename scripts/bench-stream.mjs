// node scripts/bench-stream.mjs (or bun): streaming cost of `difyctl run app`, against an
// in-process SSE server, with `curl -N` as the baseline in the same run.
//  (a) latency: the server writes one event, waits for difyctl's --stream line, writes the next;
//      median over BENCH_EVENTS (default 200) of write → line, and the same for curl.
//      Target: difyctl adds < 2 ms per event over curl (median).
//  (b) throughput, reported only (no target: a model streams a few kB/s, so any figure in MB/s is
//      far beyond need): a BENCH_MB (default 50) MB stream of small events, folded by difyctl
//      (--json), next to `curl -N -o /dev/null`; median of BENCH_ROUNDS (default 5) interleaved
//      rounds; and the fixed cost of each (a one-event run), to tell start-up from per-byte work.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:http";
import { join } from "node:path";
import { BUN, ROOT } from "./build-lib.mjs";

const EVENTS = Number(process.env.BENCH_EVENTS || 200);
const MB = Number(process.env.BENCH_MB || 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const WARMUP = 10;
const APP = "c0000000-0000-4000-8000-0000000000be";
const WS = "b0000000-0000-4000-8000-000000000001";
// BENCH_BIN: another build to measure (e.g. an older commit's binary for a before/after figure).
const bin = process.env.BENCH_BIN || join(ROOT, "dist", process.platform === "win32" ? "difyctl.exe" : "difyctl");
if (!process.env.BENCH_BIN && !existsSync(bin)) spawnSync("node", [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });
if (spawnSync("curl", ["--version"]).status !== 0) throw new Error("curl is needed for the baseline");

const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

// One small event, the shape of a Dify `message` frame.
const frame = (i) => `data: {"event":"message","task_id":"01a20823-58d6-75cc-b811-7bab8999ef45","id":"01a20823-58d6-75cd-9a38-65aac495b649","message_id":"01a20823-58d6-75cd-9a38-65aac495b649","created_at":1795432863,"answer":"${String(i).padStart(8, "0")} tok ","from_variable_selector":null}\n\n`;
const END = 'data: {"event":"message_end","metadata":{"usage":{"total_tokens":1}}}\n\n';

// A second baseline: a compiled Bun program that only reads the same body and throws it away —
// the most any client built on Bun's fetch could do, parsing nothing.
const drain = (() => {
  const work = mkdtempSync(join(tmpdir(), "difyctl-bench-"));
  writeFileSync(join(work, "drain.ts"), 'const r = await fetch(process.argv[2], { method: "POST", body: "{}" }); for await (const _ of r.body!) {}\n');
  const out = join(work, "drain");
  const b = spawnSync(BUN, ["build", join(work, "drain.ts"), "--compile", "--minify", "--bytecode", "--format=esm", "--outfile", out], { stdio: "ignore" });
  return b.status === 0 ? out : null;
})();

const bulk = (() => {
  const parts = [];
  let n = 0;
  for (let i = 0; n < MB * 1e6; i++) { const f = frame(i); parts.push(f); n += f.length; }
  parts.push(END);
  return Buffer.from(parts.join(""));
})();

/** "live": the next event is written when the client shows the previous one; "bulk": the 50 MB stream. */
let phase = "live";
let live = null;

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  req.resume();
  const json = (status, body) => { res.writeHead(status, { "Content-Type": "application/json" }); res.end(JSON.stringify(body)); };
  if (url.pathname === "/openapi/v1/_version") return json(200, { version: "1.14.0", edition: "SELF_HOSTED" });
  if (url.pathname === `/openapi/v1/apps/${APP}/describe`) {
    return json(200, { info: { id: APP, name: "Bench", mode: "completion" }, parameters: null, input_schema: { type: "object", properties: {}, required: [] } });
  }
  if (url.pathname === `/openapi/v1/apps/${APP}/run` && req.method === "POST") {
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    res.socket.setNoDelay(true);
    if (phase === "live") {
      live = { res, i: 0, sentAt: 0 };
      return;
    }
    if (phase === "tiny") return res.end(END);
    let off = 0;
    const pump = () => {
      while (off < bulk.length) {
        const end = Math.min(off + 65536, bulk.length);
        const ok = res.write(bulk.subarray(off, end));
        off = end;
        if (!ok) return res.once("drain", pump);
      }
      res.end();
    };
    return pump();
  }
  json(404, { code: "not_found", message: "not found", status: 404 });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;
const env = { PATH: process.env.PATH, HOME: "/nonexistent", DIFY_TOKEN: `dfoa_${"b".repeat(43)}`, DIFY_HOST: base, DIFY_WORKSPACE_ID: WS, DIFY_CACHE_DIR: join(ROOT, ".tmp", "bench-cache") };
const runUrl = `${base}/openapi/v1/apps/${APP}/run`;

function emit() {
  live.sentAt = now();
  live.res.write(frame(live.i++));
}

/** Runs `cmd` against the live stream; one sample per `unitRe` match on its stdout. */
function latency(cmd, args, extraEnv, unitRe) {
  return new Promise((resolve, reject) => {
    const samples = [];
    live = null;
    const p = spawn(cmd, args, { env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
    let buf = "";
    let err = "";
    p.stderr.on("data", (d) => { err += d; });
    const waitLive = setInterval(() => { if (live && live.i === 0) { clearInterval(waitLive); emit(); } }, 1);
    p.stdout.on("data", (d) => {
      const t = now();
      buf += d;
      let m;
      while ((m = unitRe.exec(buf))) {
        buf = buf.slice(m.index + m[0].length);
        samples.push(t - live.sentAt);
        if (live.i < EVENTS + WARMUP) setTimeout(emit, 2);
        else { live.res.end(END); }
      }
    });
    p.on("exit", (code) => {
      clearInterval(waitLive);
      if (samples.length < EVENTS + WARMUP) reject(new Error(`${cmd} exited ${code} after ${samples.length} events: ${err}`));
      else resolve(samples.slice(WARMUP));
    });
  });
}

function timed(cmd, args) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const p = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = 0;
    let err = "";
    p.stdout.on("data", (d) => { out += d.length; });
    p.stderr.on("data", (d) => { err += d; });
    p.on("exit", (code) => (code === 0 ? resolve({ ms: now() - t0, out }) : reject(new Error(`${cmd} exited ${code}: ${err.slice(0, 300)}`))));
  });
}

// (a) latency
const line = /\n/;
const dl = await latency(bin, ["run", "app", APP, "--stream"], {}, line).catch(async (e) => { server.close(); throw e; });
const cl = await latency("curl", ["-sN", "-X", "POST", "-H", "Content-Type: application/json", "--data", "{}", runUrl], {}, /\n\n/);
const fmt = (x) => x.toFixed(3);
console.log(`(a) latency, server write → line on stdout, ${EVENTS} events (after ${WARMUP} warm-up):`);
console.log(`    difyctl --stream  median ${fmt(median(dl))} ms  p90 ${fmt(pct(dl, 0.9))} ms  p99 ${fmt(pct(dl, 0.99))} ms`);
console.log(`    curl -N           median ${fmt(median(cl))} ms  p90 ${fmt(pct(cl, 0.9))} ms  p99 ${fmt(pct(cl, 0.99))} ms`);
const added = median(dl) - median(cl);
console.log(`    added by difyctl over curl: ${fmt(added)} ms (target < 2 ms: ${added < 2 ? "met" : "MISSED"})`);

// (b) throughput
phase = "bulk";
const mb = bulk.length / 1e6;
const d = [];
const c = [];
const b = [];
for (let r = 0; r < ROUNDS; r++) {
  d.push((await timed(bin, ["run", "app", APP, "--json"])).ms);
  c.push((await timed("curl", ["-sN", "-X", "POST", "-H", "Content-Type: application/json", "--data", "{}", "-o", "/dev/null", runUrl])).ms);
  if (drain) b.push((await timed(drain, [runUrl])).ms);
}
// The fixed part (start-up, version check, describe, run request) on a one-event stream, for both.
phase = "tiny";
const fixed = [];
const cfixed = [];
for (let r = 0; r < 5; r++) {
  fixed.push((await timed(bin, ["run", "app", APP, "--json"])).ms);
  cfixed.push((await timed("curl", ["-sN", "-X", "POST", "-H", "Content-Type: application/json", "--data", "{}", "-o", "/dev/null", runUrl])).ms);
}
const dr = mb / (median(d) / 1000);
const cr = mb / (median(c) / 1000);
const ds = mb / ((median(d) - median(fixed)) / 1000);
const cs = mb / ((median(c) - median(cfixed)) / 1000);
console.log(`(b) throughput, ${mb.toFixed(1)} MB of small events (~${frame(0).length} B each), median of ${ROUNDS}:`);
console.log(`    difyctl run --json (folded)  ${median(d).toFixed(0)} ms  ${dr.toFixed(0)} MB/s`);
console.log(`    curl -N -o /dev/null         ${median(c).toFixed(0)} ms  ${cr.toFixed(0)} MB/s`);
if (b.length) console.log(`    compiled Bun fetch, body discarded: ${median(b).toFixed(0)} ms  ${(mb / (median(b) / 1000)).toFixed(0)} MB/s (${(median(c) / median(b)).toFixed(2)}× curl: the ceiling for a Bun client)`);
console.log(`    fixed cost (one-event run): difyctl ${median(fixed).toFixed(0)} ms, curl ${median(cfixed).toFixed(0)} ms; streaming alone: difyctl ${ds.toFixed(0)} MB/s, curl ${cs.toFixed(0)} MB/s`);
server.close();
