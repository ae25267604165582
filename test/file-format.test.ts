/**
 * The line-file reader htpasswd files and memcached key files share (issue 15: one implementation
 * of the job). What an operator relies on: a fault names the line as an editor numbers it, and the
 * first bad line in the file is the one reported, whichever check finds it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { parseKeyring } from '../server/cache/hmac-keys.js';
import { ConfigError } from '../server/errors.js';
import { lineEntries } from '../server/file-format.js';
import { parseHtpasswd } from '../server/forward-auth/htpasswd.js';

const faultOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('no fault');
};

describe('file-format: lineEntries (key files, htpasswd)', () => {
  it('numbers lines as an editor does: blank lines, comments and CRLF endings count, and are skipped', () => {
    const text = '# header\r\n\r\n  alice:x  \r\n\t# indented comment\nbob:y:z\n';
    assert.deepEqual(
      [...lineEntries('f', text, ':', 'user:hash')],
      [
        { at: 'line 3', key: 'alice', value: 'x' },
        // Split at the first separator only: base64 padding and hashes keep theirs.
        { at: 'line 5', key: 'bob', value: 'y:z' },
      ],
    );
  });

  it('a line with nothing before the separator is a fault naming the file, the line and the expected shape', () => {
    assert.equal(
      faultOf(() => [...lineEntries('/etc/keys', 'a=b\n=c\n', '=', 'keyid=base64secret')]),
      '/etc/keys: line 2: not keyid=base64secret',
    );
    assert.equal(
      faultOf(() => [...lineEntries('/etc/htpasswd', '\nno-colon\n', ':', 'user:hash')]),
      '/etc/htpasswd: line 2: not user:hash',
    );
  });

  it('the first bad line is reported even when a later line is of the wrong shape', () => {
    const hash = bcrypt.hashSync('s3cret', 4);
    // Line 1 has a cost no one should run; line 3 has no colon. The operator fixes line 1 first.
    const htpasswd = `a:${hash.replace(/^\$2b\$04\$/, '$2b$31$')}\nb:${hash}\nno-colon\n`;
    assert.match(
      faultOf(() => parseHtpasswd('f', htpasswd)),
      /^f: line 1: user "a": bcrypt cost 31/,
    );
    const good = randomBytes(32).toString('base64');
    assert.match(
      faultOf(() => parseKeyring('k', `bad.id=${good}\nnot-a-key-line\n`)),
      /^k: line 1: the key ID/,
    );
  });
});
