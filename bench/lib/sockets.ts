/**
 * Open sockets of a process, from /proc: its file descriptors that are sockets
 * (/proc/<pid>/fd/* -> "socket:[inode]"), each told apart by what /proc/<pid>/net/tcp{,6} says of
 * its inode: listening, accepted on one of the process's listening ports (by port), connected to a
 * known remote port (the upstream), or anything else (UDP, Unix sockets, unknown TCP).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface SocketCount {
  /** Every file descriptor that is a socket. */
  total: number;
  /** TCP sockets in LISTEN. */
  listening: number;
  /** Accepted connections, by the local port they came in on (named by `roles.inbound`). */
  inbound: Record<string, number>;
  /** Connections to a remote port named by `roles.outbound`. */
  outbound: Record<string, number>;
  /** Every other socket (other TCP, UDP, Unix). */
  other: number;
  /** TCP sockets by state (ESTABLISHED, CLOSE_WAIT, TIME_WAIT, …), listening ones included. */
  byState: Record<string, number>;
}

export interface SocketRoles {
  /** local port -> name (e.g. the public and internal listeners) */
  inbound: Record<number, string>;
  /** remote port -> name (e.g. the fake Kubernetes API) */
  outbound: Record<number, string>;
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};

interface TcpEntry {
  localPort: number;
  remotePort: number;
  state: string;
}

/** inode -> TCP entry, from the process's network namespace view. */
function tcpTable(pid: number): Map<string, TcpEntry> {
  const out = new Map<string, TcpEntry>();
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = f[1]!;
      const remote = f[2]!;
      out.set(f[9]!, {
        localPort: parseInt(local.slice(local.lastIndexOf(':') + 1), 16),
        remotePort: parseInt(remote.slice(remote.lastIndexOf(':') + 1), 16),
        state: TCP_STATES[f[3]!] ?? f[3]!,
      });
    }
  }
  return out;
}

/** The sockets `pid` holds open now; undefined once the process has gone. */
export function countSockets(pid: number, roles: SocketRoles): SocketCount | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const inodes: string[] = [];
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.push(m[1]!);
    } catch {
      // closed between readdir and readlink
    }
  }
  const tcp = tcpTable(pid);
  const count: SocketCount = { total: inodes.length, listening: 0, inbound: {}, outbound: {}, other: 0, byState: {} };
  for (const name of Object.values(roles.inbound)) count.inbound[name] = 0;
  for (const name of Object.values(roles.outbound)) count.outbound[name] = 0;
  for (const inode of inodes) {
    const e = tcp.get(inode);
    if (!e) {
      count.other++;
      continue;
    }
    count.byState[e.state] = (count.byState[e.state] ?? 0) + 1;
    if (e.state === 'LISTEN') count.listening++;
    else if (roles.inbound[e.localPort] !== undefined) count.inbound[roles.inbound[e.localPort]!]!++;
    else if (roles.outbound[e.remotePort] !== undefined) count.outbound[roles.outbound[e.remotePort]!]!++;
    else count.other++;
  }
  return count;
}
