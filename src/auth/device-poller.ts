// OAuth device-flow poller (RFC 8628): the blocking login's wait loop, and the one step that
// turns a poll's answer into "approved" or "keep waiting", which `auth login --resume` takes too.
// Pure: time comes from the injected Clock, the network from the injected poll(), cancellation
// from the AbortSignal.
import { CliError, toCliError, type ErrorCode } from "../cli/errors.ts";
import { echoInput } from "../ui/sanitize.ts";

export type PollOutcome =
  | { kind: "token"; payload: Record<string, unknown> }
  | { kind: "pending" }
  | { kind: "slow_down"; interval?: number }
  | { kind: "expired" }
  | { kind: "denied" }
  | { kind: "unknown_error"; error: string };

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export type PollerEvent =
  | { type: "waiting"; interval: number; expiresAt: number }
  | { type: "slow_down"; interval: number }
  | { type: "retry"; attempt: number; delayMs: number; code: string };

export interface PollerOptions {
  interval?: number;
  expiresIn: number;
  poll: (signal?: AbortSignal) => Promise<PollOutcome>;
  clock: Clock;
  signal?: AbortSignal;
  onEvent?: (e: PollerEvent) => void;
}

/**
 * What a device-code answer without a usable `interval` / `expires_in` means: RFC 8628's 5 s
 * between polls, and Dify's 15-minute code lifetime.
 */
export const DEVICE_FLOW_DEFAULTS = { intervalSec: 5, expiresInSec: 900 } as const;
const MAX_RETRIES = 5;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_CAP_MS = 16000;
const RETRYABLE: ReadonlySet<string> = new Set([
  "server_5xx",
  "network_timeout",
  "network_dns",
  "network_connection",
]);

/**
 * slow_down rule: RFC 8628 §3.5 asks for +5 s, and doubling (capped at 60 s) backs off faster from
 * a busy server; the larger of the two, and a larger interval sent by the server wins.
 */
export function nextInterval(prev: number, serverInterval?: number): number {
  const p = deviceInterval(prev);
  const next = Math.max(p + 5, Math.min(p * 2, 60));
  if (typeof serverInterval === "number" && Number.isFinite(serverInterval) && serverInterval > next) {
    return serverInterval;
  }
  return next;
}

/** Extra gap on top of the interval, so the server (which measures at arrival) never sees us early. */
export function pollMarginMs(intervalSec: number): number {
  const scaled = Number.isFinite(intervalSec) ? intervalSec * 100 : 500;
  return Math.min(500, Math.max(50, scaled));
}

/** The server's `interval` in seconds, or the default when it is missing, not a number or ≤ 0. */
export function deviceInterval(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : DEVICE_FLOW_DEFAULTS.intervalSec;
}

/** The server's `expires_in` in seconds, or the default when it is missing, not a number or ≤ 0. */
export function deviceExpiresIn(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : DEVICE_FLOW_DEFAULTS.expiresInSec;
}

/** Server-supplied text: printable ASCII only, at most 64 characters. */
function sanitiseServerCode(s: unknown): string {
  const clean = echoInput(String(s ?? ""), 64);
  return clean.length > 0 ? clean : "(empty)";
}

const expiredError = () =>
  new CliError("expired_token", "code expired before authorization; run 'difyctl auth login' to try again");
const cancelledError = () => new CliError("cancelled", "login cancelled");

/** A poll's meaning: approved (the token payload), or still waiting at `interval` seconds. */
export type StepResult =
  | { kind: "approved"; payload: Record<string, unknown> }
  | { kind: "waiting"; interval: number; slowDown: boolean };

/**
 * The device-flow step shared by the blocking login and `auth login --resume`: poll once and say
 * what the answer means. Pending keeps the interval, slow_down grows it; expired, denied and
 * unknown answers end the sign-in with their error. A failed poll (network, 5xx) is not an
 * answer: it propagates as is, and the caller decides whether to retry.
 */
export async function deviceStep(poll: () => Promise<PollOutcome>, interval: number): Promise<StepResult> {
  const outcome = await poll();
  switch (outcome?.kind) {
    case "token": {
      const payload = outcome.payload;
      if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
        throw new CliError("unknown", "unexpected device-flow response: token payload is not an object");
      }
      return { kind: "approved", payload };
    }
    case "pending":
      return { kind: "waiting", interval: deviceInterval(interval), slowDown: false };
    case "slow_down":
      return { kind: "waiting", interval: nextInterval(interval, outcome.interval), slowDown: true };
    case "expired":
      throw expiredError();
    case "denied":
      throw new CliError("access_denied", "authorization denied");
    case "unknown_error":
      throw new CliError("unknown", `unexpected device-flow error: ${sanitiseServerCode(outcome.error)}`);
    default:
      throw new CliError(
        "unknown",
        `unexpected device-flow error: ${sanitiseServerCode((outcome as { kind?: unknown } | undefined)?.kind)}`,
      );
  }
}

export async function awaitAuthorization(o: PollerOptions): Promise<Record<string, unknown>> {
  const { clock, signal } = o;
  const emit = (e: PollerEvent) => {
    try {
      o.onEvent?.(e);
    } catch {
      // A broken progress display must not break the login.
    }
  };
  const throwIfAborted = () => {
    if (signal?.aborted) throw cancelledError();
  };

  /** Sleep until clock.now() >= target; cancellation is prompt whether sleep rejects or returns early. */
  const sleepUntil = async (target: number) => {
    for (;;) {
      throwIfAborted();
      const remaining = target - clock.now();
      if (remaining <= 0) return;
      try {
        await clock.sleep(remaining, signal);
      } catch (e) {
        if (signal?.aborted) throw cancelledError();
        throw toCliError(e);
      }
    }
  };

  /** Race a poll against the abort signal so Ctrl-C wins even if poll() ignores its signal. */
  const pollOnce = (): Promise<PollOutcome> => {
    if (!signal) return o.poll(undefined);
    return new Promise<PollOutcome>((resolve, reject) => {
      const onAbort = () => reject(cancelledError());
      signal.addEventListener("abort", onAbort, { once: true });
      let p: Promise<PollOutcome>;
      try {
        p = Promise.resolve(o.poll(signal));
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  };

  throwIfAborted();

  let interval = deviceInterval(o.interval);
  const expiresIn = deviceExpiresIn(o.expiresIn);
  const start = clock.now();
  const deadline = start + expiresIn * 1000;
  // The device-code request counts as the previous contact: the first poll waits one full gap.
  let lastStart = start;
  let notBefore = -Infinity; // earliest start imposed by retry backoff
  let retries = 0;

  emit({ type: "waiting", interval, expiresAt: deadline });

  for (;;) {
    const target = Math.max(lastStart + interval * 1000 + pollMarginMs(interval), notBefore);
    if (target >= deadline) {
      // The code is dead by then; wait for the real expiry (cancellable), then stop.
      await sleepUntil(deadline);
      throw expiredError();
    }
    await sleepUntil(target);
    throwIfAborted();
    lastStart = clock.now();
    if (lastStart >= deadline) throw expiredError();

    let step: StepResult;
    try {
      step = await deviceStep(pollOnce, interval);
    } catch (e) {
      if (signal?.aborted) throw cancelledError();
      if (e instanceof CliError && RETRYABLE.has(e.code)) {
        retries++;
        if (retries > MAX_RETRIES) {
          throw new CliError(e.code as ErrorCode, "device-flow poll unavailable", {
            hint: "the server kept failing or could not be reached while waiting for approval; check the host and your network, then run 'difyctl auth login' again",
            httpStatus: e.httpStatus,
          });
        }
        const delayMs = Math.min(BACKOFF_BASE_MS * 2 ** (retries - 1), BACKOFF_CAP_MS);
        emit({ type: "retry", attempt: retries, delayMs, code: e.code });
        notBefore = clock.now() + delayMs;
        continue;
      }
      throw toCliError(e);
    }
    throwIfAborted();
    retries = 0;
    notBefore = -Infinity;
    if (step.kind === "approved") return step.payload;
    interval = step.interval;
    if (step.slowDown) emit({ type: "slow_down", interval });
  }
}
