/**
 * The `Prefer` request header (RFC 7240), for the one preference the API honours: `wait` (§4.3), how many seconds the
 * client is willing to wait for a synchronous answer. A script, the command-line tests and the panel (until it shows
 * progress) send `Prefer: wait=600` and get the analysis's result or error as before jobs existed; without it,
 * `POST /api/analyses` answers 202 with the job at once.
 *
 * §2: preferences are comma-separated, `token [ "=" word ] *( ";" parameter )`, names case-insensitive; a preference
 * given twice counts the first time only; one the server does not know is ignored. A `wait` that is not a whole
 * number of seconds is ignored too (§2: a malformed preference is no preference).
 */

/** The longest the API waits, whatever a client prefers (seconds). */
export const MAX_PREFER_WAIT_SECONDS = 600;

/** The `wait` preference in seconds, capped at MAX_PREFER_WAIT_SECONDS; undefined when the client stated none. */
export function preferredWaitSeconds(header: string | undefined): number | undefined {
  if (!header) return undefined;
  for (const preference of header.split(',')) {
    const [token = '', ...rest] = (preference.split(';')[0] ?? '').split('=');
    if (token.trim().toLowerCase() !== 'wait') continue;
    const value = rest
      .join('=')
      .trim()
      .replace(/^"(.*)"$/, '$1');
    // RFC 7240 §4.3: delta-seconds (RFC 9111 §1.2.2), a non-negative integer.
    if (!/^\d{1,10}$/.test(value)) return undefined;
    return Math.min(Number(value), MAX_PREFER_WAIT_SECONDS);
  }
  return undefined;
}
