/**
 * What a demo mode is: something that starts the upstreams a mode needs (an OIDC provider, a fake
 * Kubernetes API, or nothing) and the service on loopback, and says which requests to try and what
 * each answers. The forward-auth modes plug in here later with a module of their own and one line in
 * modes.ts; nothing else changes.
 */
export interface DemoOptions {
  /** The public listener, host:port (the demo's default 127.0.0.1:8080, so the docs' URLs work). */
  listen: string;
  /** The internal listener (/ready, /metrics). */
  internalListen: string;
  /** A fixture set directory whose own configuration (roles, tenants, cluster) the service runs with. */
  fixtures?: string;
  /** Where the service's log lines go (stderr in the terminal). */
  log: (line: string) => void;
}

/** One request to try, with the answer the demo promises; `$NAME` in headers refers to `variables`. */
export interface DemoExample {
  /** One line: who asks for what, and what they get. */
  title: string;
  method: 'POST' | 'GET';
  /** The URL path, e.g. /v1/data/lokistack/allow. */
  path: string;
  headers: Array<[string, string]>;
  /** The request body, sent as written (JSON text). */
  body?: string;
  /**
   * More curl arguments, after -s. For answers that are a status and headers rather than a body (the
   * forward-auth modes: 200 with X-Scope-OrgID, or 401/403), e.g.
   * ['-o', '/dev/null', '-w', '%{http_code} %header{x-scope-orgid}\\n'], with `answer` what that prints.
   */
  curlArgs?: string[];
  /** The body the service answers, exactly, as `curl -s` prints it (trailing newline aside). */
  answer: string;
  /** Shown under the answer as a shell comment: what to look for in the service's log. */
  note?: string;
}

export interface RunningDemo {
  /** http://host:port of the service's public listener. */
  url: string;
  /** What else runs (provider, fake API, token endpoint), one line each. */
  upstreams: string[];
  /** The service's command line as a user would type it (the demo starts it in-process). */
  command: string[];
  /** Shell variables the examples use, e.g. ALICE -> a token minted by the provider. */
  variables: Array<[string, string]>;
  examples: DemoExample[];
  /** Extra lines printed after the examples (e.g. how to run the set's fixtures). */
  notes: string[];
  /** Stops the service and every upstream; resolves when all ports are closed. */
  stop(): Promise<void>;
}

export interface DemoMode {
  name: string;
  /** One line for --help. */
  summary: string;
  start(options: DemoOptions): Promise<RunningDemo>;
}
