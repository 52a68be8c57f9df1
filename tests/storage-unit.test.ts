// The storage layer in-process: waiting for the directory lock (with an injected clock, so nothing
// here sleeps for time logic), lock paths that are not lock files, the write probe before a
// sign-in, private-dir refusal, file modes after a write, and the read path without mmap.
import { describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliError } from "../src/cli/errors.ts";
import { checkWritable, dirRefusal, type LockOptions, readFileIfExistsAsync, withDirLock, writeFileAtomic } from "../src/storage/atomic-file.ts";
import { ConfigStore } from "../src/storage/config-store.ts";
import { tempDir } from "./helpers.ts";

const IS_ROOT = process.getuid?.() === 0;
const LOCK = ".difyctl.lock";

/**
 * A fake clock: `sleep` advances time instead of waiting. It records, for each sleep, how many
 * times the clock was read since the previous one: a loop that spins without sleeping shows up
 * as an ever-growing count (or never reaches a sleep at all, and the `reads` cap throws).
 */
function fakeClock(start = Date.now()) {
  let t = start;
  let reads = 0;
  const readsPerSleep: number[] = [];
  const slept: number[] = [];
  const opts: Required<Pick<LockOptions, "now" | "sleep">> = {
    now: () => {
      if (++reads > 1000) throw new Error("the lock loop read the clock 1000 times without sleeping");
      return t;
    },
    sleep: async (ms: number) => {
      readsPerSleep.push(reads);
      reads = 0;
      slept.push(ms);
      t += ms;
    },
  };
  return { opts, slept, readsPerSleep, advance: (ms: number) => { t += ms; } };
}

async function failure(p: Promise<unknown>): Promise<CliError> {
  try { await p; } catch (e) { return e as CliError; }
  throw new Error("expected a failure");
}

function liveLock(dir: string): void {
  mkdirSync(dir, { recursive: true });
  // This test process is alive and the timestamp fresh: a lock held by a live writer.
  writeFileSync(join(dir, LOCK), `${process.pid} ${Date.now()}\n`);
}

describe("waiting for the directory lock", () => {
  test("a live holder is waited for with sleeps, then a clear error names the lock and how to remove it", async () => {
    const dir = tempDir();
    liveLock(dir);
    const clock = fakeClock();
    let ran = false;
    const e = await failure(withDirLock(dir, () => { ran = true; }, { ...clock.opts, waitMs: 10_000 }));
    expect(ran).toBe(false);
    expect(e.code).toBe("unknown");
    expect(e.message).toContain("locked by process");
    expect(e.message).toContain(join(dir, LOCK));
    expect(e.hint).toContain(`rm -f '${join(dir, LOCK)}'`);
    // Slept its way to the deadline: about 10 s of 5-25 ms pauses, a few clock reads between each.
    const total = clock.slept.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(10_000);
    expect(total).toBeLessThan(10_100);
    expect(Math.max(...clock.readsPerSleep)).toBeLessThanOrEqual(8);
  });

  test("the wait ends as soon as the signal aborts, with `cancelled` (exit 130)", async () => {
    const dir = tempDir();
    liveLock(dir);
    const ac = new AbortController();
    const clock = fakeClock();
    let sleeps = 0;
    const e = await failure(withDirLock(dir, () => {}, {
      now: clock.opts.now, signal: ac.signal, waitMs: 60_000,
      sleep: async (ms) => { if (++sleeps === 3) ac.abort(); await clock.opts.sleep(ms); },
    }));
    expect(e.code).toBe("cancelled");
    expect(e.exitCode).toBe(130);
    expect(e.message).toContain(join(dir, LOCK));
    expect(sleeps).toBe(3);
  });

  test("the real sleep is cut short by the abort (no timer keeps the wait going)", async () => {
    const dir = tempDir();
    liveLock(dir);
    const ac = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 50);
    const e = await failure(withDirLock(dir, () => {}, { signal: ac.signal, waitMs: 60_000 }));
    expect(e.code).toBe("cancelled");
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  const shapes: [string, (p: string) => void, string, string][] = [
    ["a dangling symlink", (p) => symlinkSync(join(p, "..", "nowhere"), p), "a symbolic link", "rm '"],
    ["a symlink to a real file", (p) => { writeFileSync(p + "-target", `${process.pid} ${Date.now()}\n`); symlinkSync(p + "-target", p); }, "a symbolic link", "rm '"],
    ["a directory", (p) => mkdirSync(p), "a directory", "rm -r '"],
    ["a FIFO", (p) => execFileSync("mkfifo", [p]), "a special file (FIFO, socket or device)", "rm '"],
  ];
  for (const [what, make, named, remove] of shapes) {
    test(`a lock path that is ${what} is refused at once: no wait, no spin, nothing run`, async () => {
      const dir = tempDir();
      make(join(dir, LOCK));
      const clock = fakeClock();
      let ran = false;
      const e = await failure(withDirLock(dir, () => { ran = true; }, { ...clock.opts, waitMs: 10_000 }));
      expect(ran).toBe(false);
      expect(clock.slept).toEqual([]);
      expect(e.code).toBe("config_schema_unsupported");
      expect(e.message).toBe(`the lock ${join(dir, LOCK)} is ${named}, not a lock file difyctl made`);
      expect(e.hint).toBe(`if no other difyctl is running, remove it: ${remove}${join(dir, LOCK)}'`);
      // Refused, not removed: a person decides.
      expect(readdirSync(dir)).toContain(LOCK);
    });
  }

  test.skipIf(IS_ROOT)("an unreadable lock is waited for (it may be another user's live difyctl), then reported with its owner", async () => {
    const dir = tempDir();
    liveLock(dir);
    chmodSync(join(dir, LOCK), 0o000);
    const clock = fakeClock();
    const e = await failure(withDirLock(dir, () => {}, { ...clock.opts, waitMs: 2000 }));
    expect(e.message).toMatch(/cannot be read \(permission denied; owner uid \d+\)/);
    expect(e.hint).toContain(`rm -f '${join(dir, LOCK)}'`);
    expect(clock.slept.length).toBeGreaterThan(50);
  });

  test("stale locks are broken without a wait: dead pid, old timestamp, old garbage", async () => {
    const dir = tempDir();
    const dead = Bun.spawnSync(["true"]).pid;
    for (const [content, age] of [[`${dead} ${Date.now()}\n`, 0], [`${process.ppid} ${Date.now() - 600_000}\n`, 0], ["\u0000 garbage", 60_000]] as const) {
      writeFileSync(join(dir, LOCK), content);
      if (age) utimesSync(join(dir, LOCK), (Date.now() - age) / 1000, (Date.now() - age) / 1000);
      const clock = fakeClock();
      let ran = false;
      await withDirLock(dir, () => { ran = true; }, clock.opts);
      expect(ran).toBe(true);
      expect(clock.slept).toEqual([]);
      expect(existsSync(join(dir, LOCK))).toBe(false);
    }
    expect(readdirSync(dir).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  test("fresh garbage (a writer between create and write) is only broken after the grace", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK), "");
    const clock = fakeClock(statSync(join(dir, LOCK)).mtimeMs);
    let ran = false;
    await withDirLock(dir, () => { ran = true; }, clock.opts);
    expect(ran).toBe(true);
    const waited = clock.slept.reduce((a, b) => a + b, 0);
    expect(waited).toBeGreaterThanOrEqual(2000);
    expect(waited).toBeLessThan(2100);
  });
});

describe("the write probe before a sign-in", () => {
  test("writes the size asked for, flushes, removes it: nothing is left", () => {
    const dir = tempDir();
    checkWritable(dir, 200_000);
    expect(readdirSync(dir)).toEqual([]);
  });
  test("a directory that is gone or not writable is reported with the path", () => {
    const dir = join(tempDir(), "missing");
    expect(() => checkWritable(dir, 10)).toThrow(`cannot write to the config directory ${dir}: no such file or directory`);
  });
  test.skipIf(IS_ROOT)("a read-only directory gets the permission hint, not the disk-space one", () => {
    const dir = tempDir();
    chmodSync(dir, 0o500);
    let e: CliError | null = null;
    try { checkWritable(dir, 10); } catch (x) { e = x as CliError; }
    chmodSync(dir, 0o700);
    expect(e?.message).toContain("permission denied");
    expect(e?.hint).toContain("permissions");
  });
});

describe("credentials only in a private directory, files 0600", () => {
  test("group- or world-writable dirs (0770, 0777, 1777 like /tmp) are refused; 0700 and 0755 are fine", () => {
    const uid = process.getuid?.() ?? 0;
    for (const mode of [0o770, 0o777, 0o1777, 0o720, 0o702]) {
      const why = dirRefusal("/x", { uid, mode: 0o40000 | mode });
      expect(why?.message).toContain("can be written by other users");
      expect(why?.hint).toContain("chmod 700 '/x'");
    }
    for (const mode of [0o700, 0o755, 0o750]) expect(dirRefusal("/x", { uid, mode: 0o40000 | mode })).toBeNull();
  });

  test("a sign-in is refused before it starts in a dir others can write; nothing is written there", () => {
    for (const mode of [0o777, 0o770, 0o1777]) {
      const dir = tempDir();
      chmodSync(dir, mode);
      const store = new ConfigStore(dir);
      let e: CliError | null = null;
      try { store.checkWritable(); } catch (x) { e = x as CliError; }
      expect(e?.code).toBe("config_invalid_value");
      expect(e?.message).toContain(`config directory ${dir} (mode ${mode.toString(8).padStart(4, "0")}) can be written by other users`);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  test("storing a token or a session there is refused even past the pre-check; clearing is not", async () => {
    const dir = tempDir();
    chmodSync(dir, 0o777);
    const store = new ConfigStore(dir);
    await expect(store.withLock(() => store.writeTokens({ tokens: { t: { host: "h", bearer: "dfoa_x", expires_at: null } } }))).rejects.toThrow("can be written by other users");
    await expect(store.withLock(() => store.writeHosts({ current_host: "h", subject_type: "account", token_storage: "file", token_id: "t" }))).rejects.toThrow("can be written by other users");
    await store.withLock(() => { store.writeHosts({ last_host: "h" }); store.writeTokens({ tokens: {} }); });
    expect(existsSync(join(dir, "tokens.yml"))).toBe(false);
  });

  test("a lock path that is not a file stops a sign-in before it starts", () => {
    const dir = tempDir();
    mkdirSync(join(dir, LOCK));
    expect(() => new ConfigStore(dir).checkWritable()).toThrow("is a directory, not a lock file difyctl made");
  });

  test("an atomic write leaves the file 0600 whatever mode it had", () => {
    const dir = tempDir();
    const p = join(dir, "tokens.yml");
    writeFileSync(p, "old\n", { mode: 0o644 });
    chmodSync(p, 0o666);
    writeFileAtomic(p, "new\n");
    expect(statSync(p).mode & 0o777).toBe(0o600);
  });

  test("any write under the lock sets loose credential files back to 0600, and says so", async () => {
    const dir = tempDir();
    const notes: string[] = [];
    const store = new ConfigStore(dir, (m) => notes.push(m));
    writeFileSync(join(dir, "tokens.yml"), "tokens: {}\n", { mode: 0o600 });
    writeFileSync(join(dir, "hosts.yml"), "last_host: h\n", { mode: 0o600 });
    chmodSync(join(dir, "tokens.yml"), 0o644);
    chmodSync(join(dir, "hosts.yml"), 0o640);
    writeFileSync(join(dir, "other.txt"), "x", { mode: 0o644 });
    // Only hosts.yml is written; tokens.yml is tightened anyway.
    await store.withLock(() => store.writeHosts({ last_host: "h2" }));
    expect(statSync(join(dir, "tokens.yml")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "hosts.yml")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "other.txt")).mode & 0o777).toBe(0o644);
    expect(notes.join("\n")).toContain(`${join(dir, "tokens.yml")} was readable by other users; its mode is now 0600`);
  });
});

describe("the read-only read path", () => {
  test("reads (never maps) the file: a file shrunk or emptied after the stat is read as it is now", async () => {
    const dir = tempDir();
    const p = join(dir, "hosts.yml");
    writeFileSync(p, "a".repeat(100_000));
    const st = Bun.file(p).stat();
    await st;
    writeFileSync(p, "short\n");
    expect((await readFileIfExistsAsync(p, 1 << 20, st))?.text).toBe("short\n");
    writeFileSync(p, "");
    expect((await readFileIfExistsAsync(p, 1 << 20, st))?.text).toBe("");
  });
  test("a file that grew past the cap since the stat is refused, and not read whole", async () => {
    const dir = tempDir();
    const p = join(dir, "hosts.yml");
    writeFileSync(p, "x: 1\n");
    const st = Bun.file(p).stat();
    await st;
    writeFileSync(p, "#".repeat(3 << 20));
    await expect(readFileIfExistsAsync(p, 1 << 20, st)).rejects.toThrow("is too large (1048577 bytes)");
  });
  test("the source maps no config file", () => {
    const src = readFileSync(join(import.meta.dir, "..", "src", "storage", "atomic-file.ts"), "utf8");
    expect(src.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, "")).not.toContain("mmap");
  });
});
