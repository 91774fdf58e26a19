/**
 * SMART App Launch 2.x "Styling" (`smart_style_url` in the token response, capability `context-style`): the EHR's
 * colours, fonts and sizes, so an embedded app looks like part of the chart. The style JSON is fetched once and its
 * known keys become the panel's CSS custom properties (client/src/styles.css); values are checked first, since the
 * document comes from another server — a value that is not a plain colour, length or font list is ignored.
 */

/** The style keys we use → the CSS variables they set. */
const STYLE_VARIABLES: Record<string, { variable: string; kind: 'color' | 'length' | 'font' }> = {
  color_background: { variable: '--bg', kind: 'color' },
  color_text: { variable: '--fg', kind: 'color' },
  color_highlight: { variable: '--accent', kind: 'color' },
  color_error: { variable: '--error-border', kind: 'color' },
  color_success: { variable: '--success', kind: 'color' },
  dim_border_radius: { variable: '--radius', kind: 'length' },
  dim_font_size: { variable: '--font-size', kind: 'length' },
  dim_spacing_size: { variable: '--space', kind: 'length' },
  font_family_body: { variable: '--font-body', kind: 'font' },
  font_family_heading: { variable: '--font-heading', kind: 'font' },
};

const COLOR = /^(#[0-9a-f]{3,8}|(rgb|rgba|hsl|hsla)\([0-9.,%\s/]+\)|[a-z]{3,20})$/i;
const LENGTH = /^\d{1,3}(\.\d{1,3})?(px|rem|em|pt)$/;
const FONT = /^[\w\s,'"-]{1,200}$/;

function isValid(kind: 'color' | 'length' | 'font', value: string): boolean {
  if (kind === 'color') return COLOR.test(value);
  if (kind === 'length') return LENGTH.test(value);
  return FONT.test(value);
}

/** The CSS variables a style document sets; unknown keys, empty and unsafe values are left out. */
export function smartStyleToCssVariables(style: unknown): Record<string, string> {
  const variables: Record<string, string> = {};
  if (typeof style !== 'object' || style === null) return variables;
  for (const [key, raw] of Object.entries(style as Record<string, unknown>)) {
    const target = STYLE_VARIABLES[key];
    if (!target || typeof raw !== 'string') continue;
    const value = raw.trim();
    if (value && isValid(target.kind, value)) variables[target.variable] = value;
  }
  return variables;
}

/** Fetches the style document (no credentials: it is public) and sets its variables on `root`. */
export async function applySmartStyle(
  styleUrl: string,
  root: { style: Pick<CSSStyleDeclaration, 'setProperty'> },
  options: { fetch?: (url: string, init?: RequestInit) => Promise<Response>; signal?: AbortSignal } = {},
): Promise<Record<string, string>> {
  const url = new URL(styleUrl);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return {};
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(url.toString(), {
    headers: { Accept: 'application/json' },
    credentials: 'omit',
    signal: options.signal,
  });
  if (!response.ok) return {};
  const variables = smartStyleToCssVariables(await response.json());
  for (const [name, value] of Object.entries(variables)) root.style.setProperty(name, value);
  return variables;
}
