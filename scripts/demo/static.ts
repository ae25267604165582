import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath, shown, startDemoService } from './service.js';
import type { DemoExample, DemoMode } from './types.js';

const ALLOW = '/v1/data/lokistack/allow';

/** The worked examples of docs/static.md, against deploy/examples/rbac.yaml (what `npm start` serves). */
export const STATIC_EXAMPLES: readonly DemoExample[] = [
  {
    title: 'alice is bound as a user to application-read: allowed',
    method: 'POST',
    path: ALLOW,
    headers: [],
    body: '{"input":{"subject":"alice@example.com","groups":["developers"],"permission":"read","resource":"logs","tenant":"application"}}',
    answer: '{"result":true}',
  },
  {
    title: "the gateway's exact input for a user with no binding: denied",
    method: 'POST',
    path: ALLOW,
    headers: [],
    body: '{"input":{"groups":["system:authenticated"],"permission":"read","resource":"logs","subject":"bob@example.com","tenant":"application","tenantID":"application","token":"","extras":{}}}',
    answer: '{"result":false}',
  },
  {
    title: 'group sre reads every tenant: allowed',
    method: 'POST',
    path: ALLOW,
    headers: [],
    body: '{"input":{"subject":"carol@example.com","groups":["sre"],"permission":"read","resource":"logs","tenant":"audit"}}',
    answer: '{"result":true}',
  },
  {
    title: 'but writes none: denied',
    method: 'POST',
    path: ALLOW,
    headers: [],
    body: '{"input":{"subject":"carol@example.com","groups":["sre"],"permission":"write","resource":"logs","tenant":"audit"}}',
    answer: '{"result":false}',
  },
];

export const staticMode: DemoMode = {
  name: 'static',
  summary: 'roles and bindings from a file (deploy/examples/rbac.yaml); no upstream',
  async start(options) {
    const rbac = options.fixtures ? join(options.fixtures, 'rbac.yaml') : repoPath('deploy/examples/rbac.yaml');
    if (!existsSync(rbac)) throw new Error(`${shown(rbac)}: no such file (a static fixture set has its rbac.yaml beside its cases)`);
    const svc = await startDemoService([`--rbac.config=${shown(rbac)}`], options, options.log);
    return {
      url: svc.url,
      upstreams: [],
      command: svc.command,
      variables: [],
      // A fixture set's roles are not the example's: its own cases are what to run.
      examples: options.fixtures ? [] : [...STATIC_EXAMPLES],
      notes: options.fixtures ? [`Run the set's cases:  npx lokistack-authz test --url=${svc.url} ${shown(options.fixtures)}`] : [],
      stop: () => svc.service.shutdown(),
    };
  },
};
