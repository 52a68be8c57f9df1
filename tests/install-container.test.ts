// The container recipe of docs/containers.md: sign in where there is no
// keychain, copy the config dir, then run the copied binary alone in an empty directory with the
// copy mounted read-only, no D-Bus and no node_modules anywhere. Also the DIFY_TOKEN alternative.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { BIN, FAST, login, run, tempDir } from "./helpers.ts";

let s: FakeServer;
let box: string; // the "image": an empty directory holding only the binary
let config: string; // the copied config dir, mounted read-only
const isRoot = process.getuid?.() === 0;

beforeAll(async () => {
  s = await startFakeServer({ ...FAST, autoApprove: { afterPolls: 1 } });
  const original = join(tempDir(), "difyctl");
  const r = await login(s.url, original); // baseEnv has no D-Bus: file storage, as a container has
  if (r.code !== 0) throw new Error(`login failed: ${r.stderr}`);
  config = join(tempDir("difyctl-copied-"), "config");
  cpSync(original, config, { recursive: true });
  box = tempDir("difyctl-box-");
  copyFileSync(BIN, join(box, "difyctl"));
});
afterAll(async () => { await s?.close(); });

/** A bare environment, like `docker run -e …`: no D-Bus, no XDG dirs, an empty HOME and TMPDIR. */
function containerEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: "/usr/bin:/bin", HOME: tempDir("difyctl-empty-home-"), TMPDIR: tempDir("difyctl-empty-tmp-"), ...extra };
}

/**
 * Runs `cmd` in the box with `dir`, HOME and TMPDIR read-only (`-v …:ro` plus `docker run --read-only`).
 * Root ignores file modes, so as root a private mount namespace bind-mounts them read-only;
 * otherwise removing the write bits is enough.
 */
function readOnly(dir: string, cmd: string[], env: Record<string, string>) {
  if (isRoot) {
    const script = 'for d in "$0" "$HOME" "$TMPDIR"; do mount --bind -o ro "$d" "$d" || exit 99; done; cd "$1" && shift && exec "$@"';
    return run(["-m", "sh", "-c", script, dir, box, ...cmd], { bin: "unshare", env });
  }
  const script = 'chmod -R a-w "$0" "$HOME" "$TMPDIR" && cd "$1" && shift && "$@"; rc=$?; chmod -R u+w "$0" "$HOME" "$TMPDIR"; exit $rc';
  return run(["-c", script, dir, box, ...cmd], { bin: "sh", env });
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir)) out[f] = `${statSync(join(dir, f)).mode.toString(8)} ${new Bun.CryptoHasher("sha256").update(readFileSync(join(dir, f))).digest("hex")}`;
  return out;
}

describe("copied binary + copied config dir, read-only, no D-Bus", () => {
  test("the copy carries tokens.yml (0600): the session is portable", () => {
    expect(readdirSync(config).sort()).toContain("tokens.yml");
    expect(statSync(join(config, "tokens.yml")).mode & 0o777).toBe(0o600);
    expect(readdirSync(box)).toEqual(["difyctl"]);
  });

  test("the mounts really are read-only (otherwise the tests below prove nothing)", async () => {
    const env = containerEnv();
    expect((await readOnly(config, ["sh", "-c", 'touch "$0/probe"', config], env)).code).not.toBe(0);
    expect((await readOnly(config, ["sh", "-c", 'touch "$HOME/probe"'], env)).code).not.toBe(0);
    expect((await readOnly(config, ["sh", "-c", 'touch "$TMPDIR/probe"'], env)).code).not.toBe(0);
    expect((await readOnly(config, ["sh", "-c", "true"], env)).code).toBe(0);
  });

  test("auth status, whoami and a network read work; the config dir is unchanged", async () => {
    const before = snapshot(config);
    const env = containerEnv({ DIFY_CONFIG_DIR: config });
    const st = await readOnly(config, ["./difyctl", "auth", "status", "--json"], env);
    expect(st.stderr).toBe("");
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ logged_in: true, storage: "file", subject_type: "account" });
    const who = await readOnly(config, ["./difyctl", "auth", "whoami"], env);
    expect(who.code).toBe(0);
    expect(who.stdout).toContain("gareth@dify.ai");
    const requests = s.requests.length;
    const dev = await readOnly(config, ["./difyctl", "auth", "devices", "list", "--json"], env);
    expect(dev.code).toBe(0);
    expect(Array.isArray(JSON.parse(dev.stdout))).toBe(true);
    expect(s.requests.length).toBeGreaterThan(requests); // it really went to the server
    expect(snapshot(config)).toEqual(before);
  });
});

describe("the DIFY_TOKEN alternative: nothing mounted, nothing stored", () => {
  test("status and a network read from env vars alone; the (empty, read-only) config dir stays empty", async () => {
    const { token } = s.mintToken(undefined, "difyctl on ci-container");
    const empty = join(tempDir(), "cfg");
    mkdirSync(empty);
    const env = containerEnv({ DIFY_CONFIG_DIR: empty, DIFY_TOKEN: token, DIFY_HOST: s.url, DIFY_WORKSPACE_ID: IDS.workspaces.acme });
    const st = await readOnly(empty, ["./difyctl", "auth", "status", "--json"], env);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ logged_in: true, storage: "env" });
    const dev = await readOnly(empty, ["./difyctl", "auth", "devices", "list", "--json"], env);
    expect(dev.code).toBe(0);
    expect(readdirSync(empty)).toEqual([]);
    expect(st.stdout + st.stderr + dev.stdout + dev.stderr).not.toContain(token);
  });
});
