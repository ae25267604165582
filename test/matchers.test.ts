import assert from 'node:assert/strict';
import { matchAllResult, matcherResult, quoteMeta } from '../server/decision/matchers.js';

describe('namespace matchers', () => {
  it('is byte for byte the inner string opa-openshift answers, matcherOp included', () => {
    const r = matcherResult(['test-namespace-1'], { keys: ['kubernetes_namespace_name'], op: 'or' }, { escape: true });
    assert.deepEqual(r, {
      allowed: 'true',
      data: '{"matchers":[{"Type":2,"Name":"kubernetes_namespace_name","Value":"test-namespace-1"}],"matcherOp":"or"}',
    });
  });

  it('leaves matcherOp out when empty and joins namespaces with |', () => {
    const r = matcherResult(['log-test-0', 'log-test-1'], { keys: ['kubernetes_namespace_name'], op: '' }, { escape: true });
    assert.equal(r.data, '{"matchers":[{"Type":2,"Name":"kubernetes_namespace_name","Value":"log-test-0|log-test-1"}]}');
  });

  it('builds one matcher per key, as the network tenant needs', () => {
    const r = matcherResult(['ns1', 'ns2'], { keys: ['SrcK8S_Namespace', 'DstK8S_Namespace'], op: 'or' }, { escape: true });
    assert.equal(
      r.data,
      '{"matchers":[{"Type":2,"Name":"SrcK8S_Namespace","Value":"ns1|ns2"},{"Type":2,"Name":"DstK8S_Namespace","Value":"ns1|ns2"}],"matcherOp":"or"}',
    );
  });

  it('answers allowed "false" with an empty value when no namespace remains', () => {
    const r = matcherResult([], { keys: ['kubernetes_namespace_name'], op: '' }, { escape: true });
    assert.deepEqual(r, { allowed: 'false', data: '{"matchers":[{"Type":2,"Name":"kubernetes_namespace_name","Value":""}]}' });
  });

  it('regex-escapes namespace names so none can widen the match', () => {
    const r = matcherResult(['a.b', 'c|d', 'e*'], { keys: ['ns'], op: '' }, { escape: true });
    const value = (JSON.parse(r.data) as { matchers: Array<{ Value: string }> }).matchers[0]!.Value;
    assert.equal(value, 'a\\.b|c\\|d|e\\*');
    const re = new RegExp(`^(?:${value})$`);
    assert.ok(re.test('a.b') && re.test('c|d') && re.test('e*'));
    assert.ok(!re.test('axb') && !re.test('c') && !re.test('eee'));
  });

  it('can leave names unescaped, as opa-openshift does', () => {
    const r = matcherResult(['a.b'], { keys: ['ns'], op: '' }, { escape: false });
    assert.equal((JSON.parse(r.data) as { matchers: Array<{ Value: string }> }).matchers[0]!.Value, 'a.b');
  });

  it('quoteMeta escapes what Go regexp.QuoteMeta escapes', () => {
    assert.equal(quoteMeta('\\.+*?()|[]{}^$-_a1'), '\\\\\\.\\+\\*\\?\\(\\)\\|\\[\\]\\{\\}\\^\\$-_a1');
  });

  it('writes the data string with Go escaping of <, > and &', () => {
    const r = matcherResult(['x'], { keys: ['a<b>&c'], op: '' }, { escape: true });
    assert.equal(r.data, '{"matchers":[{"Type":2,"Name":"a\\u003cb\\u003e\\u0026c","Value":"x"}]}');
  });

  it('match-all matches any non-empty namespace', () => {
    const r = matchAllResult({ keys: ['kubernetes_namespace_name'], op: '' });
    assert.equal(r.allowed, 'true');
    const value = (JSON.parse(r.data) as { matchers: Array<{ Value: string }> }).matchers[0]!.Value;
    assert.ok(new RegExp(`^(?:${value})$`).test('any-namespace'));
    assert.ok(!new RegExp(`^(?:${value})$`).test(''));
  });
});
