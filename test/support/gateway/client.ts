import type { GatewayCase } from './cases.js';

/** One client request through the gateway's logs API, as `Bearer token` when there is one; the gateway's status. */
export async function send(
  gatewayUrl: string,
  c: Pick<GatewayCase, 'tenant' | 'path' | 'params' | 'method' | 'body'>,
  token: string | undefined,
): Promise<number> {
  const url = new URL(`${gatewayUrl}/api/logs/v1/${c.tenant}${c.path}`);
  for (const [k, v] of Object.entries(c.params ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (c.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, {
    method: c.method,
    headers,
    redirect: 'manual',
    ...(c.body !== undefined ? { body: c.body } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  await res.arrayBuffer();
  return res.status;
}
