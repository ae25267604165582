/**
 * The lean Kubernetes configuration loader (server/kube/kubeconfig.ts, issue 14), proven against
 * @kubernetes/client-node's own loading: for every kubeconfig both accept, the same server, CA,
 * client certificate and key, bearer token and TLS switches. What the service does not apply
 * (exec plugins, auth providers, basic auth, impersonation, proxies) must stop startup naming the
 * field, never be dropped. Then over real sockets: the fake Kubernetes API over HTTPS reached
 * through a kubeconfig and through the in-cluster service account, and an API server that demands
 * a client certificate, to prove the service's certificate goes with the service's calls only.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError } from '../server/errors.js';
import { KubeClient } from '../server/kube/client.js';
import {
  inCluster,
  loadKubeconfigFile,
  loadKubeTarget,
  MAX_KUBECONFIG_BYTES,
  SERVICE_ACCOUNT_DIR,
  TOKEN_FILE_REREAD_MS,
  type KubeTarget,
} from '../server/kube/kubeconfig.js';
import { Limiter } from '../server/kube/limiter.js';
import { startFakeKube, type FakeKube } from './support/fake-kube/server.js';
import { LOKISTACK_IDENTITIES, LOKISTACK_TOKENS, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { fakeKubeCertificates } from './support/fake-kube/tls.js';
import { makeTempDir } from './support/service.js';
import { packagesLoadedBy } from './support/loaded-packages.js';

/** What a client would send: the resolved server, trust, identity. */
interface Resolved {
  server: string | undefined;
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  insecure: boolean;
  servername?: string;
}

/** The oracle: client-node's KubeConfig loading the same file, then what it applies to a request. */
async function viaClientNode(file: string): Promise<Resolved> {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return applied(kc);
}

async function applied(kc: KubeConfig): Promise<Resolved> {
  const opts: { ca?: Buffer; cert?: Buffer; key?: Buffer; headers?: Record<string, string>; rejectUnauthorized?: boolean; servername?: string } = {};
  await kc.applyToHTTPSOptions(opts);
  const auth = opts.headers?.Authorization;
  return {
    server: kc.getCurrentCluster()?.server,
    ...(opts.ca ? { ca: opts.ca.toString('utf8') } : {}),
    ...(opts.cert ? { cert: opts.cert.toString('utf8') } : {}),
    ...(opts.key ? { key: opts.key.toString('utf8') } : {}),
    ...(auth ? { token: auth.replace(/^Bearer /, '') } : {}),
    insecure: opts.rejectUnauthorized === false,
    ...(opts.servername ? { servername: opts.servername } : {}),
  };
}

function ours(t: KubeTarget): Resolved {
  const token = t.token?.current();
  return {
    server: t.server,
    ...(t.tls.ca ? { ca: t.tls.ca.toString('utf8') } : {}),
    ...(t.tls.cert ? { cert: t.tls.cert.toString('utf8') } : {}),
    ...(t.tls.key ? { key: t.tls.key.toString('utf8') } : {}),
    ...(token ? { token } : {}),
    insecure: !t.tls.rejectUnauthorized,
    ...(t.tls.servername ? { servername: t.tls.servername } : {}),
  };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
// Distinct stand-ins: the loaders pass PEM through, they do not parse it; a mix-up shows.
const CA = '-----BEGIN CERTIFICATE-----\nY2EtZm9yLXRlc3Q=\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nY2xpZW50LWNlcnQ=\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nY2xpZW50LWtleQ==\n-----END PRIVATE KEY-----\n';

interface KcSpec {
  cluster: Record<string, unknown>;
  user?: Record<string, unknown>;
  current?: string | null;
}

/** A kubeconfig with a decoy context first, so "the first one" is never the right answer. */
function kubeconfigJson(spec: KcSpec): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'decoy', cluster: { server: 'https://decoy.invalid:6443', 'insecure-skip-tls-verify': true } },
      { name: 'real', cluster: spec.cluster },
    ],
    users: [{ name: 'decoy', user: { token: 'decoy-token' } }, ...(spec.user ? [{ name: 'svc', user: spec.user }] : [])],
    contexts: [
      { name: 'decoy', context: { cluster: 'decoy', user: 'decoy' } },
      { name: 'mine', context: { cluster: 'real', ...(spec.user ? { user: 'svc' } : {}), namespace: 'openshift-logging' } },
    ],
    ...(spec.current === null ? {} : { 'current-context': spec.current ?? 'mine' }),
  };
}

/** The same kubeconfig written as YAML, as people write them (block style, comments). */
function toYaml(v: unknown, indent = ''): string {
  if (Array.isArray(v)) return v.map((x) => `${indent}- ${toYaml(x, `${indent}  `).trimStart()}`).join('\n');
  if (v && typeof v === 'object') {
    return Object.entries(v)
      .map(([k, x]) => (x && typeof x === 'object' ? `${indent}${k}:\n${toYaml(x, `${indent}  `)}` : `${indent}${k}: ${JSON.stringify(x)}`))
      .join('\n');
  }
  return `${indent}${JSON.stringify(v)}`;
}

describe('kubeconfig: the lean loader resolves what @kubernetes/client-node resolves', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => {
    dir = makeTempDir('kubeconfig-test-');
    mkdirSync(join(dir, 'certs'), { recursive: true });
    writeFileSync(join(dir, 'certs/ca.crt'), CA);
    writeFileSync(join(dir, 'certs/client.crt'), CERT);
    writeFileSync(join(dir, 'certs/client.key'), KEY);
    mkdirSync(join(dir, 'nested/deeper'), { recursive: true });
  });
  let n = 0;
  const write = (content: string, at = dir) => {
    const file = join(at, `kubeconfig-${n++}`);
    writeFileSync(file, content);
    return file;
  };

  const agreeing: Array<[string, KcSpec, 'json' | 'yaml', string?]> = [
    [
      'certificate-authority-data and a token',
      { cluster: { server: 'https://api.example.com:6443', 'certificate-authority-data': b64(CA) }, user: { token: 'sa-token' } },
      'json',
    ],
    [
      'relative CA, certificate and key files, resolved against the kubeconfig directory (not the working directory)',
      {
        cluster: { server: 'https://10.0.0.1:443/', 'certificate-authority': '../../certs/ca.crt' },
        user: { 'client-certificate': '../../certs/client.crt', 'client-key': '../../certs/client.key' },
      },
      'yaml',
      'nested/deeper',
    ],
    [
      'absolute CA file, client certificate and key as base64 data, and a token beside them',
      {
        cluster: { server: 'https://api.example.com', 'certificate-authority': '<abs>' },
        user: { 'client-certificate-data': b64(CERT), 'client-key-data': b64(KEY), token: 'both-token' },
      },
      'json',
    ],
    [
      'insecure-skip-tls-verify and tls-server-name',
      { cluster: { server: 'https://192.168.1.10:6443', 'insecure-skip-tls-verify': true, 'tls-server-name': 'api.cluster.local' }, user: { token: 't' } },
      'yaml',
    ],
    [
      'a server path prefix with trailing slash',
      { cluster: { server: 'https://rancher.example.com/k8s/clusters/c-1/', 'certificate-authority-data': b64(CA) }, user: { token: 't' } },
      'json',
    ],
    [
      'plain http on loopback (client-node asks for insecure-skip-tls-verify with it)',
      { cluster: { server: 'http://127.0.0.1:8080', 'insecure-skip-tls-verify': true }, user: { token: 't' } },
      'json',
    ],
  ];
  for (const [name, spec, format, sub] of agreeing) {
    it(`same as client-node: ${name}`, async () => {
      const cluster = { ...spec.cluster };
      if (cluster['certificate-authority'] === '<abs>') cluster['certificate-authority'] = join(dir, 'certs/ca.crt');
      const doc = kubeconfigJson({ ...spec, cluster });
      const text = format === 'json' ? JSON.stringify(doc) : `# written by hand\n${toYaml(doc)}\n`;
      const file = write(text, sub ? join(dir, sub) : dir);
      const expected = await viaClientNode(file);
      // The oracle must have resolved something real, or agreeing with it proves nothing.
      assert.ok(expected.server && !expected.server.includes('decoy'));
      assert.deepEqual(ours(loadKubeconfigFile(file)), expected);
    });
  }

  it('no user in the context: no credentials, as client-node; the cluster CA is still the only trust (client-node drops it then)', async () => {
    const file = write(toYaml(kubeconfigJson({ cluster: { server: 'https://api.example.com:6443', 'certificate-authority-data': b64(CA) } })));
    const expected = await viaClientNode(file);
    const { ca, ...rest } = ours(loadKubeconfigFile(file));
    assert.deepEqual(rest, expected);
    assert.equal(expected.ca, undefined); // client-node would trust the system CAs for this cluster
    assert.equal(ca, CA); // client-go, and this loader, trust the one the kubeconfig names
  });

  it('a missing current-context: client-node selects no cluster, and the loader refuses naming the field', () => {
    const file = write(JSON.stringify(kubeconfigJson({ cluster: { server: 'https://api.example.com' }, user: { token: 't' }, current: null })));
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    assert.equal(kc.getCurrentCluster(), null);
    assert.throws(
      () => loadKubeconfigFile(file),
      (e: unknown) => e instanceof ConfigError && e.field === 'current-context',
    );
  });

  it('a current-context, cluster or user that names nothing is refused, never "the first one"', () => {
    const base = kubeconfigJson({ cluster: { server: 'https://api.example.com' }, user: { token: 't' } });
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['context', { ...base, 'current-context': 'nope' }, /contexts: no entry named "nope"/],
      ['cluster', { ...base, contexts: [{ name: 'mine', context: { cluster: 'gone', user: 'svc' } }] }, /clusters: no entry named "gone"/],
      ['user', { ...base, contexts: [{ name: 'mine', context: { cluster: 'real', user: 'gone' } }] }, /users: no entry named "gone"/],
    ];
    for (const [what, doc, message] of cases) {
      assert.throws(() => loadKubeconfigFile(write(JSON.stringify(doc))), message, what);
    }
  });

  describe('refused at startup, naming the field and what is supported', () => {
    const refused: Array<[string, KcSpec, string]> = [
      [
        'an exec credential plugin',
        { cluster: { server: 'https://a' }, user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws', args: ['eks', 'get-token'] } } },
        'users[svc].user.exec',
      ],
      ['an auth-provider', { cluster: { server: 'https://a' }, user: { 'auth-provider': { name: 'oidc', config: {} } } }, 'users[svc].user.auth-provider'],
      ['basic auth', { cluster: { server: 'https://a' }, user: { username: 'admin', password: 'secret' } }, 'users[svc].user.username'],
      ['impersonation', { cluster: { server: 'https://a' }, user: { token: 't', as: 'system:admin' } }, 'users[svc].user.as'],
      ['a proxy', { cluster: { server: 'https://a', 'proxy-url': 'http://proxy:3128' }, user: { token: 't' } }, 'clusters[real].cluster.proxy-url'],
      ["client-node's misspelt token-file", { cluster: { server: 'https://a' }, user: { 'token-file': '/t' } }, 'users[svc].user.token-file'],
    ];
    for (const [name, spec, field] of refused) {
      it(name, () => {
        const file = write(JSON.stringify(kubeconfigJson(spec)));
        assert.throws(
          () => loadKubeconfigFile(file),
          (e: unknown) => {
            assert.ok(e instanceof ConfigError);
            assert.equal(e.field, field);
            assert.match(e.message, /not supported.*supported: cluster server/);
            // A credential is never echoed back in the message.
            assert.doesNotMatch(e.message, /secret|get-token/);
            return true;
          },
        );
      });
    }

    it('contradictions: a CA with insecure-skip-tls-verify, a file with its -data, a token with a tokenFile, a certificate without its key', () => {
      const cases: KcSpec[] = [
        { cluster: { server: 'https://a', 'insecure-skip-tls-verify': true, 'certificate-authority-data': b64(CA) } },
        { cluster: { server: 'https://a', 'certificate-authority': 'certs/ca.crt', 'certificate-authority-data': b64(CA) } },
        { cluster: { server: 'https://a' }, user: { token: 't', tokenFile: 'token' } },
        { cluster: { server: 'https://a' }, user: { 'client-certificate-data': b64(CERT) } },
      ];
      for (const spec of cases) assert.throws(() => loadKubeconfigFile(write(JSON.stringify(kubeconfigJson(spec)))), ConfigError, JSON.stringify(spec));
    });

    it('a token that would break or add a header line is refused, and not echoed', () => {
      const file = write(JSON.stringify(kubeconfigJson({ cluster: { server: 'https://a' }, user: { token: 'abc\r\nX-Remote-User: system:admin' } })));
      assert.throws(
        () => loadKubeconfigFile(file),
        (e: unknown) => e instanceof ConfigError && !e.message.includes('X-Remote-User'),
      );
    });

    it('JSON with a duplicate key is refused, as YAML refuses it (the first or the last server would be a guess)', async () => {
      const doc = JSON.stringify(kubeconfigJson({ cluster: { server: 'https://first.example.com' }, user: { token: 't' } }));
      const duplicated = doc.replace('"server":"https://first.example.com"', '"server":"https://first.example.com","server":"https://second.example.com"');
      assert.notEqual(duplicated, doc);
      const file = write(duplicated);
      assert.throws(
        () => loadKubeconfigFile(file),
        (e: unknown) => e instanceof ConfigError && /not YAML or JSON/.test(e.message),
      );
      // client-node refuses it too.
      await assert.rejects(viaClientNode(file));
    });

    it('a JSON kubeconfig is read without loading the yaml package (some 2 MiB of every idle sidecar); a YAML one loads it', () => {
      const json = write(JSON.stringify(kubeconfigJson({ cluster: { server: 'https://json.example.com' }, user: { token: 't' } })));
      const yaml = write(toYaml(kubeconfigJson({ cluster: { server: 'https://yaml.example.com' }, user: { token: 't' } })));
      const read = (file: string) =>
        packagesLoadedBy(`import { loadKubeconfigFile } from './server/kube/kubeconfig.ts';\nconsole.log(loadKubeconfigFile(${JSON.stringify(file)}).server);`);
      const fromJson = read(json);
      assert.equal(fromJson.stdout.trim(), 'https://json.example.com');
      assert.ok(!fromJson.packages.has('yaml'), [...fromJson.packages].join(', '));
      const fromYaml = read(yaml);
      assert.equal(fromYaml.stdout.trim(), 'https://yaml.example.com');
      assert.ok(fromYaml.packages.has('yaml'), 'the record sees the package when it is loaded');
    });

    it('bounded: a kubeconfig over the size limit is refused unread, and an alias bomb is refused', () => {
      const big = write(`# ${'x'.repeat(MAX_KUBECONFIG_BYTES)}\n`);
      assert.throws(() => loadKubeconfigFile(big), /larger|too large|bytes/i);
      const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
      for (let i = 0; i < 20; i++)
        bomb.push(
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(',')}]`,
        );
      assert.throws(() => loadKubeconfigFile(write(bomb.join('\n'))), ConfigError);
    });
  });

  describe('where the configuration comes from (opa-openshift order)', () => {
    const fileFor = (server: string) => write(JSON.stringify(kubeconfigJson({ cluster: { server }, user: { token: 't' } })));

    it('--openshift.kubeconfig wins over $KUBECONFIG, which wins over the service account; $KUBECONFIG: its first file', () => {
      const a = fileFor('https://first.example.com');
      const b = fileFor('https://second.example.com');
      const env = { KUBECONFIG: `${a}:${b}`, KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
      assert.equal(loadKubeTarget({ explicit: b, env }).server, 'https://second.example.com');
      assert.equal(loadKubeTarget({ env }).server, 'https://first.example.com');
      assert.equal(loadKubeTarget({ env: { KUBECONFIG: `:${b}` } }).server, 'https://second.example.com');
    });

    it('nothing to go on is a startup error naming the flag', () => {
      assert.throws(
        () => loadKubeTarget({ env: {} }),
        (e: unknown) => e instanceof ConfigError && /--openshift\.kubeconfig/.test(e.message),
      );
    });

    it('in-cluster: the same server, CA and token as client-node reads from the same service account files (IPv4 and IPv6)', async () => {
      const prefix = makeTempDir('kubeconfig-sa-');
      const sa = join(prefix, SERVICE_ACCOUNT_DIR);
      mkdirSync(sa, { recursive: true });
      writeFileSync(join(sa, 'ca.crt'), CA);
      writeFileSync(join(sa, 'token'), 'projected-token');
      writeFileSync(join(sa, 'namespace'), 'openshift-logging');
      for (const host of ['172.30.0.1', 'fd02::1']) {
        const env = { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: '443' };
        const saved = { h: process.env.KUBERNETES_SERVICE_HOST, p: process.env.KUBERNETES_SERVICE_PORT };
        Object.assign(process.env, env);
        let expected: Resolved;
        try {
          const kc = new KubeConfig();
          kc.loadFromCluster(prefix);
          expected = await applied(kc);
        } finally {
          for (const [k, v] of [
            ['KUBERNETES_SERVICE_HOST', saved.h],
            ['KUBERNETES_SERVICE_PORT', saved.p],
          ] as const) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
          }
        }
        assert.equal(expected.token, 'projected-token');
        assert.deepEqual(ours(loadKubeTarget({ env, serviceAccountDir: sa })), expected);
      }
      rmSync(prefix, { recursive: true, force: true });
    });

    it('the service-account token is re-read as the kubelet rotates it; a read failing mid-rotation keeps the last token', () => {
      const sa = makeTempDir('kubeconfig-rotate-');
      writeFileSync(join(sa, 'ca.crt'), CA);
      writeFileSync(join(sa, 'token'), 'token-1\n');
      let now = 1_000_000;
      const target = inCluster({ KUBERNETES_SERVICE_HOST: 'kubernetes.default.svc', KUBERNETES_SERVICE_PORT: '443' }, sa, () => now);
      assert.equal(target.token?.current(), 'token-1');
      writeFileSync(join(sa, 'token'), 'token-2\n');
      now += TOKEN_FILE_REREAD_MS - 1;
      assert.equal(target.token?.current(), 'token-1', 'not re-read on every call');
      now += 1;
      assert.equal(target.token?.current(), 'token-2');
      rmSync(join(sa, 'token'));
      now += TOKEN_FILE_REREAD_MS;
      assert.equal(target.token?.current(), 'token-2');
      writeFileSync(join(sa, 'token'), 'token-3');
      now += TOKEN_FILE_REREAD_MS;
      assert.equal(target.token?.current(), 'token-3');
    });

    it('a kubeconfig tokenFile is resolved against the kubeconfig directory and re-read the same way', () => {
      writeFileSync(join(dir, 'nested/sa-token'), 'file-token-1');
      let now = 0;
      const file = write(JSON.stringify(kubeconfigJson({ cluster: { server: 'https://a' }, user: { tokenFile: '../sa-token' } })), join(dir, 'nested/deeper'));
      const target = loadKubeconfigFile(file, () => now);
      assert.equal(target.token?.current(), 'file-token-1');
      writeFileSync(join(dir, 'nested/sa-token'), 'file-token-2');
      now += TOKEN_FILE_REREAD_MS;
      assert.equal(target.token?.current(), 'file-token-2');
    });

    it('a missing service-account file stops startup naming it', () => {
      const sa = makeTempDir('kubeconfig-nosa-');
      assert.throws(() => inCluster({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '443' }, sa), /ca\.crt/);
    });
  });
});

describe('kubeconfig: real calls through the loaded configuration', function () {
  this.timeout(60_000);
  let fake: FakeKube;
  before(async () => {
    fake = await startFakeKube(lokistackFakeKubeOptions({ tls: true }));
  });
  after(() => fake.close());

  const review = {
    user: 'bob',
    groups: ['system:authenticated:oauth'],
    token: LOKISTACK_TOKENS.bob,
    verb: 'get',
    apiGroup: 'loki.grafana.com',
    resource: 'application',
    name: 'logs',
  };
  const signal = () => new AbortController().signal;
  const GATEWAY = LOKISTACK_IDENTITIES.gateway.username;
  const client = (target: KubeTarget, ssar = false) =>
    new KubeClient(target, { ssar, timeoutMs: 5_000, namespaceSource: 'projects' }, new Limiter(4), { call() {} });

  it('HTTPS with certificate-authority-data (the fake cluster kubeconfig): reviews and project lists are answered', async () => {
    const file = join(makeTempDir('kubeconfig-fake-'), 'kubeconfig');
    writeFileSync(file, fake.kubeconfigText(undefined, { https: true }));
    const kube = client(loadKubeconfigFile(file));
    try {
      fake.requests.length = 0;
      assert.equal(await kube.review({ ...review, namespace: 'log-test-0' }, signal()), true);
      assert.equal(await kube.review({ ...review, namespace: 'log-test-2' }, signal()), false);
      assert.deepEqual((await kube.listNamespaces({ token: LOKISTACK_TOKENS.bob }, signal())).sort(), ['log-test-0', 'log-test-1']);
      // Each call was made as who it should be: the reviews as the gateway, the list as bob.
      assert.deepEqual(
        fake.requests.map((r) => [r.endpoint, r.user, r.tls]),
        [
          ['subjectaccessreviews', GATEWAY, true],
          ['subjectaccessreviews', GATEWAY, true],
          ['projects', 'bob', true],
        ],
      );
    } finally {
      kube.close();
    }
  });

  it('HTTPS with a CA the server was not signed by: no call succeeds (kube_unreachable), nothing is allowed', async () => {
    const other = fakeKubeCertificates(['other-ca.invalid']);
    const text = fake
      .kubeconfigText(undefined, { https: true })
      .replace(/"certificate-authority-data":"[^"]+"/, `"certificate-authority-data":"${b64(other.caPem)}"`);
    const kube = client(loadKubeconfigFile(join(writeDir(text), 'kubeconfig')));
    try {
      await assert.rejects(kube.review({ ...review, namespace: 'log-test-0' }, signal()), { name: 'KubeError', code: 'kube_unreachable' });
    } finally {
      kube.close();
    }
  });

  it('in-cluster over HTTPS: the pod ca.crt and token reach the fake API', async () => {
    const sa = makeTempDir('kubeconfig-incluster-');
    writeFileSync(join(sa, 'ca.crt'), fake.caPem!);
    writeFileSync(join(sa, 'token'), `${LOKISTACK_TOKENS.gateway}\n`);
    const port = new URL(fake.httpsUrl!).port;
    const kube = client(loadKubeTarget({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, serviceAccountDir: sa }));
    try {
      fake.requests.length = 0;
      assert.equal(await kube.review({ ...review, namespace: 'log-test-0' }, signal()), true);
      assert.equal(fake.requests[0]?.user, GATEWAY);
    } finally {
      kube.close();
    }
  });

  describe('a client certificate is the service identity: it goes with the service calls, never with a user token', () => {
    let server: Server;
    let base: string;
    let pki: ClientPki;
    const seen: Array<{ path: string; cn: string | undefined; bearer: string | undefined }> = [];
    before(async () => {
      pki = clientPki();
      const serving = fakeKubeCertificates();
      server = createHttpsServer({ key: serving.keyPem, cert: serving.certPem, ca: pki.caPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        const cn = (req.socket as TLSSocket).authorized ? (peer.subject?.CN as string | undefined) : undefined;
        seen.push({ path: req.url ?? '', cn, bearer: req.headers.authorization?.replace(/^Bearer /, '') });
        req.resume();
        req.on('end', () => {
          const body = req.url?.includes('projects') ? { kind: 'ProjectList', items: [{ metadata: { name: 'p1' } }] } : { status: { allowed: true } };
          res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('SubjectAccessReviews and TokenReviews present the certificate; SelfSubjectAccessReviews and project lists carry only the user token', async () => {
      const serving = fakeKubeCertificates();
      const dir = makeTempDir('kubeconfig-cert-');
      writeFileSync(join(dir, 'ca.crt'), serving.caPem);
      writeFileSync(join(dir, 'tls.crt'), pki.certPem);
      writeFileSync(join(dir, 'tls.key'), pki.keyPem);
      const text = toYaml({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'gw',
        clusters: [{ name: 'c', cluster: { server: base, 'certificate-authority': 'ca.crt' } }],
        users: [{ name: 'u', user: { 'client-certificate': 'tls.crt', 'client-key': 'tls.key' } }],
        contexts: [{ name: 'gw', context: { cluster: 'c', user: 'u' } }],
      });
      writeFileSync(join(dir, 'kubeconfig'), text);
      const target = loadKubeconfigFile(join(dir, 'kubeconfig'));
      // The oracle agrees on what was loaded.
      assert.deepEqual(ours(target), await viaClientNode(join(dir, 'kubeconfig')));
      const asService = client(target);
      const asUser = client(target, true);
      try {
        seen.length = 0;
        await asService.review({ ...review, namespace: 'ns' }, signal());
        await asService.reviewToken('some-token', signal()).catch(() => undefined);
        await asUser.review({ ...review, namespace: 'ns' }, signal());
        await asUser.listNamespaces({ token: LOKISTACK_TOKENS.bob }, signal());
      } finally {
        asService.close();
        asUser.close();
      }
      assert.deepEqual(seen, [
        { path: '/apis/authorization.k8s.io/v1/subjectaccessreviews', cn: 'system:serviceaccount:openshift-logging:gateway', bearer: undefined },
        { path: '/apis/authentication.k8s.io/v1/tokenreviews', cn: 'system:serviceaccount:openshift-logging:gateway', bearer: undefined },
        { path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', cn: undefined, bearer: LOKISTACK_TOKENS.bob },
        { path: '/apis/project.openshift.io/v1/projects', cn: undefined, bearer: LOKISTACK_TOKENS.bob },
      ]);
    });
  });
});

function writeDir(kubeconfig: string): string {
  const d = makeTempDir('kubeconfig-w-');
  writeFileSync(join(d, 'kubeconfig'), kubeconfig);
  return d;
}

interface ClientPki {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A client CA and a client certificate it signs (extendedKeyUsage clientAuth), made by openssl. */
function clientPki(): ClientPki {
  const d = makeTempDir('kubeconfig-pki-');
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';
  run(
    ...`req -x509 ${ec} -keyout ca.key -out ca.crt -days 2 -subj /CN=client-ca`.split(' '),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  );
  writeFileSync(join(d, 'ext.cnf'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  run(
    ...`req ${ec}`.split(' '),
    '-keyout',
    'tls.key',
    '-out',
    'tls.csr',
    '-subj',
    '/O=system:serviceaccounts/CN=system:serviceaccount:openshift-logging:gateway',
  );
  run('x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'tls.crt', '-days', '2', '-extfile', 'ext.cnf');
  const read = (f: string) => readFileSync(join(d, f), 'utf8');
  const pki = { caPem: read('ca.crt'), certPem: read('tls.crt'), keyPem: read('tls.key') };
  rmSync(d, { recursive: true, force: true });
  return pki;
}
