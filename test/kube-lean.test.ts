/**
 * Kubernetes calls on the lean path (issue 14): made over node:http(s) with the service's
 * credentials from the kubeconfig (test/kubeconfig.test.ts holds the loader to client-node's
 * reading), read within a bound. Against a hand-held
 * API server on loopback that answers what the test says, including what a hostile or broken
 * server could answer: the worst it may get is an error (fail closed), never an allow.
 * The everyday answers of a real API server are covered against the fake one (openshift-mode,
 * faults, peer-conformance tests), unchanged.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient } from '../server/kube/client.js';
import { parseKubeconfig } from '../server/kube/kubeconfig.js';
import { Limiter } from '../server/kube/limiter.js';
import { KubeError } from '../server/kube/types.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

describe('kube client: SubjectAccessReviews on the lean path', function () {
  this.timeout(20_000);
  let server: Server;
  let base: string;
  let answer: (res: ServerResponse) => void;
  const seen: Seen[] = [];

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    seen.length = 0;
  });

  function client(): KubeClient {
    return new KubeClient(
      parseKubeconfig(kubeconfigFor(base), 'lean.kubeconfig'),
      { ssar: false, timeoutMs: 5_000, namespaceSource: 'namespaces' },
      new Limiter(4),
      {
        call() {},
      },
    );
  }
  const bob = {
    user: 'bob',
    groups: ['system:authenticated'],
    token: 'bobs-user-token',
    verb: 'get',
    apiGroup: 'loki.grafana.com',
    resource: 'application',
    name: 'logs',
    namespace: 'log-test-0',
  } as const;
  const json = (status: number, value: unknown) => (res: ServerResponse) =>
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
  const signal = () => new AbortController().signal;

  it("POSTs the SubjectAccessReview as the service, under the cluster URL's path, and reads status.allowed", async () => {
    const kube = client();
    try {
      answer = json(201, { kind: 'SubjectAccessReview', status: { allowed: true } });
      assert.equal(await kube.review(bob, signal()), true);
      answer = json(201, { kind: 'SubjectAccessReview', status: { allowed: false, reason: 'no RBAC policy matched' } });
      assert.equal(await kube.review(bob, signal()), false);
      answer = json(201, { kind: 'SubjectAccessReview', status: { allowed: 'true' } });
      assert.equal(await kube.review(bob, signal()), false, 'only a boolean true allows');
    } finally {
      kube.close();
    }
    const first = seen[0]!;
    // authorization.k8s.io/v1 SubjectAccessReview: a create (POST) of the review, spec naming the subject.
    assert.equal(first.method, 'POST');
    assert.equal(first.url, '/prefix/apis/authorization.k8s.io/v1/subjectaccessreviews');
    assert.equal(first.headers.authorization, 'Bearer service-account-token');
    assert.match(String(first.headers['content-type']), /^application\/json/);
    const body = JSON.parse(first.body) as { apiVersion: string; kind: string; spec: Record<string, unknown> };
    assert.equal(body.apiVersion, 'authorization.k8s.io/v1');
    assert.equal(body.kind, 'SubjectAccessReview');
    assert.deepEqual(body.spec, {
      user: 'bob',
      groups: ['system:authenticated'],
      resourceAttributes: { namespace: 'log-test-0', verb: 'get', group: 'loki.grafana.com', resource: 'application', name: 'logs' },
    });
    for (const s of seen) assert.ok(!JSON.stringify(s).includes('bobs-user-token'), "the user's token never goes to a review made as the service");
  });

  it('a refusal is a kube_status error with the Status message, never an answer', async () => {
    const kube = client();
    try {
      answer = json(403, {
        kind: 'Status',
        status: 'Failure',
        message: 'subjectaccessreviews.authorization.k8s.io is forbidden',
        reason: 'Forbidden',
        code: 403,
      });
      await assert.rejects(kube.review(bob, signal()), (err: unknown) => {
        assert.ok(err instanceof KubeError);
        assert.equal(err.code, 'kube_status');
        assert.equal(err.status, 403);
        assert.match(err.message, /^403 subjectaccessreviews.authorization.k8s.io is forbidden/);
        return true;
      });
    } finally {
      kube.close();
    }
  });

  it('an oversized answer (an allow padded to 2 MiB) is refused, not read to its end and believed', async () => {
    const kube = client();
    try {
      answer = json(201, { kind: 'SubjectAccessReview', status: { allowed: true }, pad: 'x'.repeat(2 << 20) });
      await assert.rejects(kube.review(bob, signal()), (err: unknown) => err instanceof KubeError && /larger than/.test(err.message));
    } finally {
      kube.close();
    }
  });

  it('a 2xx answer that is not JSON is an error, not a denial or an allow', async () => {
    const kube = client();
    try {
      answer = (res) => res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"status":{"allowed":true}');
      await assert.rejects(kube.review(bob, signal()), (err: unknown) => err instanceof KubeError && err.code === 'kube_status');
    } finally {
      kube.close();
    }
  });

  it('TokenReview: POSTed as the service with the token in the spec; only a well-formed authenticated identity is one', async () => {
    const kube = client();
    const tokenReview = (status: unknown) => json(201, { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', status });
    try {
      answer = tokenReview({
        authenticated: true,
        user: { username: 'bob', uid: 'u-1', groups: ['system:authenticated'], extra: { 'scopes.authorization.openshift.io': ['user:full'] } },
      });
      assert.deepEqual(await kube.reviewToken('bobs-user-token', signal()), {
        authenticated: true,
        user: 'bob',
        uid: 'u-1',
        groups: ['system:authenticated'],
        extra: { 'scopes.authorization.openshift.io': ['user:full'] },
      });
      const sent = seen[0]!;
      assert.equal(sent.url, '/prefix/apis/authentication.k8s.io/v1/tokenreviews');
      assert.equal(sent.headers.authorization, 'Bearer service-account-token');
      assert.deepEqual(JSON.parse(sent.body), { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'bobs-user-token' } });
      answer = tokenReview({ authenticated: false, error: 'token expired' });
      assert.deepEqual(await kube.reviewToken('t', signal()), { authenticated: false, error: 'token expired' });
      // Shapes a broken or hostile API could answer: never an identity to decide on.
      for (const status of [
        { authenticated: 'true', user: { username: 'bob' } },
        { authenticated: true, user: { username: '' } },
        { authenticated: true, user: { username: 'bob', groups: 'system:cluster-admins' } },
        { authenticated: true, user: { username: 'bob', groups: ['a', 1] } },
        { authenticated: true, user: { username: 'bob', extra: { k: 'v' } } },
        { authenticated: true, user: { username: ['bob'] } },
      ]) {
        answer = tokenReview(status);
        const r = await kube.reviewToken('t', signal());
        assert.equal(r.authenticated, false, JSON.stringify(status));
      }
    } finally {
      kube.close();
    }
  });

  it('the caller going away cancels the call', async () => {
    const kube = client();
    try {
      answer = () => {}; // never answers
      const ac = new AbortController();
      const pending = kube.review(bob, ac.signal);
      for (let i = 0; i < 1000 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(seen.length, 1, 'the review reached the server');
      ac.abort(new Error('client went away'));
      await assert.rejects(pending, (err: unknown) => err instanceof KubeError && err.code === 'kube_aborted');
    } finally {
      kube.close();
    }
  });

  it('namespace and project lists: read as Go reads them (no items is none); any other shape is an error, never a list', async () => {
    const kube = client();
    const listed = () => kube.listNamespaces({ token: 'bobs-user-token' }, signal());
    try {
      answer = json(200, { kind: 'NamespaceList', items: [{ metadata: { name: 'a' } }, { metadata: { name: 7 } }, null, { metadata: { name: 'b' } }] });
      assert.deepEqual(await listed(), ['a', 'b']);
      const sent = seen.at(-1)!;
      assert.equal(sent.method, 'GET');
      assert.equal(sent.url, '/prefix/api/v1/namespaces');
      // Listed as the service (plain Kubernetes): never with the user's token.
      assert.equal(sent.headers.authorization, 'Bearer service-account-token');
      for (const empty of [{ kind: 'NamespaceList' }, { kind: 'NamespaceList', items: null }]) {
        answer = json(200, empty);
        assert.deepEqual(await listed(), [], JSON.stringify(empty));
      }
      for (const bad of [{ items: 'log-test-0' }, { items: { 0: { metadata: { name: 'x' } } } }, ['x'], 'x', null]) {
        answer = json(200, bad);
        await assert.rejects(listed(), (err: unknown) => err instanceof KubeError && err.code === 'kube_status', JSON.stringify(bad));
      }
    } finally {
      kube.close();
    }
  });

  it('every review body is the documented review object as JSON, whatever its strings hold (hostile names, scopes, a "__proto__" key)', async () => {
    const hostile = ['a"b\\c', 'line\nbreak', '\u2028\u2029', 'ünï 😀', '\ud800', '</script>', '', '__proto__'];
    const reviews = [
      bob,
      { ...bob, namespace: '', subresource: 'log' },
      {
        ...bob,
        user: hostile[0]!,
        groups: hostile,
        uid: hostile[3]!,
        extra: Object.fromEntries([
          ['scopes.authorization.openshift.io', ['user:info']],
          ['__proto__', hostile],
          ['12', ['x']],
        ]) as Record<string, readonly string[]>,
        namespace: hostile[1]!,
        name: hostile[4]!,
        resource: hostile[5]!,
      },
    ];
    // authorization.k8s.io/v1: the object a Kubernetes API server decodes, field by field, as it was sent before the bodies were written directly.
    const attributes = (r: (typeof reviews)[number]) => ({
      ...(r.namespace ? { namespace: r.namespace } : {}),
      verb: r.verb,
      group: r.apiGroup,
      resource: r.resource,
      ...('subresource' in r && r.subresource ? { subresource: r.subresource } : {}),
      name: r.name,
    });
    const sar = (r: (typeof reviews)[number]) => ({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: r.user,
        groups: [...r.groups],
        ...('uid' in r && r.uid ? { uid: r.uid } : {}),
        ...('extra' in r && r.extra ? { extra: Object.fromEntries(Object.entries(r.extra).map(([k, v]) => [k, [...v]])) } : {}),
        resourceAttributes: attributes(r),
      },
    });
    const ssar = (r: (typeof reviews)[number]) => ({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: attributes(r) },
    });
    answer = json(201, { status: { allowed: true } });
    const kube = client();
    const self = new KubeClient(
      parseKubeconfig(kubeconfigFor(base), 'lean.kubeconfig'),
      { ssar: true, timeoutMs: 5_000, namespaceSource: 'namespaces' },
      new Limiter(4),
      {
        call() {},
      },
    );
    try {
      for (const r of reviews) {
        assert.equal(await kube.review(r, signal()), true);
        assert.equal(seen.at(-1)!.body, JSON.stringify(sar(r)));
        assert.deepEqual(JSON.parse(seen.at(-1)!.body), sar(r));
        assert.equal(await self.review(r, signal()), true);
        assert.equal(seen.at(-1)!.body, JSON.stringify(ssar(r)));
        assert.equal(seen.at(-1)!.headers.authorization, `Bearer ${r.token}`);
      }
    } finally {
      kube.close();
      self.close();
    }
  });

  it("a call past --kube.timeout is a kube_timeout; finished, timed out or cancelled, a call leaves no listener on the caller's signal", async () => {
    const slow = new KubeClient(
      parseKubeconfig(kubeconfigFor(base), 'lean.kubeconfig'),
      { ssar: false, timeoutMs: 200, namespaceSource: 'namespaces' },
      new Limiter(4),
      {
        call() {},
      },
    );
    const ac = new AbortController();
    try {
      answer = json(201, { status: { allowed: true } });
      assert.equal(await slow.review(bob, ac.signal), true);
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'after an answer');
      answer = () => {}; // never answers
      await assert.rejects(slow.review(bob, ac.signal), (err: unknown) => err instanceof KubeError && err.code === 'kube_timeout');
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'after a timeout');
      const pending = slow.review(bob, ac.signal);
      for (let i = 0; i < 1000 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
      ac.abort(new Error('client went away'));
      await assert.rejects(pending, (err: unknown) => err instanceof KubeError && err.code === 'kube_aborted');
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'after a cancellation');
      await assert.rejects(slow.review(bob, ac.signal), (err: unknown) => err instanceof KubeError && err.code === 'kube_aborted');
      assert.equal(seen.length, 3, 'a call for a caller already gone is not sent');
    } finally {
      slow.close();
    }
  });
});

function kubeconfigFor(base: string): string {
  return JSON.stringify({
    clusters: [{ name: 'c', cluster: { server: `${base}/prefix/` } }],
    users: [{ name: 'svc', user: { token: 'service-account-token' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'svc' } }],
    'current-context': 'x',
  });
}
