import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OidcProvider } from '../../test/support/oidc.js';

/** Bounds what a caller can make this endpoint do: one small JSON request, one token. */
const MAX_BODY = 1024;

export interface TokenEndpoint {
  url: string;
  stop(): Promise<void>;
}

/**
 * A loopback endpoint that mints the token a dynamic fixture case names ({issuer, account, kind}),
 * from the demo's providers, so `lokistack-authz test --url --token-url` can run token cases against
 * a running service. Demo only: anyone on this host can mint tokens of these throwaway providers.
 */
export async function startTokenEndpoint(
  providers: ReadonlyMap<string, { provider: OidcProvider; clientId: string; accounts: ReadonlySet<string> }>,
): Promise<TokenEndpoint> {
  const server = createServer((req, res) => {
    const answer = (status: number, text: string) =>
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(text);
    if (req.method !== 'POST') return answer(405, 'POST a token spec: {"issuer","account","kind"}\n');
    let body = '';
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        answer(413, 'token spec too large\n');
        req.destroy();
        return;
      }
      body += chunk.toString('utf8');
    });
    req.on('end', () => {
      if (res.headersSent) return;
      mint(body).then(
        (token) => answer(200, token),
        (err: unknown) => answer(400, `${err instanceof Error ? err.message : String(err)}\n`),
      );
    });
  });

  const mint = async (text: string): Promise<string> => {
    const spec = JSON.parse(text) as Record<string, unknown>;
    if (spec === null || typeof spec !== 'object') throw new Error('the token spec must be a JSON object');
    if (spec.kind === 'garbage') return `garbage-${randomBytes(24).toString('base64url')}`;
    const p = typeof spec.issuer === 'string' ? providers.get(spec.issuer) : undefined;
    if (!p) throw new Error(`unknown issuer ${JSON.stringify(spec.issuer)}; this demo has ${[...providers.keys()].join(', ')}`);
    if (typeof spec.account !== 'string' || !p.accounts.has(spec.account))
      throw new Error(`issuer ${String(spec.issuer)} has no account ${JSON.stringify(spec.account)}`);
    if (spec.kind === 'jwt') return p.provider.jwtAccessToken(spec.account, { clientId: p.clientId });
    if (spec.kind === 'expired') return p.provider.expiredJwtAccessToken(spec.account, { clientId: p.clientId });
    if (spec.kind === 'opaque') return p.provider.opaqueAccessToken(spec.account, { clientId: p.clientId });
    throw new Error('kind must be jwt, opaque, expired or garbage');
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/token`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
