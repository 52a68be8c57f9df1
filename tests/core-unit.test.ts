import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decideBrowser, openerCommand } from "../src/ui/browser.ts";
import { configDir, cacheDir } from "../src/storage/config-dir.ts";
import { ConfigStore } from "../src/storage/config-store.ts";
import { CliError, EXIT_CODES, exitCodeFor, renderError, toCliError } from "../src/cli/errors.ts";
import { normalizeHost, validateVerificationUri } from "../src/http/host-url.ts";
import { withDirLock, writeFileAtomic } from "../src/storage/atomic-file.ts";
import { parseErrorBody, errorForStatus } from "../src/http/http-client.ts";
import { redact } from "../src/ui/redact.ts";
import { envSession } from "../src/auth/session.ts";
import { tempDir } from "./helpers.ts";

const TOKEN = "dfoa_" + "A".repeat(43);

describe("host normalisation", () => {
  test("adds https and strips trailing slashes", () => {
    expect(normalizeHost("dify.internal").baseUrl).toBe("https://dify.internal");
    expect(normalizeHost("https://Dify.Internal///").host).toBe("dify.internal");
    expect(normalizeHost("  https://x.example:8443/dify/ ").baseUrl).toBe("https://x.example:8443/dify");
  });
  test("http needs --insecure", () => {
    expect(() => normalizeHost("http://127.0.0.1:5001")).toThrow(/plain-text/);
    const r = normalizeHost("http://127.0.0.1:5001", { insecure: true });
    expect(r.scheme).toBe("http");
    expect(r.host).toBe("127.0.0.1:5001");
  });
  test("rejects credentials, fragments, queries, odd schemes and control characters with exit 2", () => {
    for (const bad of ["https://u:p@x.example", "https://x.example/#frag", "https://x.example/?a=1", "ftp://x.example", "x .example", "https://x\u0007y", "", "   "]) {
      let err: unknown;
      try { normalizeHost(bad); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(2);
    }
  });
  test("IPv6 and IDN hosts", () => {
    expect(normalizeHost("http://[::1]:5001", { insecure: true }).host).toBe("[::1]:5001");
    expect(normalizeHost("bücher.example").host).toBe("xn--bcher-kva.example");
  });
  test("verification URI must be https with a host", () => {
    expect(validateVerificationUri("https://dify.example/device", false).host).toBe("dify.example");
    expect(() => validateVerificationUri("http://dify.example/device", false)).toThrow();
    expect(validateVerificationUri("http://dify.example/device", true).protocol).toBe("http:");
    for (const bad of ["javascript:alert(1)", "file:///etc/passwd", "https://", 42, null, "https://u:p@h/"]) {
      expect(() => validateVerificationUri(bad, true)).toThrow();
    }
  });
});

describe("browser decision table", () => {
  const base = { noBrowser: false, env: { DISPLAY: ":0" }, platform: "linux", stdoutTTY: true, stderrTTY: true };
  test("each row", () => {
    expect(decideBrowser(base)).toEqual({ open: true });
    expect(decideBrowser({ ...base, noBrowser: true }).reason).toBe("opted_out");
    expect(decideBrowser({ ...base, env: { DISPLAY: ":0", SSH_CONNECTION: "1 2 3 4" } }).reason).toBe("ssh");
    expect(decideBrowser({ ...base, env: { DISPLAY: ":0", SSH_TTY: "/dev/pts/1" } }).reason).toBe("ssh");
    expect(decideBrowser({ ...base, env: {} }).reason).toBe("headless");
    expect(decideBrowser({ ...base, env: { WAYLAND_DISPLAY: "w" } }).open).toBe(true);
    expect(decideBrowser({ ...base, env: {}, platform: "darwin" }).open).toBe(true);
    expect(decideBrowser({ ...base, stdoutTTY: false }).reason).toBe("non_interactive");
    expect(decideBrowser({ ...base, stderrTTY: false }).reason).toBe("non_interactive");
  });
  test("opener per platform keeps the URL one argument", () => {
    const url = "https://x/device?user_code=AB&x=1 2";
    expect(openerCommand("darwin", url)).toEqual(["open", url]);
    expect(openerCommand("linux", url)).toEqual(["xdg-open", url]);
    expect(openerCommand("win32", url).at(-1)).toBe(url);
  });
});

describe("error model", () => {
  test("exit code table", () => {
    expect(exitCodeFor("auth_expired")).toBe(4);
    expect(exitCodeFor("wrong_surface")).toBe(2);
    expect(exitCodeFor("version_skew")).toBe(6);
    expect(exitCodeFor("rate_limited")).toBe(7);
    expect(exitCodeFor("cancelled")).toBe(130);
    expect(exitCodeFor("no_such_code")).toBe(1);
    for (const v of Object.values(EXIT_CODES)) expect([1, 2, 4, 6, 7, 130]).toContain(v);
  });
  test("text and JSON rendering, redacted and single-line", () => {
    const e = new CliError("auth_expired", `token ${TOKEN} bad\nsecond line`, { hint: "run login", httpStatus: 401 });
    const text = renderError(e, false);
    expect(text).toBe("error: token dfoa_*** bad second line\nhint: run login\n");
    const json = renderError(e, true);
    expect(json.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(json)).toEqual({ error: { code: "auth_expired", message: "token dfoa_*** bad second line", hint: "run login", http_status: 401 } });
  });
  test("unexpected errors become 'unknown' with one line and no stack", () => {
    const e = toCliError(new TypeError("boom\n    at foo (x.ts:1)"));
    expect(e.code).toBe("unknown");
    expect(e.message).not.toContain("at foo");
  });
  test("redaction covers tokens, device codes and bearer headers", () => {
    const s = redact(`Authorization: Bearer ${TOKEN} dc_${"b".repeat(32)} dfoe_${"c".repeat(43)} app-${"d".repeat(24)}`);
    expect(s).not.toMatch(/A{10}|b{10}|c{10}|d{10}/);
  });
});

describe("server error bodies (all four shapes)", () => {
  test("RFC, ErrorBody, generic v1.0 and Flask-Login", () => {
    expect(parseErrorBody('{"error":"slow_down"}').code).toBe("slow_down");
    expect(parseErrorBody('{"error":"rate_limited","retry_after_ms":3000}').retryAfterMs).toBe(3000);
    const eb = parseErrorBody('{"code":"invalid_param","message":"Request validation failed","status":422,"details":[{"type":"x","loc":["page"],"msg":"m"}]}');
    expect(eb.code).toBe("invalid_param");
    expect(Array.isArray(eb.details)).toBe(true);
    expect(parseErrorBody('{"code":"invalid_param","message":"Missing","params":"client_id","status":400}').details).toBe("client_id");
    expect(parseErrorBody('{"code":"unauthorized","message":"Unauthorized."}').message).toBe("Unauthorized.");
    expect(parseErrorBody("<html>")).toEqual({});
    expect(parseErrorBody("[1,2]")).toEqual({});
  });
  test("status mapping", () => {
    expect(errorForStatus(401, {}).code).toBe("auth_expired");
    expect(errorForStatus(503, {}).code).toBe("server_5xx");
    expect(errorForStatus(429, {}).exitCode).toBe(7);
    expect(errorForStatus(403, { message: "unsupported_token_type" }).message).toContain("does not accept this kind of session");
    expect(errorForStatus(404, { code: "not_found", message: "app not found" }).message).toContain("app not found");
    expect(errorForStatus(302, {}).code).toBe("unknown");
  });
});

describe("config dir resolution", () => {
  test("DIFY_CONFIG_DIR, XDG, HOME, Windows", () => {
    expect(configDir({ DIFY_CONFIG_DIR: "/c", XDG_CONFIG_HOME: "/x", HOME: "/h" }, "linux")).toBe("/c");
    expect(configDir({ XDG_CONFIG_HOME: "/x", HOME: "/h" }, "linux")).toBe("/x/difyctl");
    expect(configDir({ HOME: "/h" }, "linux")).toBe("/h/.config/difyctl");
    expect(configDir({ HOME: "/Users/g" }, "darwin")).toBe("/Users/g/.config/difyctl");
    expect(configDir({ APPDATA: "C:\\Users\\g\\AppData\\Roaming" }, "win32")).toBe("C:\\Users\\g\\AppData\\Roaming\\difyctl");
    expect(() => configDir({}, "linux")).toThrow();
    expect(cacheDir({ HOME: "/Users/g" }, "darwin")).toBe("/Users/g/Library/Caches/difyctl");
    expect(cacheDir({ HOME: "/h" }, "linux")).toBe("/h/.cache/difyctl");
  });
});

describe("config store", () => {
  test("dir 0700, files 0600, round trip, never the token in hosts.yml", async () => {
    const dir = join(tempDir(), "cfg");
    const store = new ConfigStore(dir);
    await store.withLock(() => {
      store.writeHosts({ current_host: "dify.internal", subject_type: "account", account: { id: "a1", email: "g@x.io", name: "G" }, token_storage: "file", token_id: "t1" });
      store.writeTokens({ tokens: { t1: { host: "dify.internal", bearer: TOKEN, expires_at: null } } });
    });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "hosts.yml")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "tokens.yml")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).not.toContain("dfoa_");
    const back = store.readHosts();
    expect(back.account?.email).toBe("g@x.io");
    expect(store.readTokens().tokens.t1.bearer).toBe(TOKEN);
    expect(readdirSync(dir).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });
  test("the read-only path (stat ahead, then map) reads what the sync path reads, and never a stale file", async () => {
    const dir = join(tempDir(), "cfg");
    const store = new ConfigStore(dir);
    await store.withLock(() => {
      store.writeHosts({ current_host: "h", subject_type: "account", account: { id: "a", email: "e@x", name: "é 你" }, token_storage: "file", token_id: "t1" });
    });
    expect(await store.readHostsAsync()).toEqual(store.readHosts());
    // tokens.yml (absent) was statted ahead by readHostsAsync; a write in between must not leave that stat in use.
    await store.withLock(() => store.writeTokens({ tokens: { t2: { host: "h", bearer: TOKEN, expires_at: null } } }));
    expect(Object.keys((await store.readTokensAsync()).tokens)).toEqual(["t2"]);
    expect(await store.readTokensAsync()).toEqual(store.readTokens());
    // An error found by the early stat is reported by the read that needs it, not taken for "no file".
    const odd = join(tempDir(), "odd");
    mkdirSync(odd, { recursive: true });
    symlinkSync("tokens.yml", join(odd, "tokens.yml")); // a loop: the stat itself fails
    writeFileSync(join(odd, "hosts.yml"), "", { mode: 0o600 });
    const oddStore = new ConfigStore(odd);
    expect(await oddStore.readHostsAsync()).toEqual({});
    let err: unknown;
    try { await oddStore.readTokensAsync(); } catch (e) { err = e; }
    expect((err as CliError).code).toBe("config_schema_unsupported");
    // A FIFO is refused before anything opens it (opening one would block).
    const fifo = join(tempDir(), "fifo");
    mkdirSync(fifo);
    Bun.spawnSync(["mkfifo", join(fifo, "hosts.yml")]);
    let ferr: unknown;
    try { await new ConfigStore(fifo).readHostsAsync(); } catch (e) { ferr = e; }
    expect((ferr as CliError).message).toContain("not a regular file");
  });
  test("looser mode gives a warning", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "hosts.yml"), "current_host: a\n", { mode: 0o644 });
    chmodSync(join(dir, "hosts.yml"), 0o644);
    const warnings: string[] = [];
    new ConfigStore(dir, (m) => warnings.push(m)).readHosts();
    expect(warnings.join()).toContain("0644");
  });
  test("malformed or wrong-typed YAML → config_schema_unsupported (exit 6), file untouched", () => {
    for (const bad of ["a: [unclosed", "- just\n- a list\n", "current_host: [1,2]\n", "subject_type: wizard\n", "account: 5\n", "---\na: 1\n---\nb: 2\n"]) {
      const dir = tempDir();
      writeFileSync(join(dir, "hosts.yml"), bad, { mode: 0o600 });
      let err: unknown;
      try { new ConfigStore(dir).readHosts(); } catch (e) { err = e; }
      expect((err as CliError).code).toBe("config_schema_unsupported");
      expect((err as CliError).exitCode).toBe(6);
      expect(readFileSync(join(dir, "hosts.yml"), "utf8")).toBe(bad);
    }
  });
  test("hostile YAML tags are data, not code", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "hosts.yml"), 'current_host: !!js/function "function(){ throw 1 }"\n', { mode: 0o600 });
    expect(new ConfigStore(dir).readHosts().current_host).toBe("function(){ throw 1 }");
  });
  test("atomic write replaces whole files and cleans up on failure", () => {
    const dir = tempDir();
    const p = join(dir, "f.yml");
    writeFileAtomic(p, "one\n");
    writeFileAtomic(p, "two\n");
    expect(readFileSync(p, "utf8")).toBe("two\n");
    expect(() => writeFileAtomic(join(dir, "missing", "f.yml"), "x")).toThrow(CliError);
    expect(readdirSync(dir)).toEqual(["f.yml"]);
  });
  test("the lock serialises writers and breaks a dead owner's lock", async () => {
    const dir = tempDir();
    const order: string[] = [];
    await Promise.all([1, 2, 3].map((i) => withDirLock(dir, async () => {
      order.push(`in${i}`);
      await Bun.sleep(5);
      order.push(`out${i}`);
    })));
    for (let i = 0; i < order.length; i += 2) expect(order[i + 1]).toBe(order[i].replace("in", "out"));
    // A lock left by a killed process (pid that cannot exist) is recovered at once.
    writeFileSync(join(dir, ".difyctl.lock"), `99999999 ${Date.now()}\n`);
    const t0 = Date.now();
    await withDirLock(dir, () => {}, { waitMs: 2000 });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(existsSync(join(dir, ".difyctl.lock"))).toBe(false);
  });
  test("a live owner's lock is waited for, then reported", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, ".difyctl.lock"), `${process.ppid} ${Date.now()}\n`);
    let err: unknown;
    try { await withDirLock(dir, () => {}, { waitMs: 100 }); } catch (e) { err = e; }
    expect((err as CliError).message).toContain("locked by process");
  });
  test("temp files of a killed writer are swept by the next write", async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "hosts.yml.tmp-99999999-abc"), "partial");
    await withDirLock(dir, () => {});
    expect(readdirSync(dir).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });
});

describe("env escape hatch (unit)", () => {
  test("none, partial, bad prefix, SSO without workspace", () => {
    expect(envSession({})).toBeNull();
    let err: unknown;
    try { envSession({ DIFY_TOKEN: TOKEN }); } catch (e) { err = e; }
    expect((err as CliError).message).toBe("env escape hatch requires all of DIFY_TOKEN, DIFY_HOST, DIFY_WORKSPACE_ID; missing: DIFY_HOST, DIFY_WORKSPACE_ID");
    expect((err as CliError).exitCode).toBe(2);
    for (const bad of ["app-abcdefgh", "dfp_abcdef", "Bearer x"]) {
      try { envSession({ DIFY_TOKEN: bad, DIFY_HOST: "https://h", DIFY_WORKSPACE_ID: "w" }); err = null; } catch (e) { err = e; }
      expect((err as CliError).code).toBe("invalid_token_prefix");
    }
    const sso = envSession({ DIFY_TOKEN: "dfoe_" + "x".repeat(43), DIFY_HOST: "https://h" });
    expect(sso?.subjectType).toBe("external_sso");
  });
});

describe("env escape hatch: plain-text hosts", () => {
  const tok = "dfoa_" + "B".repeat(43);
  test("http only for loopback hosts", () => {
    expect(envSession({ DIFY_TOKEN: tok, DIFY_HOST: "http://127.0.0.1:5001", DIFY_WORKSPACE_ID: "w" })?.hostRef.scheme).toBe("http");
    expect(envSession({ DIFY_TOKEN: tok, DIFY_HOST: "http://localhost:5001", DIFY_WORKSPACE_ID: "w" })?.hostRef.host).toBe("localhost:5001");
    expect(envSession({ DIFY_TOKEN: tok, DIFY_HOST: "http://[::1]:5001", DIFY_WORKSPACE_ID: "w" })?.hostRef.host).toBe("[::1]:5001");
    let err: unknown;
    try { envSession({ DIFY_TOKEN: tok, DIFY_HOST: "http://dify.internal", DIFY_WORKSPACE_ID: "w" }); } catch (e) { err = e; }
    expect((err as CliError).exitCode).toBe(2);
    expect((err as CliError).message).toContain("plain-text");
    expect(envSession({ DIFY_TOKEN: tok, DIFY_HOST: "dify.internal", DIFY_WORKSPACE_ID: "w" })?.hostRef.baseUrl).toBe("https://dify.internal");
  });
});
