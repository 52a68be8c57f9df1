// A process that increments a counter file under the product's directory lock, M times.
// Used by tests/reliability-concurrency.test.ts: if two processes ever hold the lock at once, an
// increment is lost and the final count falls below the number of increments the workers logged.
//   bun tests/stress/lock-worker.ts <dir> <increments> <log-file>
import { appendFileSync, readFileSync } from "node:fs";
import { withDirLock, writeFileAtomic } from "../../src/storage/atomic-file.ts";

const [dir, countText, log] = process.argv.slice(2) as [string, string, string];
const n = Number(countText);
for (let i = 0; i < n; i++) {
  await withDirLock(dir, async () => {
    let v = 0;
    try { v = Number(readFileSync(`${dir}/counter`, "utf8")) || 0; } catch { /* first */ }
    // Widen the read-modify-write window so an overlap loses an update.
    if (i % 3 === 0) await new Promise((r) => setTimeout(r, 1));
    writeFileAtomic(`${dir}/counter`, String(v + 1));
  }, { waitMs: 60_000 });
  appendFileSync(log, "1\n");
}
