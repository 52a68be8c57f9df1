// The fake console's /device page. The real page authenticates with the console cookie; this one
// posts an HTML form to the test-only /__test__/approve and /__test__/deny routes.

import type { Fixtures } from "./fixtures";

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export function devicePage(fx: Fixtures, userCode: string): string {
  const options = [
    ...fx.accounts.map((a) => `<option value="${esc(a.email)}">${esc(a.name)} &lt;${esc(a.email)}&gt;</option>`),
    ...fx.ssoSubjects.map((s) => `<option value="${esc(s.email)}">External SSO: ${esc(s.email)} (${esc(s.issuer)})</option>`),
  ].join("\n        ");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Authorize device — fake Dify</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto}input,select,button{font-size:1.1rem;margin:.3rem 0}</style>
</head>
<body>
  <h1>Authorize difyctl</h1>
  <form method="post" action="/__test__/approve">
    <label>Code <input name="user_code" value="${esc(userCode)}" placeholder="XXXX-XXXX" autocomplete="off" required></label><br>
    <label>Sign in as
      <select name="as">
        ${options}
      </select>
    </label><br>
    <button type="submit" id="approve">Approve</button>
    <button type="submit" id="deny" formaction="/__test__/deny">Deny</button>
  </form>
</body>
</html>`;
}

export function resultPage(status: number, body: unknown): string {
  const ok = status === 200;
  const what = ok ? `Device ${String((body as { status?: string }).status)}.` : `Failed (${status}): ${esc(JSON.stringify(body))}`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fake Dify</title></head><body><h1>${what}</h1>${ok ? "<p>You can close this window and return to your terminal.</p>" : '<p><a href="/device">Try again</a></p>'}</body></html>`;
}
