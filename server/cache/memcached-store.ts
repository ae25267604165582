import { lookup } from 'node:dns/promises';
import { Socket } from 'node:net';
import { crc32 } from 'node:zlib';
import type { CacheStore } from './store.js';
import type { ErrorCode } from '../error-codes.js';

export interface MemcachedOptions {
  /** `host:port` of each server; a key goes to one server by CRC-32, as gomemcache picks. */
  servers: readonly string[];
  /** Deadline for one get or set, connecting included. */
  timeoutMs: number;
  /** Re-resolve the servers' names this often and reconnect when their addresses change; 0: never. */
  dnsIntervalMs: number;
  onError?: (err: Error) => void;
}

export class MemcachedError extends Error {
  readonly code = 'memcached_failed' satisfies ErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MemcachedError';
  }
}

/** A memcached cache over the text protocol: one pipelined connection per server. */
export class MemcachedStore implements CacheStore {
  readonly kind = 'memcached';
  private readonly conns: Connection[];
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: MemcachedOptions) {
    if (options.servers.length === 0) throw new MemcachedError('memcached needs at least one server');
    this.conns = options.servers.map((s) => new Connection(parseServer(s), options));
    if (options.dnsIntervalMs > 0) {
      this.timer = setInterval(() => void this.refreshAddresses(), options.dnsIntervalMs);
      this.timer.unref();
    }
  }

  async get(key: string): Promise<string | undefined> {
    const reply = await this.pick(key).request(`get ${checkKey(key)}\r\n`, 'get');
    return reply;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const data = Buffer.from(value, 'utf8');
    // memcached reads exptime over 30 days as a Unix time; decisions live far shorter.
    const seconds = Math.max(1, Math.min(Math.ceil(ttlMs / 1000), 30 * 24 * 3600));
    await this.pick(key).request(`set ${checkKey(key)} 0 ${seconds} ${data.length}\r\n${value}\r\n`, 'set');
  }

  size(): undefined {
    return undefined;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const c of this.conns) c.destroy(new MemcachedError('memcached store closed'));
  }

  private pick(key: string): Connection {
    return this.conns[crc32(key) % this.conns.length]!;
  }

  private async refreshAddresses(): Promise<void> {
    for (const c of this.conns) {
      try {
        const addrs = (await lookup(c.server.host, { all: true }))
          .map((a) => a.address)
          .sort()
          .join(',');
        c.noteAddresses(addrs);
      } catch (err) {
        this.options.onError?.(err as Error);
      }
    }
  }
}

interface Server {
  host: string;
  port: number;
}

function parseServer(s: string): Server {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s.trim());
  if (!m) throw new MemcachedError(`memcached server ${JSON.stringify(s)} is not host:port`);
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

function checkKey(key: string): string {
  if (key.length === 0 || key.length > 250 || /[\s\x00-\x20\x7f]/.test(key)) throw new MemcachedError('invalid memcached key');
  return key;
}

interface Pending {
  kind: 'get' | 'set';
  resolve: (value: string | undefined) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** One server: a socket, the requests in flight in order, and a parser for their replies. */
class Connection {
  private socket: Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly queue: Pending[] = [];
  private addresses: string | undefined;

  constructor(
    readonly server: Server,
    private readonly options: MemcachedOptions,
  ) {}

  request(command: string, kind: 'get' | 'set'): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.destroy(new MemcachedError(`memcached ${this.label()} did not answer within ${this.options.timeoutMs}ms`)),
        this.options.timeoutMs,
      );
      this.queue.push({ kind, resolve, reject, timer });
      this.connect().write(command);
    });
  }

  /** A changed DNS answer: reconnect, so the next request reaches the new address. */
  noteAddresses(addrs: string): void {
    if (this.addresses !== undefined && this.addresses !== addrs) this.destroy(new MemcachedError(`memcached ${this.label()} moved`));
    this.addresses = addrs;
  }

  destroy(err: Error): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.buffer = Buffer.alloc(0);
    for (const p of this.queue.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  private label(): string {
    return `${this.server.host}:${this.server.port}`;
  }

  private connect(): Socket {
    if (this.socket) return this.socket;
    const socket = new Socket();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.options.onError?.(err);
      this.destroy(new MemcachedError(`memcached ${this.label()}: ${err.message}`, { cause: err }));
    });
    socket.on('close', () => {
      if (this.socket === socket) this.destroy(new MemcachedError(`memcached ${this.label()} closed the connection`));
    });
    socket.connect(this.server.port, this.server.host);
    socket.unref();
    this.socket = socket;
    return socket;
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const head = this.queue[0];
      if (!head) {
        if (this.buffer.length > 0) this.destroy(new MemcachedError(`memcached ${this.label()} sent an unexpected reply`));
        return;
      }
      const parsed = head.kind === 'get' ? parseGet(this.buffer) : parseSet(this.buffer);
      if (parsed === undefined) return;
      this.queue.shift();
      clearTimeout(head.timer);
      this.buffer = this.buffer.subarray(parsed.consumed);
      if (parsed.error) {
        head.reject(new MemcachedError(`memcached ${this.label()}: ${parsed.error}`));
      } else {
        head.resolve(parsed.value);
      }
    }
  }
}

interface Parsed {
  consumed: number;
  value?: string;
  error?: string;
}

const CRLF = Buffer.from('\r\n');

/** `VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n` or `END\r\n`; undefined while incomplete. */
function parseGet(buf: Buffer): Parsed | undefined {
  const eol = buf.indexOf(CRLF);
  if (eol < 0) return undefined;
  const line = buf.subarray(0, eol).toString('latin1');
  if (line === 'END') return { consumed: eol + 2 };
  const m = /^VALUE \S+ \d+ (\d+)/.exec(line);
  if (!m) return { consumed: eol + 2, error: line.slice(0, 100) };
  const bytes = Number(m[1]);
  const end = eol + 2 + bytes + 2 + 5; // data, CRLF, "END\r\n"
  if (buf.length < end) return undefined;
  return { consumed: end, value: buf.subarray(eol + 2, eol + 2 + bytes).toString('utf8') };
}

/** `STORED\r\n`, or an error line. */
function parseSet(buf: Buffer): Parsed | undefined {
  const eol = buf.indexOf(CRLF);
  if (eol < 0) return undefined;
  const line = buf.subarray(0, eol).toString('latin1');
  return line === 'STORED' ? { consumed: eol + 2 } : { consumed: eol + 2, error: line.slice(0, 100) };
}
