/**
 * The path Loki will route for an original request URI, or why it is ambiguous. Loki's router
 * matches the percent-decoded path (Go's URL.Path: `%71uery` is `query`, `%2F` is `/`), and
 * redirects unclean paths (`..`, `.`, `//`) instead of serving them. Anything whose routing is not
 * plain from the text is refused, not normalized: normalizing differently from Loki (or from a
 * proxy in between) is how `/loki/api/v1/push/../query` would get a write scope for a read.
 */
export type OriginalPath = { ok: true; path: string } | { ok: false; reason: string };

/** Longest original URI considered; Loki's own request line limit is far above, but no API path is. */
export const MAX_ORIGINAL_URI_BYTES = 8192;

export function originalPath(uri: string): OriginalPath {
  if (uri.length > MAX_ORIGINAL_URI_BYTES) return { ok: false, reason: 'original URI too long' };
  // Control characters, spaces, backslashes and fragments have no place in a request target; some
  // servers read `\` as `/`.
  if (/[\u0000-\u0020\u007f\\#]/.test(uri)) return { ok: false, reason: 'original URI holds characters no request target has' };
  const q = uri.indexOf('?');
  const raw = q < 0 ? uri : uri.slice(0, q);
  // An absolute-form target (http://host/path) or anything not starting at the root is not routed by path alone.
  if (!raw.startsWith('/')) return { ok: false, reason: 'original URI is not an absolute path' };
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return { ok: false, reason: 'original URI has an invalid percent-escape' };
  }
  // Decoding may reveal what the raw text hid: %00, %5C, %2F%2E%2E.
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return { ok: false, reason: 'original path decodes to control characters or backslashes' };
  const segments = path.split('/').slice(1);
  if (segments.some((s, i) => s === '.' || s === '..' || (s === '' && i < segments.length - 1))) {
    return { ok: false, reason: 'original path is not clean (., .. or empty segments)' };
  }
  // A percent-encoded slash moves segment boundaries: Loki decodes before routing, a proxy in
  // front may not. Refused, so that both read the same path.
  if (/%2f/i.test(raw)) return { ok: false, reason: 'original path holds an encoded slash' };
  return { ok: true, path };
}

/** An HTTP method token as RFC 9110 has it, upper case (methods are case-sensitive; Loki's are upper case). */
export function isMethod(m: string): boolean {
  return /^[A-Z]{1,16}$/.test(m);
}
