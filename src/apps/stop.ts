// Stopping a run on the server when the user interrupts it: without this the server keeps
// generating (and billing) tokens for an answer nobody reads.
import type { HttpClient } from "../http/http-client.ts";

/** How long an interrupted command waits for the stop request before it exits anyway. */
export const STOP_TIMEOUT_MS = 2000;

/**
 * `POST /apps/<id>/tasks/<task_id>/stop` with the `task_id` the run's events carry (not the
 * workflow run id). Best effort: bounded in time, never throws; true when the server said yes.
 * The command's own signal is already aborted by Ctrl-C, so the request gets its own deadline.
 */
export async function stopTask(http: HttpClient, appId: string, taskId: string, timeoutMs = STOP_TIMEOUT_MS): Promise<boolean> {
  if (!taskId) return false;
  try {
    const r = await http.request("POST", `/apps/${encodeURIComponent(appId)}/tasks/${encodeURIComponent(taskId)}/stop`, {
      headers: { "X-Dify-App-Id": appId }, retry: false, timeoutMs, signal: AbortSignal.timeout(timeoutMs),
      acceptStatus: [400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504],
    });
    return r.status >= 200 && r.status < 300;
  } catch {
    return false;
  }
}
