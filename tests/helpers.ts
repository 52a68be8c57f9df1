// Shared by the end-to-end tests: run the compiled binary with a private config dir, against
// the fake Dify server. Every byte a test captures is also appended to .tmp/captured/ so the
// secrets scan (tests/secrets-scan.final.ts, run last) can check that no token leaked anywhere;
// every config dir handed to baseEnv() is listed in .tmp/captured/dirs/ so it scans those too.
import { appendFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");
export const BIN = join(ROOT, "dist", process.platform === "win32" ? "difyctl.exe" : "difyctl");
export const CAPTURE_DIR = join(ROOT, ".tmp", "captured");

export interface RunResult { code: number; stdout: string; stderr: string }
export interface RunOptions {
  env?: Record<string, string | undefined>;
  stdin?: string;
  cwd?: string;
  timeoutMs?: number;
  bin?: string;
}

/** A clean environment: no D-Bus (so file mode) unless the test passes it, no user config. */
export function baseEnv(configDir: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  recordConfigDir(configDir);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: configDir + "-home",
    DIFY_CONFIG_DIR: configDir,
    DIFY_CACHE_DIR: configDir + "-cache",
    TMPDIR: process.env.TMPDIR ?? "/tmp",
    LANG: "C.UTF-8",
  };
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k]; else env[k] = v;
  return env;
}

export function tempDir(prefix = "difyctl-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const recordedDirs = new Set<string>();
/** Lists a config dir (and its -home/-cache siblings) for the secrets scan. */
export function recordConfigDir(dir: string): void {
  if (recordedDirs.has(dir)) return;
  recordedDirs.add(dir);
  mkdirSync(join(CAPTURE_DIR, "dirs"), { recursive: true });
  appendFileSync(join(CAPTURE_DIR, "dirs", `${process.pid}.list`), `${dir}\n`);
}

let captureSeq = 0;
/** Appends one run's output to .tmp/captured/ (tests that spawn the binary themselves call this). */
export function capture(args: string[], r: RunResult): void {
  mkdirSync(CAPTURE_DIR, { recursive: true });
  const file = join(CAPTURE_DIR, `${process.pid}.log`);
  appendFileSync(file, `### ${++captureSeq} difyctl ${args.join(" ")} (exit ${r.code})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n`);
}

/** Runs the binary asynchronously (the fake server lives in this process and must keep serving). */
export async function run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const proc = Bun.spawn([opts.bin ?? BIN, ...args], {
    env: opts.env ?? baseEnv(tempDir()),
    cwd: opts.cwd,
    stdin: opts.stdin !== undefined ? new Blob([opts.stdin]) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  const r = { code, stdout, stderr };
  capture(args, r);
  return r;
}

export interface InProcessOptions {
  env?: Record<string, string | undefined>;
  /** stdin's text, as a pipe would carry it; none: no input, like the binary's /dev/null. */
  stdin?: string;
  /** Which descriptors are terminals (default: none, as when the binary runs piped). */
  isTTY?: boolean | ((fd: 0 | 1 | 2) => boolean);
  /** Cancels the run as Ctrl-C would (the process's own signal handlers are never touched). */
  signal?: AbortSignal;
  /** The wait between HTTP retries; default: none (every wait is recorded in `sleeps`). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  fetch?: typeof fetch;
}

/**
 * Runs one difyctl command inside this process through the router the binary uses (same flag
 * parser, command table, command modules, error rendering and exit codes), with the output
 * captured, a fake terminal and the given environment; the config dir is real, and so is the
 * fake server it talks to over 127.0.0.1. Output passes through the same secret masking and
 * escaping the binary's writers apply. For command logic; the compiled binary keeps its own
 * end-to-end tests (binary-smoke and the reliability suites).
 */
export async function runInProcess(args: string[], opts: InProcessOptions = {}): Promise<RunResult & { sleeps: number[] }> {
  const [{ runCli }, { stdoutText, stderrText }, { CliError }] = await Promise.all([
    import("../src/cli/router.ts"), import("../src/cli/output.ts"), import("../src/cli/errors.ts"),
  ]);
  let stdout = "";
  let stderr = "";
  const sleeps: number[] = [];
  const tty = opts.isTTY ?? false;
  const code = await runCli(args, { ...(opts.env ?? baseEnv(tempDir())) }, {
    stdout: async (text) => { stdout += stdoutText(text); },
    stderr: async (text) => { stderr += stderrText(text); },
    isTTY: typeof tty === "function" ? tty : () => tty,
    stdin: opts.stdin ?? null,
    signal: opts.signal ?? new AbortController().signal,
    sleep: opts.sleep ?? (async (ms, signal) => {
      sleeps.push(ms);
      if (signal?.aborted) throw new CliError("cancelled", "cancelled");
    }),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  const r = { code, stdout, stderr };
  capture(args, r);
  return { ...r, sleeps };
}

/** Parses the one-line JSON error envelope from stderr. */
export function envelope(stderr: string): { code: string; message: string; hint?: string; http_status?: number } {
  const line = stderr.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`no JSON envelope on stderr: ${stderr}`);
  return JSON.parse(line).error;
}

/** Signs in through the real device flow (the fake server must auto-approve). */
export async function login(url: string, configDir: string, extraArgs: string[] = [], extraEnv: Record<string, string | undefined> = {}): Promise<RunResult> {
  return run(["auth", "login", "--host", url, "--insecure", "--no-browser", ...extraArgs], { env: baseEnv(configDir, extraEnv) });
}

/** Fast device-flow timing for tests: 0.1 s interval, 100 ms slow_down window. */
export const FAST = { interval: 0.1, slowDownWindowMs: 100 } as const;

/**
 * A per-file pool of fake servers with fast device-flow timing that auto-approve on the first
 * poll; call `closeAll` from afterAll.
 */
export function serverPool() {
  const servers: import("./fake/server.ts").FakeServer[] = [];
  return {
    async start(opts: import("./fake/server.ts").FakeServerOptions = {}) {
      const { startFakeServer } = await import("./fake/server.ts");
      const s = await startFakeServer({ ...FAST, autoApprove: { afterPolls: 1 }, ...opts });
      servers.push(s);
      return s;
    },
    closeAll: () => Promise.all(servers.map((s) => s.close())),
  };
}

/** A fake server and a config dir signed in to it through the real device flow. */
export async function signedIn(opts: import("./fake/server.ts").FakeServerOptions = {}) {
  const { startFakeServer } = await import("./fake/server.ts");
  const server = await startFakeServer({ ...FAST, autoApprove: { afterPolls: 1 }, ...opts });
  const dir = join(tempDir(), "cfg");
  const r = await login(server.url, dir);
  if (r.code !== 0) throw new Error(`login for the test fixture failed (${r.code}): ${r.stderr}`);
  return { server, dir };
}

export const haveScript = Bun.spawnSync(["sh", "-c", "command -v script"]).exitCode === 0;

/**
 * Runs difyctl under a real pseudo-terminal (util-linux `script`), optionally typing keys, and
 * returns the raw bytes the terminal received (stdout and stderr both land on the pty).
 */
export async function runPty(args: string[], env: Record<string, string>, keys: { afterMs: number; text: string }[] = [], opts: { cols?: number } = {}) {
  const quoted = [BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const cmd = opts.cols ? `stty cols ${opts.cols} rows 40; ${quoted}` : quoted;
  const proc = Bun.spawn(["script", "-qfec", cmd, "/dev/null"], { env, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  for (const k of keys) setTimeout(() => { try { proc.stdin.write(k.text); proc.stdin.flush(); } catch { /* exited */ } }, k.afterMs);
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const raw = new Uint8Array(await new Response(proc.stdout).arrayBuffer());
  const code = await proc.exited;
  clearTimeout(timer);
  const out = new TextDecoder().decode(raw);
  capture(args, { code, stdout: out, stderr: "" });
  return { code, out, raw };
}

/** Reads a child's output stream until `marker` has appeared (or the stream ends); returns the text and the reader. */
export async function readUntil(stream: ReadableStream<Uint8Array>, marker: string): Promise<{ text: string; reader: ReadableStreamDefaultReader<Uint8Array> }> {
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let text = "";
  while (!text.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
  }
  return { text, reader };
}
