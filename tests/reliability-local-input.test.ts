// Bad local input. Malformed, truncated, wrong-typed, huge and hostile hosts.yml and
// tokens.yml; loose file modes; a config dir that is a file, a FIFO, a symlink to another user's
// dir, read-only; an unwritable $TMPDIR. Each gives a clear error or warning with the exit code of
// the table, and no command (a login attempt included) overwrites a file with less than it had.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { serializeHostsFile, serializeTokensFile } from "../src/storage/hosts-file.ts";
import { EMAILS, type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { baseEnv, tempDir } from "./helpers.ts";
import { banner, hasCommand, MintLog, outputProblems, readDir, report, type Rng, scale, sessionOf, spawnCli, type SpawnResult } from "./stress/lib.ts";

let fake: FakeServer;
let host: string;
const mints = new MintLog();
beforeAll(async () => {
  fake = await startFakeServer({ interval: 0.05, slowDownWindowMs: 10, autoApprove: { afterPolls: 1 }, codeRateLimitPerHour: 0, rateLimitPerToken: 0, accountRateLimitPerMinute: 0 });
  mints.watch(fake);
  host = new URL(fake.url).host;
});
afterAll(async () => { await fake?.close(); });

const IS_ROOT = process.getuid?.() === 0;
const NOBODY = { uid: 65534, gid: 65534 };
const OTHER = { uid: 1, gid: 1 };

/** A valid signed-in config dir's two files, for host `host`. */
function validFiles(): { hosts: string; tokens: string; tokenId: string } {
  const { token, tokenId } = fake.mintToken(EMAILS.gareth);
  const acct = fake.accounts.find((a) => a.email === EMAILS.gareth)!;
  const ws = acct.memberships.map((m) => ({ id: m.workspaceId, name: fake.workspaces.find((w) => w.id === m.workspaceId)!.name, role: m.role }));
  const hosts = serializeHostsFile({
    current_host: host, scheme: "http", subject_type: "account", account: { id: acct.id, email: acct.email, name: acct.name },
    workspace: ws[0]!, available_workspaces: ws, token_storage: "file", token_id: tokenId, token_expires_at: null,
  });
  const tokens = serializeTokensFile({ tokens: { [tokenId]: { host, bearer: token, expires_at: null } } });
  return { hosts, tokens, tokenId };
}

const BILLION_LAUGHS = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`;

type Content = string | Uint8Array;
interface Case {
  name: string;
  hosts?: (v: { hosts: string; tokens: string; tokenId: string }) => Content | null;
  tokens?: (v: { hosts: string; tokens: string; tokenId: string }) => Content | null;
  /** exits allowed for every command; default: 6 (config_schema_unsupported) */
  exits?: number[];
  /** the files are corrupt: no command may change a byte of them */
  corrupt?: boolean;
  /** stderr of `auth status` must match */
  warn?: RegExp;
  /** a schema-valid file holding a refused token: readers fail (exits), `auth login` replaces the session */
  loginReplaces?: boolean;
}

const lines = (s: string) => s.split("\n");
const replaceLine = (s: string, key: string, value: string) => lines(s).map((l) => (l.startsWith(`${key}:`) ? `${key}: ${value}` : l)).join("\n");

function cases(rng: Rng): Case[] {
  const c: Case[] = [
    // ---- hosts.yml: malformed and hostile YAML
    { name: "hosts: unclosed flow sequence", hosts: () => "current_host: [unclosed\n", corrupt: true },
    { name: "hosts: colons only", hosts: () => ": : :\n- -\n", corrupt: true },
    { name: "hosts: tab indentation", hosts: (v) => v.hosts.replace(/\n {2}/g, "\n\t"), corrupt: true },
    { name: "hosts: unterminated quote", hosts: () => "current_host: 'oops\n", corrupt: true },
    { name: "hosts: top level is a list", hosts: () => "- a\n- b\n", corrupt: true },
    { name: "hosts: top level is a scalar", hosts: () => "hello\n", corrupt: true },
    { name: "hosts: !!js/function", hosts: (v) => replaceLine(v.hosts, "current_host", "!!js/function 'function(){ require(\"child_process\").execSync(\"touch /tmp/pwned\") }'"), exits: [0, 1, 2, 4, 6] },
    { name: "hosts: !!python/object tag", hosts: () => "current_host: !!python/object/apply:os.system ['id']\n", exits: [0, 1, 2, 4, 6] },
    { name: "hosts: billion laughs", hosts: () => BILLION_LAUGHS + "available_workspaces: *i\n", corrupt: true },
    { name: "hosts: billion laughs in an unused key", hosts: (v) => v.hosts + BILLION_LAUGHS, corrupt: true },
    { name: "hosts: 200 000 nested sequences", hosts: () => "x: " + "[".repeat(200_000) + "]".repeat(200_000) + "\n", corrupt: true },
    { name: "hosts: 5 000 nested mappings", hosts: () => "x:\n" + Array.from({ length: 5000 }, (_, i) => " ".repeat(i + 1) + "a:\n").join(""), corrupt: true },
    { name: "hosts: NUL bytes", hosts: (v) => v.hosts.replace("current_host", "current\u0000host"), corrupt: true },
    { name: "hosts: invalid UTF-8", hosts: (v) => new Uint8Array([...Buffer.from(v.hosts.slice(0, 40)), 0xff, 0xfe, 0xc3, 0x28, ...Buffer.from(v.hosts.slice(40))]), exits: [0, 4, 6] },
    { name: "hosts: UTF-16 with BOM", hosts: (v) => new Uint8Array(Buffer.from("\ufeff" + v.hosts, "utf16le")), corrupt: true },
    { name: "hosts: over the 1 MiB cap", hosts: (v) => v.hosts + "# " + "x".repeat(2 << 20) + "\n", corrupt: true },
    { name: "hosts: 900 KiB of comments (under the cap)", hosts: (v) => v.hosts + ("# " + "y".repeat(98) + "\n").repeat(9000), exits: [0, 4] },
    { name: "hosts: merge keys", hosts: (v) => v.hosts + "base: &b {id: x}\nother:\n  <<: *b\n", exits: [0, 4, 6] },
    { name: "hosts: duplicate keys", hosts: (v) => v.hosts + "current_host: evil.example\n", exits: [0, 4, 6] },
    { name: "hosts: CRLF line endings", hosts: (v) => v.hosts.replace(/\n/g, "\r\n"), exits: [0] },
    { name: "hosts: empty file", hosts: () => "", exits: [0, 4] },
    // ---- hosts.yml: wrong types
    { name: "hosts: current_host is a list", hosts: (v) => replaceLine(v.hosts, "current_host", "[a, b]"), corrupt: true },
    { name: "hosts: account is a string", hosts: (v) => v.hosts.replace(/account:\n(  .*\n)+/, "account: gareth\n"), corrupt: true },
    { name: "hosts: available_workspaces is a mapping", hosts: (v) => v.hosts.replace(/available_workspaces:\n(  .*\n)+/, "available_workspaces: {a: 1}\n"), corrupt: true },
    { name: "hosts: available_workspaces holds numbers", hosts: (v) => v.hosts.replace(/available_workspaces:\n(  .*\n)+/, "available_workspaces: [1, 2]\n"), corrupt: true },
    { name: "hosts: token_storage floppy", hosts: (v) => replaceLine(v.hosts, "token_storage", "floppy"), corrupt: true },
    { name: "hosts: subject_type robot", hosts: (v) => replaceLine(v.hosts, "subject_type", "robot"), corrupt: true },
    { name: "hosts: scheme ftp", hosts: (v) => replaceLine(v.hosts, "scheme", "ftp"), corrupt: true },
    { name: "hosts: token_id is a mapping", hosts: (v) => replaceLine(v.hosts, "token_id", "{a: 1}"), corrupt: true },
    { name: "hosts: workspace is a number", hosts: (v) => v.hosts.replace(/workspace:\n(  .*\n)+/, "workspace: 5\n"), corrupt: true },
    { name: "hosts: token_id names no token", hosts: (v) => replaceLine(v.hosts, "token_id", "00000000-0000-4000-8000-000000000000"), exits: [0, 4] },
    { name: "hosts: a token in hosts.yml is ignored", hosts: (v) => v.hosts + "tokens:\n  bearer: dfoa_" + "z".repeat(40) + "\n", exits: [0] },
    // ---- tokens.yml
    { name: "tokens: malformed", tokens: () => "tokens: [unclosed\n", corrupt: true },
    { name: "tokens: top level is a list", tokens: () => "- a\n", corrupt: true },
    { name: "tokens: tokens is a list", tokens: () => "tokens:\n  - a\n", corrupt: true },
    { name: "tokens: billion laughs", tokens: (v) => v.tokens + BILLION_LAUGHS, corrupt: true },
    { name: "tokens: over the 1 MiB cap", tokens: (v) => v.tokens + "# " + "x".repeat(2 << 20) + "\n", corrupt: true },
    { name: "tokens: bearer is a number", tokens: (v) => v.tokens.replace(/bearer: .*/, "bearer: 12345"), corrupt: true },
    { name: "tokens: entry is a string", tokens: (v) => v.tokens.replace(/\n {2}([0-9a-f-]{36}):\n(    .*\n)+/, "\n  $1: hello\n"), corrupt: true },
    { name: "tokens: an app- key", tokens: (v) => v.tokens.replace(/bearer: .*/, `bearer: app-${"k".repeat(24)}`), exits: [4], corrupt: true, loginReplaces: true },
    { name: "tokens: a dfp_ token", tokens: (v) => v.tokens.replace(/bearer: .*/, `bearer: dfp_${"k".repeat(24)}`), exits: [4], corrupt: true, loginReplaces: true },
    { name: "tokens: entry for another host", tokens: (v) => v.tokens.replace(/host: .*/, "host: other.example"), exits: [0, 4] },
    { name: "tokens: !!js/function bearer", tokens: (v) => v.tokens.replace(/bearer: .*/, "bearer: !!js/function 'function(){}'"), exits: [4], corrupt: true, loginReplaces: true },
    { name: "tokens: empty", tokens: () => "", exits: [0, 4] },
    { name: "tokens: missing", tokens: () => null, exits: [0, 4] },
  ];
  // Truncations of a valid file at seeded random points: parse or not, never overwritten with less.
  for (let i = 0; i < scale(6, 40); i++) {
    const which = rng.chance(0.5) ? "hosts" : "tokens";
    const frac = rng.next();
    c.push({
      name: `${which}: truncated at ${(frac * 100).toFixed(1)}%`,
      [which]: (v: { hosts: string; tokens: string }) => v[which].slice(0, Math.floor(v[which].length * frac)),
      exits: [0, 4, 6],
    });
  }
  return c;
}

interface Tally { cases: number; runs: number; failures: string[] }
const tally: Tally = { cases: 0, runs: 0, failures: [] };

function snapshot(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  if (!existsSync(dir) || !lstatSync(dir).isDirectory()) return m;
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    try { m.set(n, lstatSync(p).isFile() ? readFileSync(p).toString("base64") : `<${lstatSync(p).mode.toString(8)}>`); } catch { m.set(n, "<unreadable>"); }
  }
  return m;
}

/** The commands a user might try on a broken config dir, a login attempt included. */
function commands(): string[][] {
  const cmds = [["auth", "status"], ["auth", "whoami"], ["auth", "status", "-v"]];
  if (hasCommand("auth", "use")) cmds.push(["auth", "use", IDS.workspaces.side]);
  if (hasCommand("get", "apps")) cmds.push(["get", "apps"]);
  cmds.push(["auth", "logout"], ["auth", "login", "--host", fake.url, "--insecure", "--no-browser"]);
  return cmds;
}

async function check(name: string, dir: string, env: Record<string, string>, exits: number[], strict: boolean, asUser?: { uid: number; gid: number }, warn?: RegExp, loginReplaces = false): Promise<void> {
  tally.cases++;
  let first = true;
  for (const cmd of commands()) {
    const isLogin = cmd[1] === "login";
    if (isLogin && loginReplaces) { strict = false; exits = [0]; }
    const before = snapshot(dir);
    const problemsBefore = new Set(dirProblems(dir));
    const json = tally.runs % 2 === 0;
    const r = await spawnCli([...cmd, ...(json ? ["--json"] : [])], { env, timeoutMs: 20_000, asUser });
    tally.runs++;
    const fail = (m: string) => tally.failures.push(`${name} · ${cmd.slice(0, 3).join(" ")}: ${m} (exit ${r.code}; stderr ${JSON.stringify(r.stderr.slice(0, 300))})`);
    for (const p of outputProblems(r, { json })) fail(p);
    if (!exits.includes(r.code)) fail(`exit ${r.code}, expected one of ${exits.join(",")}`);
    if (first && warn && !warn.test(r.stderr)) fail(`no warning matching ${warn}`);
    first = false;
    const after = snapshot(dir);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
    if (!changed.length) continue;
    if (strict) { fail(`changed ${changed.join(", ")} of a corrupt config dir`); continue; }
    // Allowed: a successful login writes a complete new session; logout / auth use / a 401 their documented change.
    const fresh = dirProblems(dir).filter((p) => !problemsBefore.has(p));
    if (fresh.length) fail(`after the write: ${fresh.join("; ")}`);
    if (r.code !== 0 && !(r.code === 4 && cmd[0] === "get")) fail(`a failed command changed ${changed.join(", ")}`);
  }
}

function dirProblems(dir: string): string[] {
  if (!existsSync(dir) || !lstatSync(dir).isDirectory()) return [];
  try {
    const st = readDir(dir);
    sessionOf(st, mints, new Map([[host, fake]]));
    return st.problems;
  } catch (e) { return [`unreadable: ${(e as Error).message}`]; }
}

function freshDir(prefix: string): string {
  const base = tempDir(prefix);
  chmodSync(base, 0o755);
  return join(base, "cfg");
}

describe("bad local input", () => {
  test("malformed, truncated, wrong-typed, huge and hostile hosts.yml / tokens.yml", async () => {
    const rng = banner("reliability-local-input");
    const all = cases(rng);
    // Independent dirs: run a few at a time.
    const queue = [...all];
    await Promise.all(Array.from({ length: 10 }, async () => {
      for (let cs = queue.shift(); cs; cs = queue.shift()) {
        const dir = freshDir("difyctl-local-");
        mkdirSync(dir, { mode: 0o700 });
        const v = validFiles();
        const h = cs.hosts ? cs.hosts(v) : v.hosts;
        const t = cs.tokens ? cs.tokens(v) : v.tokens;
        if (h !== null) writeFileSync(join(dir, "hosts.yml"), h, { mode: 0o600 });
        if (t !== null) writeFileSync(join(dir, "tokens.yml"), t, { mode: 0o600 });
        await check(cs.name, dir, baseEnv(dir, { DIFY_TOKEN_STORAGE: "file" }), cs.exits ?? [6], cs.corrupt ?? false, undefined, cs.warn, cs.loginReplaces);
      }
    }));
    expect(existsSync("/tmp/pwned")).toBe(false);
    flush("files");
  }, 120_000);

  test("loose file modes give a warning (and still work)", async () => {
    for (const [file, mode] of [["hosts.yml", 0o644], ["tokens.yml", 0o666], ["tokens.yml", 0o640]] as const) {
      const dir = freshDir("difyctl-mode-");
      mkdirSync(dir, { mode: 0o700 });
      const v = validFiles();
      writeFileSync(join(dir, "hosts.yml"), v.hosts, { mode: 0o600 });
      writeFileSync(join(dir, "tokens.yml"), v.tokens, { mode: 0o600 });
      chmodSync(join(dir, file), mode);
      const env = baseEnv(dir, { DIFY_TOKEN_STORAGE: "file" });
      const r = await spawnCli(["auth", "status"], { env, timeoutMs: 10_000 });
      tally.cases++; tally.runs++;
      if (r.code !== 0 || !new RegExp(`warning: .*${file} has mode 0${mode.toString(8)}`).test(r.stderr)) {
        tally.failures.push(`${file} ${mode.toString(8)}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
      }
      const j = await spawnCli(["auth", "status", "--json"], { env, timeoutMs: 10_000 });
      tally.runs++;
      for (const p of outputProblems(j, { json: true })) tally.failures.push(`${file} ${mode.toString(8)} --json: ${p}`);
      if ((lstatSync(join(dir, file)).mode & 0o777) !== mode) tally.failures.push(`a reader changed the mode of ${file}`);
    }
    flush("modes");
  }, 60_000);

  test("config dir that is a file, a FIFO, a dangling or looping symlink, or hosts.yml that is a directory / FIFO / device", async () => {
    const mk = (): string => { const d = freshDir("difyctl-odd-"); return d; };
    const odd: [string, (dir: string) => void, number[]][] = [
      ["config dir is a regular file", (d) => writeFileSync(d, "not a dir"), [1, 2, 6]],
      ["config dir is a FIFO", (d) => execFileSync("mkfifo", [d]), [1, 2, 6]],
      ["config dir is a dangling symlink", (d) => symlinkSync(join(d, "..", "nowhere"), d), [0, 4]],
      ["config dir is a symlink loop", (d) => symlinkSync(d, d), [1, 2, 6]],
      ["hosts.yml is a directory", (d) => { mkdirSync(d, { mode: 0o700 }); mkdirSync(join(d, "hosts.yml")); }, [6]],
      ["hosts.yml is a FIFO", (d) => { mkdirSync(d, { mode: 0o700 }); execFileSync("mkfifo", [join(d, "hosts.yml")]); }, [6]],
      ["hosts.yml is a symlink to /dev/zero", (d) => { mkdirSync(d, { mode: 0o700 }); symlinkSync("/dev/zero", join(d, "hosts.yml")); }, [6]],
      ["hosts.yml is a symlink loop", (d) => { mkdirSync(d, { mode: 0o700 }); symlinkSync(join(d, "hosts.yml"), join(d, "hosts.yml")); }, [6]],
      ["tokens.yml is a FIFO", (d) => { mkdirSync(d, { mode: 0o700 }); const v = validFiles(); writeFileSync(join(d, "hosts.yml"), v.hosts, { mode: 0o600 }); execFileSync("mkfifo", [join(d, "tokens.yml")]); }, [6]],
    ];
    for (const [name, setup, exits] of odd) {
      const d = mk();
      setup(d);
      const strict = true;
      // A dangling symlink dir is simply empty: login may create it through the link. Anything else stays as it was.
      await check(`odd: ${name}`, d, baseEnv(d, { DIFY_TOKEN_STORAGE: "file" }), name.includes("dangling") ? [0, 1, 4] : exits, name.includes("dangling") ? false : strict);
    }
    flush("odd");
  }, 120_000);

  test("permissions: another user's dir, a read-only dir, an unwritable $TMPDIR (run as nobody)", async () => {
    if (!IS_ROOT) { console.log("[local] not root: the permission cases need to run the binary as another user; skipped"); return; }
    // The binary must be reachable by nobody.
    const base = tempDir("difyctl-perm-");
    chmodSync(base, 0o755);
    const own = (p: string, u: { uid: number; gid: number }) => chownSync(p, u.uid, u.gid);

    // 1. A symlink to another user's config dir (owned by uid 1, 0700): unreadable → clear error, nothing written.
    {
      const other = join(base, "other"); mkdirSync(other, { mode: 0o700 });
      const v = validFiles();
      writeFileSync(join(other, "hosts.yml"), v.hosts, { mode: 0o600 }); writeFileSync(join(other, "tokens.yml"), v.tokens, { mode: 0o600 });
      for (const f of ["hosts.yml", "tokens.yml", ""]) own(join(other, f), OTHER);
      const link = join(base, "link-private"); symlinkSync(other, link);
      await check("perm: symlink to another user's private dir", link, baseEnv(link, { DIFY_TOKEN_STORAGE: "file", HOME: base }), [1, 2, 6], true, NOBODY, /another user|permission denied/);
    }
    // 2. A symlink to another user's world-readable dir: the reader warns, writers refuse.
    {
      const other = join(base, "other-open"); mkdirSync(other, { mode: 0o755 });
      const v = validFiles();
      writeFileSync(join(other, "hosts.yml"), v.hosts, { mode: 0o644 }); writeFileSync(join(other, "tokens.yml"), v.tokens, { mode: 0o644 });
      for (const f of ["hosts.yml", "tokens.yml", ""]) own(join(other, f), OTHER);
      const link = join(base, "link-open"); symlinkSync(other, link);
      await check("perm: symlink to another user's readable dir", link, baseEnv(link, { DIFY_TOKEN_STORAGE: "file", HOME: base }), [0, 1, 2, 4, 6], true, NOBODY, /warning: the config directory .* belongs to another user/);
    }
    // 2b. Root using a config dir that belongs to nobody (sudo with the user's HOME): a warning.
    {
      const theirs = join(base, "theirs"); mkdirSync(theirs, { mode: 0o700 });
      const v = validFiles();
      writeFileSync(join(theirs, "hosts.yml"), v.hosts, { mode: 0o600 }); writeFileSync(join(theirs, "tokens.yml"), v.tokens, { mode: 0o600 });
      for (const f of ["hosts.yml", "tokens.yml", ""]) own(join(theirs, f), NOBODY);
      const r = await spawnCli(["auth", "status"], { env: baseEnv(theirs, { DIFY_TOKEN_STORAGE: "file" }), timeoutMs: 10_000 });
      tally.cases++; tally.runs++;
      if (r.code !== 0 || !/warning: the config directory .* belongs to another user \(uid 65534\)/.test(r.stderr)) tally.failures.push(`root on nobody's dir: exit ${r.code}, stderr ${r.stderr}`);
    }
    // 3. A read-only config dir of our own: readers work, writers fail clearly, nothing changes.
    {
      const ro = join(base, "ro"); mkdirSync(ro, { mode: 0o700 });
      const v = validFiles();
      writeFileSync(join(ro, "hosts.yml"), v.hosts, { mode: 0o600 }); writeFileSync(join(ro, "tokens.yml"), v.tokens, { mode: 0o600 });
      for (const f of ["hosts.yml", "tokens.yml", ""]) own(join(ro, f), NOBODY);
      chmodSync(ro, 0o500);
      await check("perm: read-only config dir", ro, baseEnv(ro, { DIFY_TOKEN_STORAGE: "file", HOME: base }), [0, 1, 2, 4], true, NOBODY);
      const w = await spawnCli(["auth", "login", "--host", fake.url, "--insecure", "--no-browser"], { env: baseEnv(ro, { DIFY_TOKEN_STORAGE: "file", HOME: base }), timeoutMs: 20_000, asUser: NOBODY });
      if (!/permission denied|read-only/i.test(w.stderr)) tally.failures.push(`read-only dir: login error is not clear: ${w.stderr}`);
      // Refused before the device flow: no sign-in is started that could not be stored.
      if (/Waiting for authorization/.test(w.stderr)) tally.failures.push("read-only dir: login started the device flow before finding the dir unwritable");
    }
    // 4. An unwritable $TMPDIR: difyctl keeps its temp files in the config dir, so login still works,
    //    with the file store and with the keychain probe (whose native library may want $TMPDIR).
    for (const storage of ["file", "auto"]) {
      const tmp = join(base, `tmp-ro-${storage}`); mkdirSync(tmp, { mode: 0o555 });
      const cfg = join(base, `cfg-tmp-${storage}`); mkdirSync(cfg, { mode: 0o700 }); own(cfg, NOBODY);
      const env = baseEnv(cfg, { DIFY_TOKEN_STORAGE: storage, TMPDIR: tmp, HOME: base });
      const r = await spawnCli(["auth", "login", "--host", fake.url, "--insecure", "--no-browser", "--json"], { env, timeoutMs: 30_000, asUser: NOBODY });
      tally.cases++; tally.runs++;
      for (const p of outputProblems(r, { json: true })) tally.failures.push(`unwritable TMPDIR (${storage}): ${p}`);
      if (r.code !== 0) tally.failures.push(`unwritable TMPDIR (${storage}): login exit ${r.code}: ${r.stderr.slice(0, 400)}`);
      const st = readDir(cfg);
      sessionOf(st, mints, new Map([[host, fake]]));
      if (r.code === 0 && st.problems.length) tally.failures.push(`unwritable TMPDIR (${storage}): ${st.problems.join("; ")}`);
      const gone = await spawnCli(["auth", "status", "--json"], { env: { ...env, TMPDIR: join(base, "does-not-exist") }, timeoutMs: 10_000, asUser: NOBODY });
      tally.runs++;
      if (gone.code !== 0) tally.failures.push(`missing TMPDIR: status exit ${gone.code}: ${gone.stderr}`);
    }
    flush("permissions");
  }, 180_000);

  afterAll(() => {
    report("local-input", { cases: tally.cases, runs: tally.runs, failures: failuresTotal.length });
  });
});

function flush(what: string): void {
  const f = tally.failures.splice(0);
  if (f.length) console.log(`[local:${what}]\n${f.slice(0, 30).join("\n")}`);
  failuresTotal.push(...f);
  expect(f).toEqual([]);
}
const failuresTotal: string[] = [];
