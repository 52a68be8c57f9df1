// `resume app <app> <form_token> --action <id>`: answers the form a paused run waits on, then
// follows the resumed run to its end or its next pause (exit 8 again, with the new form).
import { openApi, resolveWorkspace } from "../auth/api-session.ts";
import { ACCOUNT_CMDS, describeApp, SSO_CMDS } from "../apps/app-api.ts";
import { inputsIO, type OutputMode } from "../apps/app-run.ts";
import { buildSubmission, getForm, openRunEvents, type PendingForm, submitForm } from "../apps/human-input.ts";
import { readInputs } from "../apps/input-schema.ts";
import { pausedRunFor } from "../apps/pause-cache.ts";
import { checkAppRef, resolveApp } from "../apps/resolve-app.ts";
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import type { ResumeAppOptions } from "../cli/command-table.ts";
import { echoInput } from "../ui/sanitize.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkToken(t: string | undefined): string {
  const v = (t ?? "").trim();
  if (!v || v === "null") {
    throw new CliError("usage_invalid_flag", "this form has no token: it can only be answered in the Dify web app", {
      hint: "the run paused on a form delivered to the Dify web app or console only; open the app in Dify to answer it",
    });
  }
  if (v.length > 512 || !/^[A-Za-z0-9._~-]+$/.test(v)) throw new CliError("usage_invalid_flag", `'${echoInput(v, 40)}' is not a form token`, { hint: "use the form_token printed when the run paused" });
  return v;
}

/** The form's file inputs as the app form rows file-inputs.ts reads (so one checker serves both). */
function formAsParameters(form: PendingForm): unknown {
  return {
    user_input_form: form.inputs.filter((i) => i.type === "file" || i.type === "file-list").map((i) => ({
      [i.type]: {
        variable: i.output_variable_name, allowed_file_types: i.allowed_file_types ?? [], allowed_file_extensions: i.allowed_file_extensions ?? null,
        allowed_file_upload_methods: i.allowed_file_upload_methods ?? [], ...(typeof i.number_limits === "number" ? { max_length: i.number_limits } : {}),
      },
    })),
  };
}

export async function run(ctx: Ctx, args: string[], o: ResumeAppOptions): Promise<number> {
  const ref = checkAppRef(args[0]);
  const token = checkToken(args[1]);
  if (!o.action) throw new CliError("usage_missing_arg", "--action is required: the form's action (button) to take", { hint: "the paused run's JSON lists each form's actions (forms[].actions[].id)" });
  if (o.run !== undefined && !UUID.test(o.run.trim())) throw new CliError("usage_invalid_flag", "--run must be a workflow run id (a UUID)", { hint: "use the workflow_run_id printed when the run paused" });
  const given = await readInputs(o.inputs, inputsIO(ctx));
  const fileMod = o.file?.length ? await import("../apps/file-inputs.ts") : null;
  const flags = fileMod ? fileMod.parseFileFlags(o.file!) : [];
  for (const f of flags) if (f.variable === null) throw new CliError("usage_invalid_flag", `--file '${echoInput(f.raw)}': name the form's input: <var>=@path`);
  const locals = fileMod ? await fileMod.statLocalFiles(flags, fileMod.realFs) : null;

  const { session, http } = await openApi(ctx, "any", "resume app");
  const cmds = session.subjectType === "account" ? ACCOUNT_CMDS : SSO_CMDS;
  // An app id is used as it is; a name is looked up where this session's apps are listed.
  const { id: appId } = await resolveApp(http, ref, () => session.subjectType === "account"
    ? { path: "/apps", query: { workspace_id: resolveWorkspace(session, undefined) }, cmds }
    : { path: "/permitted-external-apps", query: {}, cmds });
  const form = await getForm(http, appId, token, cmds);
  // The action and inputs are checked before any upload: a wrong answer costs nothing.
  buildSubmission(form, o.action, { ...given, ...Object.fromEntries(flags.map((f) => [f.variable!, f.variable!.length ? placeholderFor(form, f.variable!) : ""])) });
  if (fileMod && flags.length) {
    const params = formAsParameters(form) as Record<string, unknown>;
    if (session.subjectType === "account") {
      // The server's upload limits, when this session may read them (the upload enforces them anyway).
      try { params.system_parameters = (await describeApp(http, appId, ["parameters"])).parameters?.system_parameters; } catch { /* unknown limits */ }
    }
    const plan = fileMod.planFiles(flags, locals!, params, appId, given);
    const mapped = await fileMod.uploadPlan(http, appId, plan, fileMod.realFs, cmds, fileMod.sizeLimits(params));
    Object.assign(given, mapped.inputs);
  }
  const body = buildSubmission(form, o.action, given);
  await submitForm(http, appId, token, body, cmds);

  const runId = o.run?.trim() || pausedRunFor(ctx.env, appId, token);
  const mode: OutputMode = o.stream === true ? "stream" : ctx.json ? "json" : "tty";
  if (!runId) {
    // The form API knows the form, not its run: without the run id there is nothing to follow.
    if (mode !== "tty") await ctx.out(JSON.stringify({ status: "submitted", action: body.action }) + "\n");
    else await ctx.out("Submitted. The run continues on the server.\n");
    if (!ctx.json) await ctx.err("to follow the run, pass its id: --run <workflow_run_id> (printed when it paused)\n");
    return 0;
  }
  const answered = new Set<string>([token, ...(form.form_id ? [form.form_id] : [])]);
  const res = await openRunEvents(http, appId, runId, cmds);
  const { followRun, promptFor } = await import("../apps/run-session.ts");
  return followRun(ctx, res, { http, appId, cmds, mode, think: o.think === true, answered, prompt: promptFor(ctx, mode) });
}

/** A stand-in value for a file input during the early check (the real mapping comes after upload). */
function placeholderFor(form: PendingForm, variable: string): unknown {
  const i = form.inputs.find((x) => x.output_variable_name === variable);
  return i?.type === "file-list" ? [] : i ? {} : "";
}
