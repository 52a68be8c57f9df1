// Deterministic fixture data for the fake Dify server. `createFixtures()` returns fresh,
// mutable copies so a test can change its server's data without affecting others.

export type Role = "owner" | "admin" | "editor" | "normal" | "dataset_operator";
export type AppMode = "chat" | "agent-chat" | "advanced-chat" | "completion" | "workflow";
export const APP_MODES: readonly AppMode[] = ["completion", "chat", "advanced-chat", "workflow", "agent-chat"];

export interface Workspace {
  id: string;
  name: string;
  status: string;
  createdAt: number; // epoch ms
}

export interface Membership {
  workspaceId: string;
  role: Role;
  /** the membership flagged `current` (drives default_workspace_id) */
  current: boolean;
}

export interface Account {
  id: string;
  email: string;
  name: string;
  memberships: Membership[];
}

export interface SsoSubject {
  email: string;
  issuer: string;
  /** app ids returned by /permitted-external-apps and runnable with the dfoe_ token */
  permittedAppIds: string[];
}

/** What a file variable (or a chat app's `files`) accepts, as `user_input_form` publishes it. */
export interface FileConfig {
  allowedFileTypes: string[];
  /** with the leading dot, as Dify stores them (".pdf") */
  allowedFileExtensions: string[];
  allowedFileUploadMethods: string[];
}

export interface InputField {
  variable: string;
  label: string;
  type: "text-input" | "paragraph" | "select" | "number" | "file" | "file-list";
  required: boolean;
  /** characters for text, the number of files for file-list */
  maxLength?: number;
  /** file and file-list variables */
  file?: FileConfig;
  options?: string[];
  /** only for type "number": JSON Schema "integer" instead of "number" */
  integer?: boolean;
  default?: string | number;
}

/**
 * Scripted behaviour of /run:
 * - normal: mode-appropriate SSE stream
 * - error_midstream: 200, a few message events, then an `error` event
 * - firehose: many events (inputs.events / inputs.chunk_size override the fixture's defaults)
 * - quota: 429 rate_limit_error before the stream
 * - unavailable: 400 app_unavailable before the stream
 * - hitl: a workflow whose Human Input node pauses the run (twice when the first form is approved)
 * - hitl_console: pauses on a form that only the Dify console can answer (form_token null)
 * - slow: a workflow that streams slowly until it is stopped (the stop route ends it)
 * - think: answers with `<think>` blocks split across chunks
 */
export type AppBehaviour = "normal" | "error_midstream" | "firehose" | "quota" | "unavailable" | "hitl" | "hitl_console" | "slow" | "think";

export interface App {
  id: string;
  workspaceId: string;
  name: string;
  description: string;
  mode: AppMode;
  tags: string[];
  enableApi: boolean;
  status: string;
  author: string;
  updatedAt: number; // epoch ms
  inputs: InputField[];
  openingStatement: string;
  suggestedQuestions: string[];
  behaviour: AppBehaviour;
  firehose?: { events: number; chunkSize: number };
  /** the app's `file_upload` feature (the chat `files` list); absent = disabled */
  fileUpload?: FileConfig & { numberLimits: number };
}

export const IDS = {
  accounts: {
    gareth: "a0000000-0000-4000-8000-000000000001",
    alice: "a0000000-0000-4000-8000-000000000002",
    hana: "a0000000-0000-4000-8000-000000000003",
  },
  workspaces: {
    acme: "b0000000-0000-4000-8000-000000000001",
    side: "b0000000-0000-4000-8000-000000000002",
    alice: "b0000000-0000-4000-8000-000000000003",
    labs: "b0000000-0000-4000-8000-000000000004", // Hana's: the apps that take files, pause or think
    oldLab: "b0000000-0000-4000-8000-000000000005", // Hana's, archived
  },
  apps: {
    supportChat: "c0000000-0000-4000-8000-000000000001", // chat, no required inputs
    blogWriter: "c0000000-0000-4000-8000-000000000002", // completion, required topic
    summarizer: "c0000000-0000-4000-8000-000000000003", // workflow, required text, optional count
    internalOnly: "c0000000-0000-4000-8000-000000000004", // chat, service API disabled
    flakyChat: "c0000000-0000-4000-8000-000000000005", // chat, error event mid-stream
    firehose: "c0000000-0000-4000-8000-000000000006", // completion, many events
    quotaExhausted: "c0000000-0000-4000-8000-000000000007", // completion, 429 rate_limit_error
    unavailable: "c0000000-0000-4000-8000-000000000008", // chat, 400 app_unavailable
    sideHelpdesk: "c0000000-0000-4000-8000-000000000011", // advanced-chat (Side Project)
    researchAgent: "c0000000-0000-4000-8000-000000000012", // agent-chat (Side Project)
    aliceNotes: "c0000000-0000-4000-8000-000000000021", // completion, required note (Alice)
    docReviewer: "c0000000-0000-4000-8000-000000000031", // workflow: file doc (required), file-list images, text note (Labs)
    visionChat: "c0000000-0000-4000-8000-000000000032", // chat with file upload enabled: the `files` list (Labs)
    expenseApproval: "c0000000-0000-4000-8000-000000000033", // workflow with Human Input nodes: pauses (Labs)
    consoleApproval: "c0000000-0000-4000-8000-000000000034", // workflow pausing on a console-only form (Labs)
    slowWriter: "c0000000-0000-4000-8000-000000000035", // workflow streaming slowly until stopped (Labs)
    deepThinker: "c0000000-0000-4000-8000-000000000036", // chat answering with <think> blocks (Labs)
    thinkFlow: "c0000000-0000-4000-8000-000000000037", // workflow whose text and outputs carry <think> (Labs)
  },
} as const;

export const EMAILS = {
  gareth: "gareth@dify.ai",
  alice: "alice@example.com",
  hana: "hana@example.com",
  sso: "sso-user@partner.com",
} as const;
export const SSO_ISSUER = "https://idp.partner.com";

const T0 = Date.UTC(2026, 0, 15, 9, 30, 0, 0);
const day = 86_400_000;

export interface Fixtures {
  accounts: Account[];
  workspaces: Workspace[];
  apps: App[];
  ssoSubjects: SsoSubject[];
}

export function createFixtures(): Fixtures {
  const W = IDS.workspaces;
  const A = IDS.apps;
  const workspaces: Workspace[] = [
    { id: W.acme, name: "Acme Corp", status: "normal", createdAt: T0 },
    { id: W.side, name: "Side Project", status: "normal", createdAt: T0 + 10 * day },
    { id: W.alice, name: "Alice's Workspace", status: "normal", createdAt: T0 + 20 * day },
    { id: W.labs, name: "Labs", status: "normal", createdAt: T0 + 30 * day },
    { id: W.oldLab, name: "Old Lab", status: "archive", createdAt: T0 + 31 * day },
  ];
  const accounts: Account[] = [
    {
      id: IDS.accounts.gareth,
      email: EMAILS.gareth,
      name: "Gareth Chen",
      memberships: [
        { workspaceId: W.acme, role: "owner", current: true },
        { workspaceId: W.side, role: "normal", current: false },
      ],
    },
    {
      id: IDS.accounts.alice,
      email: EMAILS.alice,
      name: "Alice Example",
      memberships: [{ workspaceId: W.alice, role: "owner", current: true }],
    },
    {
      id: IDS.accounts.hana,
      email: EMAILS.hana,
      name: "Hana Example",
      memberships: [
        { workspaceId: W.labs, role: "owner", current: true },
        { workspaceId: W.oldLab, role: "editor", current: false },
      ],
    },
  ];
  const base = (over: Partial<App> & Pick<App, "id" | "workspaceId" | "name" | "mode">): App => ({
    description: "",
    tags: [],
    enableApi: true,
    status: "normal",
    author: "Gareth Chen",
    updatedAt: T0,
    inputs: [],
    openingStatement: "",
    suggestedQuestions: [],
    behaviour: "normal",
    ...over,
  });
  const apps: App[] = [
    base({
      id: A.supportChat, workspaceId: W.acme, name: "Support Chat", mode: "chat",
      description: "Answers customer support questions.", tags: ["support"], updatedAt: T0 + 9 * day,
      inputs: [{ variable: "tone", label: "Tone", type: "select", required: false, options: ["friendly", "formal"] }],
      openingStatement: "Hi! How can I help you today?",
      suggestedQuestions: ["How do I reset my password?"],
    }),
    base({
      id: A.blogWriter, workspaceId: W.acme, name: "Blog Writer", mode: "completion",
      description: "Writes a short blog post about a topic.", tags: ["marketing", "writing"], updatedAt: T0 + 8 * day,
      inputs: [
        { variable: "topic", label: "Topic", type: "text-input", required: true, maxLength: 256 },
        { variable: "audience", label: "Audience", type: "text-input", required: false, maxLength: 64 },
      ],
    }),
    base({
      id: A.summarizer, workspaceId: W.acme, name: "Text Summarizer", mode: "workflow",
      description: "Summarises a text into a few words.", tags: ["nlp"], updatedAt: T0 + 7 * day,
      inputs: [
        { variable: "text", label: "Text", type: "paragraph", required: true },
        { variable: "count", label: "Word count", type: "number", required: false, integer: true },
      ],
    }),
    base({
      id: A.internalOnly, workspaceId: W.acme, name: "Internal Only", mode: "chat",
      description: "Service API disabled.", enableApi: false, updatedAt: T0 + 6 * day,
    }),
    base({
      id: A.flakyChat, workspaceId: W.acme, name: "Flaky Chat", mode: "chat",
      description: "Fails with an error event after a few tokens.", tags: ["testing"], updatedAt: T0 + 5 * day,
      behaviour: "error_midstream",
    }),
    base({
      id: A.firehose, workspaceId: W.acme, name: "Firehose", mode: "completion",
      description: "Streams a large number of events.", tags: ["testing"], updatedAt: T0 + 4 * day,
      behaviour: "firehose", firehose: { events: 2000, chunkSize: 64 },
      inputs: [
        { variable: "events", label: "Events", type: "number", required: false, integer: true },
        { variable: "chunk_size", label: "Chunk size", type: "number", required: false, integer: true },
      ],
    }),
    base({
      id: A.quotaExhausted, workspaceId: W.acme, name: "Quota Exhausted", mode: "completion",
      description: "Always over quota.", tags: ["testing"], updatedAt: T0 + 3 * day, behaviour: "quota",
    }),
    base({
      id: A.unavailable, workspaceId: W.acme, name: "Broken Config", mode: "chat",
      description: "Model config is broken.", tags: ["testing"], updatedAt: T0 + 2 * day, behaviour: "unavailable",
    }),
    base({
      id: A.sideHelpdesk, workspaceId: W.side, name: "Helpdesk Flow", mode: "advanced-chat",
      description: "A chatflow.", tags: ["support"], updatedAt: T0 + 12 * day,
    }),
    base({
      id: A.researchAgent, workspaceId: W.side, name: "Research Agent", mode: "agent-chat",
      description: "An agent that thinks before answering.", updatedAt: T0 + 11 * day,
    }),
    base({
      id: A.aliceNotes, workspaceId: W.alice, name: "Alice Notes", mode: "completion", author: "Alice Example",
      description: "Turns a note into prose.", updatedAt: T0 + 21 * day,
      inputs: [{ variable: "note", label: "Note", type: "paragraph", required: true }],
    }),
    ...labsApps(base),
  ];
  const ssoSubjects: SsoSubject[] = [
    { email: EMAILS.sso, issuer: SSO_ISSUER, permittedAppIds: [A.supportChat, A.summarizer, A.aliceNotes] },
  ];
  return { accounts, workspaces, apps, ssoSubjects };
}

const ANY_FILE: FileConfig = { allowedFileTypes: [], allowedFileExtensions: [], allowedFileUploadMethods: ["local_file", "remote_url"] };

/** Hana's Labs apps: file inputs, human-in-the-loop pauses, a slow stream to stop, reasoning. */
function labsApps(base: (over: Partial<App> & Pick<App, "id" | "workspaceId" | "name" | "mode">) => App): App[] {
  const A = IDS.apps;
  const W = IDS.workspaces;
  const at = T0 + 30 * day;
  return [
    base({
      id: A.docReviewer, workspaceId: W.labs, name: "Doc Reviewer", mode: "workflow", author: "Hana Example", updatedAt: at + 7 * day,
      description: "Reviews a document, with optional pictures.",
      inputs: [
        { variable: "doc", label: "Document", type: "file", required: true, file: { allowedFileTypes: ["document"], allowedFileExtensions: [], allowedFileUploadMethods: ["local_file", "remote_url"] } },
        { variable: "images", label: "Pictures", type: "file-list", required: false, maxLength: 3, file: { allowedFileTypes: ["image"], allowedFileExtensions: [], allowedFileUploadMethods: ["local_file", "remote_url"] } },
        { variable: "note", label: "Note", type: "text-input", required: false, maxLength: 100 },
      ],
    }),
    base({
      id: A.visionChat, workspaceId: W.labs, name: "Vision Chat", mode: "chat", author: "Hana Example", updatedAt: at + 6 * day,
      description: "Chats about the pictures and documents you attach.",
      fileUpload: { allowedFileTypes: ["image", "document"], allowedFileExtensions: [], allowedFileUploadMethods: ["local_file", "remote_url"], numberLimits: 2 },
    }),
    base({
      id: A.expenseApproval, workspaceId: W.labs, name: "Expense Approval", mode: "workflow", author: "Hana Example", updatedAt: at + 5 * day,
      description: "A manager, then finance, approve an expense claim.", behaviour: "hitl",
      inputs: [{ variable: "amount", label: "Amount", type: "number", required: true }],
    }),
    base({
      id: A.consoleApproval, workspaceId: W.labs, name: "Console Approval", mode: "workflow", author: "Hana Example", updatedAt: at + 4 * day,
      description: "Waits for an approval given in the Dify console only.", behaviour: "hitl_console",
    }),
    base({
      id: A.slowWriter, workspaceId: W.labs, name: "Slow Writer", mode: "workflow", author: "Hana Example", updatedAt: at + 3 * day,
      description: "Writes slowly, for a long time.", behaviour: "slow",
      inputs: [{ variable: "file", label: "Attachment", type: "file", required: false, file: ANY_FILE }],
    }),
    base({
      id: A.deepThinker, workspaceId: W.labs, name: "Deep Thinker", mode: "chat", author: "Hana Example", updatedAt: at + 2 * day,
      description: "Reasons before answering.", behaviour: "think",
    }),
    base({
      id: A.thinkFlow, workspaceId: W.labs, name: "Think Flow", mode: "workflow", author: "Hana Example", updatedAt: at + 1 * day,
      description: "A workflow whose model reasons out loud.", behaviour: "think",
    }),
  ];
}

export function userInputForm(app: App): unknown[] {
  return app.inputs.map((f) => {
    const common: Record<string, unknown> = { label: f.label, variable: f.variable, required: f.required, default: f.default ?? "" };
    if (f.type === "text-input" || f.type === "paragraph") common.max_length = f.maxLength ?? (f.type === "paragraph" ? 0 : 48);
    if (f.type === "select") common.options = f.options ?? [];
    if (f.type === "file" || f.type === "file-list") {
      const c = f.file ?? ANY_FILE;
      common.allowed_file_types = c.allowedFileTypes;
      common.allowed_file_extensions = c.allowedFileExtensions;
      common.allowed_file_upload_methods = c.allowedFileUploadMethods;
      if (f.type === "file-list") common.max_length = f.maxLength ?? 5;
    }
    return { [f.type]: common };
  });
}

/** A file value's shape in the input schema (June derives it from the form, loosely). */
const FILE_OBJECT_SHAPE = {
  type: "object",
  properties: { type: { type: "string" }, transfer_method: { type: "string" }, url: { type: "string" }, upload_file_id: { type: "string" } },
  additionalProperties: true,
};

export function inputSchema(app: App): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const f of app.inputs) {
    const p: Record<string, unknown> = { title: f.label };
    if (f.type === "number") p.type = f.integer ? "integer" : "number";
    else if (f.type === "file") Object.assign(p, FILE_OBJECT_SHAPE);
    else if (f.type === "file-list") Object.assign(p, { type: "array", items: FILE_OBJECT_SHAPE });
    else p.type = "string";
    if (f.type === "select") p.enum = f.options ?? [];
    if ((f.type === "text-input" || f.type === "paragraph") && f.maxLength) p.maxLength = f.maxLength;
    if (f.default !== undefined) p.default = f.default;
    properties[f.variable] = p;
  }
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    properties,
    required: app.inputs.filter((f) => f.required).map((f) => f.variable),
    additionalProperties: false,
  };
}

/** The `file_upload` feature as parameters publish it. */
function fileUploadFeature(app: App): Record<string, unknown> {
  const f = app.fileUpload;
  if (!f) return { image: { enabled: false, number_limits: 3, transfer_methods: ["remote_url", "local_file"] } };
  return {
    enabled: true,
    allowed_file_types: f.allowedFileTypes,
    allowed_file_extensions: f.allowedFileExtensions,
    allowed_file_upload_methods: f.allowedFileUploadMethods,
    number_limits: f.numberLimits,
    image: { enabled: f.allowedFileTypes.includes("image"), number_limits: f.numberLimits, transfer_methods: f.allowedFileUploadMethods },
  };
}

/** Upload limits in MiB (server configuration, published in system_parameters). */
export const UPLOAD_LIMITS_MB = { file: 15, image: 10, audio: 50, video: 100 } as const;

export function appParameters(app: App): Record<string, unknown> {
  return {
    opening_statement: app.openingStatement,
    suggested_questions: app.suggestedQuestions,
    suggested_questions_after_answer: { enabled: false },
    speech_to_text: { enabled: false },
    text_to_speech: { enabled: false },
    retriever_resource: { enabled: false },
    annotation_reply: { enabled: false },
    more_like_this: { enabled: false },
    sensitive_word_avoidance: { enabled: false },
    user_input_form: userInputForm(app),
    file_upload: fileUploadFeature(app),
    system_parameters: {
      file_size_limit: UPLOAD_LIMITS_MB.file,
      image_file_size_limit: UPLOAD_LIMITS_MB.image,
      audio_file_size_limit: UPLOAD_LIMITS_MB.audio,
      video_file_size_limit: UPLOAD_LIMITS_MB.video,
      workflow_file_upload_limit: 10,
    },
  };
}
