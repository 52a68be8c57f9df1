// Where a keychain read spends its time, phase by phase, for DIFY_DEBUG_TIMING=1 (the bench reads
// these lines). Off, every mark is one boolean test. Marks are absolute (timeOrigin + now) so the
// worker thread's marks line up with the main thread's; they print at exit, as milliseconds since
// the process started, so the output of the command itself is never interleaved.

export const timingOn = typeof process !== "undefined" && (process.env.DIFY_DEBUG_TIMING ?? "") !== "" && process.env.DIFY_DEBUG_TIMING !== "0";

export type Mark = [phase: string, at: number];

const marks: Mark[] = [];
let hooked = false;

export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Records that `phase` ended now. */
export function mark(phase: string): void {
  if (!timingOn) return;
  record([[phase, now()]]);
}

/** Adds marks taken elsewhere (the worker thread). */
export function record(ms: Mark[]): void {
  if (!timingOn) return;
  marks.push(...ms);
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    marks.push(["process exit", now()]);
    const start = processStart();
    const lines = marks.sort((a, b) => a[1] - b[1]).map(([p, at], i) => {
      const prev = i === 0 ? start : marks[i - 1][1];
      return `timing: ${p.padEnd(28)} +${(at - prev).toFixed(2).padStart(6)} ms  (at ${(at - start).toFixed(2)} ms)\n`;
    });
    process.stderr.write(lines.join(""));
  });
}

/** The process's start: what "at" is counted from. */
function processStart(): number {
  return performance.timeOrigin;
}
