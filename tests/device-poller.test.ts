import { describe, expect, test } from "bun:test";
import { CliError } from "../src/cli/errors.ts";
import {
  awaitAuthorization,
  nextInterval,
  pollMarginMs,
  type Clock,
  type PollOutcome,
  type PollerEvent,
  type PollerOptions,
} from "../src/auth/device-poller.ts";

// ---------- fakes (virtual time only; nothing here really sleeps) ----------

class FakeClock implements Clock {
  t: number;
  sleeps: number[] = [];
  /** When true, sleep() never advances time and only settles on abort. */
  hold = false;
  private holdWaiters: Array<() => void> = [];
  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (signal?.aborted) return Promise.reject(new DOMException("aborted", "AbortError"));
    if (this.hold) {
      return new Promise<void>((_resolve, reject) => {
        signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")), {
          once: true,
        });
        for (const w of this.holdWaiters.splice(0)) w();
      });
    }
    this.t += ms;
    return Promise.resolve();
  }
  /** Resolves once a held sleep has started. */
  waitForHeldSleep(): Promise<void> {
    return new Promise((r) => this.holdWaiters.push(r));
  }
}

type Step =
  | PollOutcome
  | CliError
  | Error
  | { took: number; then: PollOutcome | CliError }
  | { run: (signal?: AbortSignal) => Promise<PollOutcome> };

function scripted(clock: FakeClock, steps: Step[]) {
  const calls: number[] = [];
  const signals: Array<AbortSignal | undefined> = [];
  let i = 0;
  const poll = async (signal?: AbortSignal): Promise<PollOutcome> => {
    calls.push(clock.now());
    signals.push(signal);
    if (i >= steps.length) throw new Error(`poll script exhausted after ${steps.length} calls`);
    const s = steps[i++]!;
    if (s instanceof Error) throw s;
    if ("run" in s) return s.run(signal);
    if ("took" in s) {
      clock.t += s.took;
      if (s.then instanceof Error) throw s.then;
      return s.then;
    }
    return s;
  };
  return { poll, calls, signals, remaining: () => steps.length - i };
}

const PENDING: PollOutcome = { kind: "pending" };
const SLOW: PollOutcome = { kind: "slow_down" };
const PAYLOAD = {
  token: "dfoa_" + "x".repeat(43),
  expires_at: "2026-05-25T18:40:39.123456+00:00",
  subject_type: "account",
  account: { id: "u1", email: "a@b.c", name: "A" },
  workspaces: [{ id: "w1", name: "W", role: "owner" }],
  default_workspace_id: "w1",
  token_id: "t1",
};
const TOKEN: PollOutcome = { kind: "token", payload: PAYLOAD };
const e5xx = () => new CliError("server_5xx", "server error 502", { httpStatus: 502 });

function run(
  steps: Step[],
  opts: Partial<Omit<PollerOptions, "poll" | "clock">> & { start?: number } = {},
) {
  const clock = new FakeClock(opts.start ?? 0);
  const s = scripted(clock, steps);
  const events: PollerEvent[] = [];
  const promise = awaitAuthorization({
    interval: "interval" in opts ? opts.interval : 5,
    expiresIn: opts.expiresIn ?? 900,
    poll: s.poll,
    clock,
    signal: opts.signal,
    onEvent: (e) => events.push(e),
  });
  return { clock, events, promise, ...s };
}

async function rejection(p: Promise<unknown>): Promise<CliError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    return e as CliError;
  }
  throw new Error("expected the poller to reject, but it resolved");
}

const gaps = (xs: number[]) => xs.slice(1).map((x, i) => x - xs[i]!);

// ---------- pure helpers ----------

describe("nextInterval (slow_down rule)", () => {
  test("5 → 10 → 20 → 40 → 60 → 65 → 70", () => {
    const seq = [5];
    for (let k = 0; k < 6; k++) seq.push(nextInterval(seq[seq.length - 1]!));
    expect(seq).toEqual([5, 10, 20, 40, 60, 65, 70]);
  });
  test("always at least +5 s (RFC 8628 §3.5) even for small intervals", () => {
    expect(nextInterval(0.1)).toBeCloseTo(5.1, 10);
    expect(nextInterval(1)).toBe(6);
    expect(nextInterval(3)).toBe(8);
  });
  test("a larger server-sent interval wins; a smaller or invalid one is ignored", () => {
    expect(nextInterval(5, 30)).toBe(30);
    expect(nextInterval(5, 3)).toBe(10);
    expect(nextInterval(5, 10)).toBe(10);
    expect(nextInterval(40, 45)).toBe(60);
    expect(nextInterval(5, Number.NaN)).toBe(10);
    expect(nextInterval(5, Number.POSITIVE_INFINITY)).toBe(10);
  });
});

describe("pollMarginMs", () => {
  test("min(500, max(50, interval*100))", () => {
    expect(pollMarginMs(5)).toBe(500);
    expect(pollMarginMs(60)).toBe(500);
    expect(pollMarginMs(2.5)).toBe(250);
    expect(pollMarginMs(1)).toBe(100);
    expect(pollMarginMs(0.1)).toBe(50);
    expect(pollMarginMs(0.01)).toBe(50);
  });
});

// ---------- the device flow's error states ----------

describe("device flow error states", () => {
  test("authorization_pending: keep polling at the same interval, no events, then token", async () => {
    const r = run([PENDING, PENDING, PENDING, TOKEN]);
    expect(await r.promise).toEqual(PAYLOAD);
    expect(r.calls).toEqual([5500, 11000, 16500, 22000]);
    expect(r.events).toEqual([{ type: "waiting", interval: 5, expiresAt: 900_000 }]);
  });

  test("token payload is returned as-is", async () => {
    const r = run([TOKEN]);
    expect(await r.promise).toBe(PAYLOAD);
  });

  test("slow_down: interval grows and polling continues", async () => {
    const r = run([SLOW, SLOW, PENDING, TOKEN]);
    expect(await r.promise).toEqual(PAYLOAD);
    expect(gaps(r.calls)).toEqual([10_500, 20_500, 20_500]);
    expect(r.events.filter((e) => e.type === "slow_down")).toEqual([
      { type: "slow_down", interval: 10 },
      { type: "slow_down", interval: 20 },
    ]);
  });

  test("expired_token: stop, exit 4, exact message, no further polls", async () => {
    const r = run([PENDING, { kind: "expired" }, TOKEN]);
    const err = await rejection(r.promise);
    expect(err.code).toBe("expired_token");
    expect(err.exitCode).toBe(4);
    expect(err.message).toBe("code expired before authorization; run 'difyctl auth login' to try again");
    expect(r.calls.length).toBe(2);
  });

  test("access_denied: stop, exit 4, 'authorization denied'", async () => {
    const r = run([{ kind: "denied" }, TOKEN]);
    const err = await rejection(r.promise);
    expect(err.code).toBe("access_denied");
    expect(err.exitCode).toBe(4);
    expect(err.message).toBe("authorization denied");
    expect(r.calls.length).toBe(1);
  });

  test("unknown error code: stop immediately (no retry), exit 1, names the code", async () => {
    const r = run([{ kind: "unknown_error", error: "unsupported_client" }, TOKEN]);
    const err = await rejection(r.promise);
    expect(err.code).toBe("unknown");
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe("unexpected device-flow error: unsupported_client");
    expect(r.calls.length).toBe(1);
    expect(r.events.some((e) => e.type === "retry")).toBe(false);
  });

  test("unknown error code from the server is sanitised (printable ASCII, ≤ 64 chars)", async () => {
    const evil = "\u001b[31mfoo\nbar\u0007\u00e9" + "z".repeat(200);
    const r = run([{ kind: "unknown_error", error: evil }]);
    const err = await rejection(r.promise);
    const shown = err.message.slice("unexpected device-flow error: ".length);
    expect(err.message.startsWith("unexpected device-flow error: ")).toBe(true);
    expect(shown.length).toBeLessThanOrEqual(64);
    expect(shown).toMatch(/^[\x20-\x7e]+$/);
    expect(shown).toContain("foo");
    expect(shown).toContain("bar");
  });

  test("5xx on poll: retry with backoff, then fail with 'device-flow poll unavailable', exit 1", async () => {
    const r = run([e5xx(), e5xx(), e5xx(), e5xx(), e5xx(), e5xx(), TOKEN], { interval: 0.1 });
    const err = await rejection(r.promise);
    expect(err.code).toBe("server_5xx");
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe("device-flow poll unavailable");
    expect(err.hint).toBeTruthy();
    expect(r.calls.length).toBe(6); // 1 try + 5 retries
  });
});

// ---------- timing: never early, gap between request starts ----------

describe("poll spacing", () => {
  test("first poll only after one interval + margin, never early", async () => {
    const r = run([TOKEN], { start: 1_000_000 });
    await r.promise;
    expect(r.calls).toEqual([1_005_500]);
  });

  test("gap between starts is interval*1000 + margin even when a poll takes time (sleep only the remainder)", async () => {
    const r = run([{ took: 2000, then: PENDING }, { took: 2000, then: PENDING }, TOKEN]);
    await r.promise;
    expect(r.calls).toEqual([5500, 11000, 16500]);
    expect(r.clock.sleeps).toEqual([5500, 3500, 3500]);
  });

  test("a poll slower than the interval is followed immediately (no extra sleep), gap still ≥ interval", async () => {
    const r = run([{ took: 7000, then: PENDING }, TOKEN]);
    await r.promise;
    expect(r.calls).toEqual([5500, 12500]);
    expect(r.clock.sleeps).toEqual([5500]);
  });

  test("slow_down applies to all subsequent polls", async () => {
    const r = run([SLOW, PENDING, PENDING, PENDING, TOKEN]);
    await r.promise;
    expect(gaps(r.calls)).toEqual([10_500, 10_500, 10_500, 10_500]);
  });

  test("slow_down body interval larger than the rule wins", async () => {
    const r = run([{ kind: "slow_down", interval: 30 }, PENDING, TOKEN]);
    await r.promise;
    expect(gaps(r.calls)).toEqual([30_500, 30_500]);
    expect(r.events).toContainEqual({ type: "slow_down", interval: 30 });
  });

  test("slow_down body interval smaller than the rule is ignored", async () => {
    const r = run([{ kind: "slow_down", interval: 3 }, TOKEN]);
    await r.promise;
    expect(gaps(r.calls)).toEqual([10_500]);
  });

  test("slow_down sequence 5→10→20→40→60→65 drives the real gaps", async () => {
    const r = run([SLOW, SLOW, SLOW, SLOW, SLOW, TOKEN], { expiresIn: 10_000 });
    await r.promise;
    expect(gaps(r.calls)).toEqual([10_500, 20_500, 40_500, 60_500, 65_500]);
    expect(r.events.filter((e) => e.type === "slow_down").map((e) => (e as { interval: number }).interval)).toEqual([
      10, 20, 40, 60, 65,
    ]);
  });

  for (const [label, interval] of [
    ["missing", undefined],
    ["0", 0],
    ["negative", -3],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
  ] as const) {
    test(`interval ${label} → 5 s`, async () => {
      const r = run([PENDING, TOKEN], { interval });
      await r.promise;
      expect(r.calls).toEqual([5500, 11000]);
      expect(r.events[0]).toEqual({ type: "waiting", interval: 5, expiresAt: 900_000 });
    });
  }

  test("fractional interval 0.1 s is honoured (margin 50 ms)", async () => {
    const r = run([PENDING, PENDING, TOKEN], { interval: 0.1 });
    await r.promise;
    expect(r.calls).toEqual([150, 300, 450]);
  });

  test("fractional interval 2.5 s (margin 250 ms)", async () => {
    const r = run([PENDING, TOKEN], { interval: 2.5 });
    await r.promise;
    expect(r.calls).toEqual([2750, 5500]);
  });
});

// ---------- local deadline ----------

describe("local deadline from expires_in", () => {
  test("endless slow_down terminates with expired_token before the deadline is crossed", async () => {
    const steps: Step[] = Array.from({ length: 1000 }, () => SLOW);
    const r = run(steps, { expiresIn: 900 });
    const err = await rejection(r.promise);
    expect(err.code).toBe("expired_token");
    expect(err.exitCode).toBe(4);
    expect(err.message).toBe("code expired before authorization; run 'difyctl auth login' to try again");
    // Gaps follow 5→10→20→40→60→65→…; the 14th poll would start at 907 s > 900 s.
    expect(gaps(r.calls)).toEqual([10_500, 20_500, 40_500, 60_500, 65_500, 70_500, 75_500, 80_500, 85_500, 90_500, 95_500, 100_500]);
    expect(r.calls[0]).toBe(5500);
    expect(r.calls.length).toBe(13);
    expect(Math.max(...r.calls)).toBeLessThan(900_000);
    expect(r.clock.now()).toBe(900_000);
  });

  test("a poll that would start exactly at the deadline is not made", async () => {
    const r = run([PENDING, TOKEN], { expiresIn: 11 });
    const err = await rejection(r.promise);
    expect(err.code).toBe("expired_token");
    expect(r.calls).toEqual([5500]);
  });

  test("a poll just before the deadline is still made", async () => {
    const r = run([PENDING, TOKEN], { expiresIn: 11.001 });
    expect(await r.promise).toEqual(PAYLOAD);
    expect(r.calls).toEqual([5500, 11000]);
  });

  test("a sleep that overshoots past the deadline does not poll", async () => {
    const clock = new FakeClock();
    const realSleep = clock.sleep.bind(clock);
    clock.sleep = (ms, signal) => realSleep(ms + 100, signal); // like a late timer
    const s = scripted(clock, [TOKEN]);
    const err = await rejection(awaitAuthorization({ interval: 5, expiresIn: 5.55, poll: s.poll, clock }));
    expect(err.code).toBe("expired_token");
    expect(s.calls.length).toBe(0);
  });

  test("deadline is relative to the clock at start", async () => {
    const r = run([PENDING, PENDING, TOKEN], { start: 50_000, expiresIn: 12 });
    const err = await rejection(r.promise);
    expect(err.code).toBe("expired_token");
    expect(r.calls).toEqual([55_500, 61_000]);
    expect(r.events[0]).toEqual({ type: "waiting", interval: 5, expiresAt: 62_000 });
  });

  test("retry backoff respects the deadline", async () => {
    // 0.15 s, +1 s, +2 s, +4 s → 7.15 s; the next retry (+8 s) would be past 10 s.
    const r = run([e5xx(), e5xx(), e5xx(), e5xx(), TOKEN], { interval: 0.1, expiresIn: 10 });
    const err = await rejection(r.promise);
    expect(err.code).toBe("expired_token");
    expect(r.calls).toEqual([150, 1150, 3150, 7150]);
    expect(r.clock.now()).toBe(10_000);
  });
});

// ---------- retries ----------

describe("transport retries", () => {
  test("5xx then success: backoff 1 s, 2 s, 4 s with retry events", async () => {
    const r = run([e5xx(), e5xx(), e5xx(), TOKEN], { interval: 0.1 });
    expect(await r.promise).toEqual(PAYLOAD);
    expect(r.calls).toEqual([150, 1150, 3150, 7150]);
    expect(r.events.filter((e) => e.type === "retry")).toEqual([
      { type: "retry", attempt: 1, delayMs: 1000, code: "server_5xx" },
      { type: "retry", attempt: 2, delayMs: 2000, code: "server_5xx" },
      { type: "retry", attempt: 3, delayMs: 4000, code: "server_5xx" },
    ]);
  });

  test("retries exhausted: 5 retries (1,2,4,8,16 s) then error with the same code and httpStatus", async () => {
    const r = run([e5xx(), e5xx(), e5xx(), e5xx(), e5xx(), e5xx(), TOKEN], { interval: 0.1 });
    const err = await rejection(r.promise);
    expect(err.code).toBe("server_5xx");
    expect(err.httpStatus).toBe(502);
    expect(err.message).toBe("device-flow poll unavailable");
    expect(r.calls).toEqual([150, 1150, 3150, 7150, 15150, 31150]);
    expect(r.events.filter((e) => e.type === "retry").map((e) => (e as { delayMs: number }).delayMs)).toEqual([
      1000, 2000, 4000, 8000, 16000,
    ]);
    expect(r.remaining()).toBe(1);
  });

  for (const code of ["network_timeout", "network_dns", "network_connection"] as const) {
    test(`${code} is retried and then succeeds`, async () => {
      const r = run([new CliError(code, "net down"), PENDING, TOKEN], { interval: 0.1 });
      expect(await r.promise).toEqual(PAYLOAD);
      expect(r.calls.length).toBe(3);
      expect(r.events).toContainEqual({ type: "retry", attempt: 1, delayMs: 1000, code });
    });

    test(`${code} exhausted keeps its code, exit 1`, async () => {
      const steps: Step[] = Array.from({ length: 6 }, () => new CliError(code, "net down"));
      const r = run([...steps, TOKEN], { interval: 0.1 });
      const err = await rejection(r.promise);
      expect(err.code).toBe(code);
      expect(err.exitCode).toBe(1);
      expect(err.message).toBe("device-flow poll unavailable");
      expect(r.calls.length).toBe(6);
    });
  }

  test("a successful poll resets the retry counter", async () => {
    const four = () => [e5xx(), e5xx(), e5xx(), e5xx()];
    const r = run([...four(), PENDING, ...four(), TOKEN], { interval: 0.1 });
    expect(await r.promise).toEqual(PAYLOAD);
    const attempts = r.events.filter((e) => e.type === "retry").map((e) => (e as { attempt: number }).attempt);
    expect(attempts).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
  });

  test("a retry never shortens the gap below interval + margin", async () => {
    const r = run([e5xx(), PENDING, TOKEN], { interval: 5 });
    await r.promise;
    expect(r.calls).toEqual([5500, 11000, 16500]);
    expect(r.events).toContainEqual({ type: "retry", attempt: 1, delayMs: 1000, code: "server_5xx" });
  });

  test("backoff is measured from the failure when the failing poll took time", async () => {
    const r = run([{ took: 3000, then: e5xx() }, TOKEN], { interval: 0.1 });
    await r.promise;
    expect(r.calls).toEqual([150, 4150]);
  });

  for (const [code, status] of [
    ["unsupported_endpoint", 404],
    ["rate_limited", 429],
    ["server_4xx_other", 400],
  ] as const) {
    test(`non-retryable ${code} propagates immediately`, async () => {
      const original = new CliError(code, "nope", { httpStatus: status });
      const r = run([original, TOKEN]);
      const err = await rejection(r.promise);
      expect(err).toBe(original);
      expect(r.calls.length).toBe(1);
      expect(r.events.some((e) => e.type === "retry")).toBe(false);
    });
  }

  test("a non-CliError from poll() becomes a CliError and is not retried", async () => {
    const r = run([new TypeError("boom"), TOKEN]);
    const err = await rejection(r.promise);
    expect(err.code).toBe("unknown");
    expect(err.message).toContain("boom");
    expect(r.calls.length).toBe(1);
  });
});

// ---------- cancellation ----------

describe("cancellation", () => {
  test("signal already aborted: cancelled (exit 130), no poll, no sleep", async () => {
    const ac = new AbortController();
    ac.abort();
    const r = run([TOKEN], { signal: ac.signal });
    const err = await rejection(r.promise);
    expect(err.code).toBe("cancelled");
    expect(err.exitCode).toBe(130);
    expect(err.message).toBe("login cancelled");
    expect(r.calls.length).toBe(0);
    expect(r.clock.sleeps.length).toBe(0);
  });

  test("abort during the sleep before the first poll: cancelled promptly, no poll", async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    clock.hold = true;
    const s = scripted(clock, [TOKEN]);
    const held = clock.waitForHeldSleep();
    const p = awaitAuthorization({ interval: 5, expiresIn: 900, poll: s.poll, clock, signal: ac.signal });
    await held;
    ac.abort();
    const err = await rejection(p);
    expect(err.code).toBe("cancelled");
    expect(s.calls.length).toBe(0);
    expect(clock.now()).toBe(0);
  });

  test("abort during the sleep between polls", async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    const s = scripted(clock, [
      {
        run: async () => {
          clock.hold = true; // the next sleep blocks until aborted
          return PENDING;
        },
      },
      TOKEN,
    ]);
    const held = clock.waitForHeldSleep();
    const p = awaitAuthorization({ interval: 5, expiresIn: 900, poll: s.poll, clock, signal: ac.signal });
    await held;
    ac.abort();
    const err = await rejection(p);
    expect(err.code).toBe("cancelled");
    expect(s.calls).toEqual([5500]);
  });

  test("abort during a retry backoff sleep", async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    const s = scripted(clock, [
      {
        run: async () => {
          clock.hold = true;
          throw e5xx();
        },
      },
      TOKEN,
    ]);
    const held = clock.waitForHeldSleep();
    const p = awaitAuthorization({ interval: 0.1, expiresIn: 900, poll: s.poll, clock, signal: ac.signal });
    await held;
    ac.abort();
    const err = await rejection(p);
    expect(err.code).toBe("cancelled");
    expect(s.calls.length).toBe(1);
  });

  test("abort while a poll is in flight (poll ignores the signal): cancelled promptly", async () => {
    const ac = new AbortController();
    let started!: () => void;
    const inFlight = new Promise<void>((r) => (started = r));
    const r = run(
      [
        {
          run: () => {
            started();
            return new Promise<PollOutcome>(() => {}); // never settles
          },
        },
      ],
      { signal: ac.signal },
    );
    await inFlight;
    ac.abort();
    const err = await rejection(r.promise);
    expect(err.code).toBe("cancelled");
  });

  test("poll() receives the signal", async () => {
    const ac = new AbortController();
    const r = run([TOKEN], { signal: ac.signal });
    await r.promise;
    expect(r.signals).toEqual([ac.signal]);
  });

  test("abort that lands while the token arrives: cancelled wins, nothing returned", async () => {
    const ac = new AbortController();
    const r = run(
      [
        {
          run: async () => {
            ac.abort();
            return TOKEN;
          },
        },
      ],
      { signal: ac.signal },
    );
    const err = await rejection(r.promise);
    expect(err.code).toBe("cancelled");
  });

  test("a poll that rejects because of the abort reports cancelled, not a network error", async () => {
    const ac = new AbortController();
    const r = run(
      [
        {
          run: async () => {
            ac.abort();
            throw new CliError("network_connection", "aborted");
          },
        },
        TOKEN,
      ],
      { signal: ac.signal },
    );
    const err = await rejection(r.promise);
    expect(err.code).toBe("cancelled");
    expect(r.calls.length).toBe(1);
  });
});

// ---------- events ----------

describe("events", () => {
  test("waiting, slow_down and retry events in order; pending is silent", async () => {
    const r = run([PENDING, SLOW, e5xx(), PENDING, TOKEN], { start: 1000, expiresIn: 600 });
    await r.promise;
    expect(r.events).toEqual([
      { type: "waiting", interval: 5, expiresAt: 601_000 },
      { type: "slow_down", interval: 10 },
      { type: "retry", attempt: 1, delayMs: 1000, code: "server_5xx" },
    ]);
  });

  test("a throwing onEvent handler does not break polling", async () => {
    const clock = new FakeClock();
    const s = scripted(clock, [SLOW, TOKEN]);
    const out = await awaitAuthorization({
      interval: 5,
      expiresIn: 900,
      poll: s.poll,
      clock,
      onEvent: () => {
        throw new Error("display broke");
      },
    });
    expect(out).toEqual(PAYLOAD);
  });
});
