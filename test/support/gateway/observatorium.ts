/**
 * Running the real observatorium/api (the LokiStack gateway) with the Loki Operator's arguments:
 * the logs endpoints, --rbac.config, --tenants.config and, for openshift tenants,
 * --logs.auth.extract-selectors. Listeners are moved to free loopback ports; nothing else changes.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnPeer } from '../peers.js';
import { freePorts } from '../ports.js';
import { makeTempDir, writeTempFile } from '../service.js';

/** The selectors the operator extracts per mode (reference §3). */
export const EXTRACT_SELECTORS = {
  logging: 'kubernetes_namespace_name,k8s_namespace_name',
  network: 'SrcK8S_Namespace,DstK8S_Namespace',
} as const;

export interface RunningGateway {
  /** http://127.0.0.1:PORT of the public listener */
  readonly url: string;
  readonly process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  bin: string;
  lokiUrl: string;
  /** tenants.yaml text. */
  tenants: string;
  /** rbac.yaml text (the operator renders one in every mode). */
  rbac: string;
  extractSelectors?: string;
  env?: Record<string, string>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const dir = makeTempDir('gateway-e2e-');
  const [port, internalPort] = (await freePorts(2)) as [number, number];
  const url = `http://127.0.0.1:${port}`;
  const argv = [
    `--web.listen=127.0.0.1:${port}`,
    `--web.internal.listen=127.0.0.1:${internalPort}`,
    `--web.healthchecks.url=${url}`,
    '--log.level=warn',
    `--logs.read.endpoint=${options.lokiUrl}`,
    `--logs.tail.endpoint=${options.lokiUrl}`,
    `--logs.write.endpoint=${options.lokiUrl}`,
    `--rbac.config=${writeTempFile('rbac.yaml', options.rbac, dir)}`,
    `--tenants.config=${writeTempFile('tenants.yaml', options.tenants, dir)}`,
    ...(options.extractSelectors ? [`--logs.auth.extract-selectors=${options.extractSelectors}`] : []),
  ];
  const peer = spawnPeer(options.bin, argv, options.env);
  const { output, stop } = peer;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (peer.gone()) throw new Error(`observatorium-api exited at start:\n${output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${internalPort}/ready`, { signal: AbortSignal.timeout(500) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`observatorium-api not ready on ${url}:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, process: peer.process, output, stop };
}
