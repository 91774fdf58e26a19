/** Server-rendered HTML for the chart and error pages: every interpolated value goes through `escapeHtml`. */

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string | number | undefined | null): string {
  return String(value ?? '').replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}

/** A fragment of HTML that is already escaped: build it only with `html`. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type HtmlValue = string | number | undefined | null | SafeHtml | readonly SafeHtml[];

/** Tagged template that escapes every interpolation unless it is `SafeHtml` (or a list of it). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    if (value instanceof SafeHtml) out += value.value;
    else if (Array.isArray(value)) out += (value as readonly SafeHtml[]).map((item) => item.value).join('');
    else out += escapeHtml(value as string | number | undefined | null);
    out += strings[index + 1] ?? '';
  });
  return new SafeHtml(out);
}

const STYLE = `
  :root { --ink: #1d2733; --muted: #5b6b7c; --line: #d7dee6; --accent: #0b5cad; --warn-bg: #fff4d6; --warn: #7a5600; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f4f6f9; }
  header.top { background: #18324f; color: #fff; padding: 10px 24px; display: flex; justify-content: space-between; align-items: center; }
  header.top a { color: #fff; text-decoration: none; font-weight: 600; }
  .synthetic { background: var(--warn-bg); color: var(--warn); padding: 8px 24px; border-bottom: 1px solid #f0d98c; font-weight: 600; }
  main { padding: 20px 24px; max-width: 1100px; }
  h1 { font-size: 22px; margin: 0 0 16px; }
  h2 { font-size: 17px; margin: 28px 0 8px; }
  table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
  th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { background: #eef2f6; font-size: 13px; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
  .banner { background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--accent); padding: 12px 16px; display: flex; gap: 32px; flex-wrap: wrap; align-items: center; }
  .banner .name { font-size: 20px; font-weight: 700; }
  .label { color: var(--muted); font-size: 12px; text-transform: uppercase; display: block; }
  .button { display: inline-block; background: var(--accent); color: #fff; padding: 8px 16px; border-radius: 4px; text-decoration: none; font-weight: 600; }
  .button:hover { background: #084a8b; }
  .status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #e8eef5; }
  .status-preliminary { background: #fff1cc; } .status-final { background: #d9f2e0; } .status-amended { background: #dce9fb; }
  .muted { color: var(--muted); }
  pre.conclusion { margin: 0; white-space: pre-wrap; font: inherit; }
  .button.secondary { background: #e8eef5; color: var(--ink); border: 1px solid var(--line); }
  .status-draft { background: #eee; } .status-active { background: #d9f2e0; }
  .cds-card { background: #fff; border: 1px solid var(--line); border-left: 6px solid #6b8fb8; padding: 10px 14px; margin: 10px 0; }
  .cds-card.indicator-warning { border-left-color: #d99a00; } .cds-card.indicator-critical { border-left-color: #c0392b; }
  .cds-card .indicator { text-transform: uppercase; font-size: 11px; color: var(--muted); margin-right: 8px; }
  .cds-actions { display: flex; gap: 8px; flex-wrap: wrap; align-items: flex-start; }
  .cds-detail table { width: auto; margin: 8px 0; } .cds-detail th, .cds-detail td { padding: 4px 10px; }
  .cds-override summary { cursor: pointer; list-style: none; } .cds-override[open] summary { margin-bottom: 8px; }
  .cds-override-form fieldset { border: 1px solid var(--line); margin: 0 0 8px; } .cds-override-form label { display: block; margin: 4px 0; }
  .cds-outcome { font-weight: 600; color: var(--muted); padding: 8px 0; }
  .supporting-info { margin: 0 0 12px; }
  form.inline { display: inline; } .stack label { display: block; margin: 8px 0; }
  .error, .card-error { color: #a02020; font-weight: 600; }
  .dev-tools { background: #8b0000; color: #fff; padding: 8px 24px; font-weight: 700; }
  .dev-tools a, .dev-tools code { color: #fff; }
`;

/** Shown on the chart while the development tools are on (http/dev-tools.ts): nobody should miss it. */
const DEV_TOOLS_BANNER = html`<div class="dev-tools" role="note" id="dev-tools-banner">
  Development tools enabled: fault injection at <a href="/faults">/faults</a> and the demo sign-in (<code
    >clinician</code
  >
  / <code>synthetic</code>) need no credentials. Never run this EHR where others can reach it.
</div>`;

export interface PageOptions {
  /** The development tools are on: show the banner. */
  devTools?: boolean;
}

export function renderPage(title: string, body: SafeHtml, options: PageOptions = {}): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Mock EHR</title>
        <style>
          ${new SafeHtml(STYLE)}
        </style>
      </head>
      <body>
        <header class="top"><a href="/">Mock EHR</a><span>Signed in: Dr. Synthetic Clinician (demo)</span></header>
        <div class="synthetic" role="note">
          Demonstration system — every patient, study and image here is synthetic. Not for clinical use.
        </div>
        ${options.devTools ? DEV_TOOLS_BANNER : html``}
        <main>${body}</main>
      </body>
    </html>`.value;
}
