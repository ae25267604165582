import { FlagError } from './flags.js';

/** Where the service listens: no host means every interface, as Go's `:8080`. */
export interface ListenAddress {
  host?: string;
  port: number;
}

/** `:8080`, `127.0.0.1:8080`, `[::1]:8080` or `localhost:8080`, as Go's net.Listen takes them. */
export function parseListen(flag: string, raw: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new FlagError(`--${flag} ${JSON.stringify(raw)} is not a listen address such as :8080 or 127.0.0.1:8080`);
  const host = m[1] ?? m[2];
  return host ? { host, port } : { port };
}
