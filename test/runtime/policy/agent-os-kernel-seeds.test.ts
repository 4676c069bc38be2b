/**
 * agent_os_kernel's policy files load unchanged and mean what they say there. The files in
 * test/fixtures/agent_os_kernel/ are copied byte for byte from that project (see SOURCE.md), and the decisions
 * below are ported one by one from its tests/test_policy.py (class and test names kept in the titles), then
 * extended to every rule of its four policy files. A decision is a capability check: the policy's rules are
 * granted to a holder by a real authority, exactly as the kernel grants them to a top agent, and the request is
 * authorized against them.
 *
 * Where isokernel deliberately differs from Python's fnmatch, the test says so: a name pattern `*` stays within
 * one `/` segment and never matches a URL or a path (the seed's `CapabilityRule(resource="*")` unit test is
 * ported with the URL pattern that says the same thing), and requests are normalized before matching.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy, type Policy, PolicyError } from '../../../index.js';
import { CapabilityAuthority } from '../../../runtime/capability/authority.js';
import { SigningKey } from '../../../runtime/capability/signing-key.js';
import { encodePublicKey } from '../../../runtime/core/public-key.js';
import { grantPolicy } from '../../../runtime/policy/grant-policy.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'agent_os_kernel');
const fixture = (name: string): string => join(FIXTURES, name);

interface Request {
  readonly action: string;
  readonly target: string;
  readonly params?: Readonly<Record<string, unknown>>;
}

/** `Policy.is_allowed` of the seed: grant every rule to a fresh holder, then authorize the request. */
function decider(policy: Policy): (request: Request) => boolean {
  const authority = new CapabilityAuthority({ rootKey: SigningKey.generate() });
  const holder = encodePublicKey(SigningKey.generate().publicKey);
  grantPolicy(authority, policy, holder);
  return ({ action, target, params }) =>
    authority.authorize({ holder, action, resource: target, ...(params === undefined ? {} : { params }) }).ok;
}

const rule = (action: string, resource: string, constraint?: Record<string, unknown>) => ({
  action,
  resource,
  ...(constraint === undefined ? {} : { constraint }),
});
const allowedBy = (...rules: ReturnType<typeof rule>[]) => decider(loadPolicy({ capabilities: rules }));

describe('the four seed files load unchanged', () => {
  it.each([
    ['example_policy.yaml', 5],
    ['permissive_policy.yaml', 9],
    ['restrictive_policy.yaml', 1],
    ['test_policy.yaml', 6],
  ])('%s loads with %i rules, in order, resources as written', (name, count) => {
    const policy = loadPolicy(fixture(name));
    expect(policy.capabilities).toHaveLength(count);
    // Every resource exactly as the file wrote it (nothing rewritten on load).
    const text = readFileSync(fixture(name), 'utf8');
    for (const { resource } of policy.capabilities)
      expect(text).toContain(`resource: ${resource}`.replace('*/search', '"*/search"'));
  });
});

describe('TestCapabilityRule (ported)', () => {
  it('test_action_matches_exact', () => {
    const allowed = allowedBy(rule('fs.read', '/workspace/**'));
    expect(allowed({ action: 'fs.read', target: '/workspace/a' })).toBe(true);
    expect(allowed({ action: 'fs.write', target: '/workspace/a' })).toBe(false);
  });

  it('test_resource_matches_glob', () => {
    const allowed = allowedBy(rule('fs.read', '/workspace/**'));
    expect(allowed({ action: 'fs.read', target: '/workspace/data.csv' })).toBe(true);
    expect(allowed({ action: 'fs.read', target: '/workspace/sub/deep/file.txt' })).toBe(true);
    expect(allowed({ action: 'fs.read', target: '/etc/passwd' })).toBe(false);
  });

  it('test_resource_matches_exact', () => {
    const allowed = allowedBy(rule('proc.exec', 'git'));
    expect(allowed({ action: 'proc.exec', target: 'git' })).toBe(true);
    expect(allowed({ action: 'proc.exec', target: 'rm' })).toBe(false);
  });

  it('test_constraint_matches_no_constraint', () => {
    expect(allowedBy(rule('fs.read', '/workspace/**'))({ action: 'fs.read', target: '/workspace/data.csv' })).toBe(
      true,
    );
  });

  const getOnly = () => allowedBy(rule('net.http', 'https://api.example.com/**', { method: 'GET' }));

  it('test_constraint_matches_with_matching_param', () => {
    const request = { action: 'net.http', target: 'https://api.example.com/data', params: { method: 'GET' } };
    expect(getOnly()(request)).toBe(true);
  });

  it('test_constraint_rejects_mismatched_param', () => {
    const request = { action: 'net.http', target: 'https://api.example.com/data', params: { method: 'POST' } };
    expect(getOnly()(request)).toBe(false);
  });

  it('test_constraint_rejects_missing_param (no tool default supplies it)', () => {
    expect(getOnly()({ action: 'net.http', target: 'https://api.example.com/data', params: {} })).toBe(false);
  });

  it('test_constraint_multiple_keys (resource `*` there: any target; here the URL pattern `http://**`)', () => {
    const allowed = allowedBy(rule('net.http', 'http://**', { method: 'GET', timeout: 30 }));
    expect(allowed({ action: 'net.http', target: 'http://x/', params: { method: 'GET', timeout: 30 } })).toBe(true);
    expect(allowed({ action: 'net.http', target: 'http://x/', params: { method: 'GET', timeout: 60 } })).toBe(false);
    // The divergence, stated: a name pattern `*` is one name segment, never a URL or a path.
    const star = allowedBy(rule('net.http', '*', { method: 'GET', timeout: 30 }));
    expect(star({ action: 'net.http', target: 'http://x/', params: { method: 'GET', timeout: 30 } })).toBe(false);
  });
});

describe('TestPolicy (ported)', () => {
  it('test_default_deny_empty_policy', () => {
    expect(allowedBy()({ action: 'fs.read', target: '/workspace/data.csv' })).toBe(false);
  });

  it('test_allows_matching_rule / test_denies_non_matching_action / test_denies_non_matching_resource', () => {
    const allowed = allowedBy(rule('fs.read', '/workspace/**'));
    expect(allowed({ action: 'fs.read', target: '/workspace/data.csv' })).toBe(true);
    expect(allowed({ action: 'fs.write', target: '/workspace/data.csv' })).toBe(false);
    expect(allowed({ action: 'fs.read', target: '/etc/passwd' })).toBe(false);
  });

  it('test_denies_when_constraint_fails / test_allows_when_constraint_passes', () => {
    const allowed = allowedBy(rule('net.http', 'https://api.example.com/**', { method: 'GET' }));
    const data = 'https://api.example.com/data';
    expect(allowed({ action: 'net.http', target: data, params: { method: 'POST' } })).toBe(false);
    expect(allowed({ action: 'net.http', target: data, params: { method: 'GET' } })).toBe(true);
  });

  it('test_multiple_rules_first_match_wins', () => {
    const allowed = allowedBy(rule('fs.read', '/workspace/**'), rule('fs.write', '/workspace/output/**'));
    expect(allowed({ action: 'fs.read', target: '/workspace/foo' })).toBe(true);
    expect(allowed({ action: 'fs.write', target: '/workspace/output/bar' })).toBe(true);
    expect(allowed({ action: 'fs.write', target: '/workspace/foo' })).toBe(false);
  });
});

describe('TestLoadPolicy (ported, on the real fixture)', () => {
  const fromFixture = () => decider(loadPolicy(fixture('test_policy.yaml')));

  it('test_load_fixture_policy', () => {
    expect(loadPolicy(fixture('test_policy.yaml')).capabilities).toHaveLength(6);
  });

  it('test_fixture_fs_read_allowed / test_fixture_fs_write_outside_output_denied', () => {
    const allowed = fromFixture();
    expect(allowed({ action: 'fs.read', target: '/workspace/data.csv' })).toBe(true);
    expect(allowed({ action: 'fs.write', target: '/workspace/data.csv' })).toBe(false);
  });

  it('test_fixture_proc_exec_git_allowed / test_fixture_proc_exec_rm_denied', () => {
    const allowed = fromFixture();
    expect(allowed({ action: 'proc.exec', target: 'git' })).toBe(true);
    expect(allowed({ action: 'proc.exec', target: 'rm' })).toBe(false);
  });

  it('test_fixture_net_http_get_allowed / test_fixture_net_http_post_denied', () => {
    const allowed = fromFixture();
    const data = 'https://api.example.com/data';
    expect(allowed({ action: 'net.http', target: data, params: { method: 'GET' } })).toBe(true);
    expect(allowed({ action: 'net.http', target: data, params: { method: 'POST' } })).toBe(false);
  });

  describe('malformed files', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'isokernel-seed-policy-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    const load = async (name: string, text: string): Promise<PolicyError> => {
      await writeFile(join(dir, name), text);
      try {
        loadPolicy(join(dir, name));
      } catch (error) {
        if (error instanceof PolicyError) return error;
        throw error;
      }
      throw new Error('expected a PolicyError');
    };

    it('test_load_missing_file_raises', () => {
      expect(() => loadPolicy(join(dir, 'nonexistent.yaml'))).toThrow(PolicyError);
      expect(() => loadPolicy(join(dir, 'nonexistent.yaml'))).toThrow(/cannot be read/);
    });

    it('test_load_malformed_no_capabilities_key', async () => {
      const error = await load('bad.yaml', 'rules:\n  - action: fs.read\n    resource: /workspace/**\n');
      expect(error.issues.map((issue) => issue.path)).toContain('capabilities');
    });

    it('test_load_malformed_missing_action_key / test_load_malformed_missing_resource_key', async () => {
      const noAction = await load('a.yaml', 'capabilities:\n  - resource: /workspace/**\n');
      expect(noAction.issues.map((issue) => issue.path)).toEqual(['capabilities[0].action']);
      expect(noAction.message).toMatch(/a\.yaml:2:\d+: capabilities\[0\]\.action/);
      const noResource = await load('r.yaml', 'capabilities:\n  - action: fs.read\n');
      expect(noResource.issues.map((issue) => issue.path)).toEqual(['capabilities[0].resource']);
    });

    it('test_load_empty_capabilities / test_load_policy_with_constraint / test_load_policy_accepts_path_object', async () => {
      await writeFile(join(dir, 'empty.yaml'), 'capabilities: []\n');
      expect(loadPolicy(join(dir, 'empty.yaml')).capabilities).toHaveLength(0);
      await writeFile(
        join(dir, 'constrained.yaml'),
        'capabilities:\n  - action: net.http\n    resource: https://api.example.com/**\n    constraint:\n      method: GET\n',
      );
      expect(loadPolicy(join(dir, 'constrained.yaml')).capabilities[0]!.constraint).toEqual({ method: 'GET' });
      await writeFile(join(dir, 'p.yaml'), 'capabilities:\n  - action: fs.read\n    resource: /**\n');
      expect(loadPolicy(join(dir, 'p.yaml')).capabilities).toHaveLength(1);
    });
  });
});

describe('every rule of every seed file, decision by decision', () => {
  it('example_policy.yaml: read the workspace, write and delete output only, git, GET on the example API', () => {
    const allowed = decider(loadPolicy(fixture('example_policy.yaml')));
    const get = { method: 'GET' };
    for (const [request, expected] of [
      [{ action: 'fs.read', target: '/workspace/data.csv' }, true],
      [{ action: 'fs.read', target: '/workspace/a/b/.env' }, true],
      [{ action: 'fs.read', target: '/workspace' }, false],
      [{ action: 'fs.read', target: '/etc/passwd' }, false],
      [{ action: 'fs.read', target: '/workspace/../etc/passwd' }, false],
      [{ action: 'fs.write', target: '/workspace/output/report.md' }, true],
      [{ action: 'fs.write', target: '/workspace/data.csv' }, false],
      [{ action: 'fs.delete', target: '/workspace/output/old.md' }, true],
      [{ action: 'fs.delete', target: '/workspace/data.csv' }, false],
      [{ action: 'proc.exec', target: 'git' }, true],
      [{ action: 'proc.exec', target: 'python' }, false],
      [{ action: 'net.http', target: 'https://api.example.com/v1/x', params: get }, true],
      [{ action: 'net.http', target: 'https://api.example.com/v1/x', params: { method: 'DELETE' } }, false],
      [{ action: 'net.http', target: 'https://evil.example.com/', params: get }, false],
      [{ action: 'net.http', target: 'http://api.example.com/v1/x', params: get }, false],
      [{ action: 'mcp.call', target: 'scholar/search' }, false],
    ] as const) {
      expect(allowed(request), JSON.stringify(request)).toBe(expected);
    }
  });

  it('permissive_policy.yaml: the workspace, git/python/pip/uv, any HTTPS endpoint, `*/search` over MCP', () => {
    const allowed = decider(loadPolicy(fixture('permissive_policy.yaml')));
    for (const [request, expected] of [
      [{ action: 'fs.read', target: '/workspace/a' }, true],
      [{ action: 'fs.write', target: '/workspace/a/b' }, true],
      [{ action: 'fs.delete', target: '/workspace/a' }, true],
      [{ action: 'fs.write', target: '/etc/cron.d/x' }, false],
      ...['git', 'python', 'pip', 'uv'].map((program) => [{ action: 'proc.exec', target: program }, true] as const),
      [{ action: 'proc.exec', target: 'sh' }, false],
      [{ action: 'net.http', target: 'https://api.openai.com/v1/chat' }, true],
      [{ action: 'net.http', target: 'https://pypi.org/simple/' }, true],
      [{ action: 'net.http', target: 'https://127.0.0.1/' }, true],
      [{ action: 'net.http', target: 'http://pypi.org/simple/' }, false],
      [{ action: 'net.http', target: 'https://pypi.org:8443/' }, false],
      [{ action: 'net.http', target: 'wss://pypi.org/' }, false],
      [{ action: 'net.http', target: 'https://user@pypi.org/' }, false],
      [{ action: 'mcp.call', target: 'scholar/search' }, true],
      [{ action: 'mcp.call', target: 'web/search' }, true],
      [{ action: 'mcp.call', target: 'scholar/fetch' }, false],
    ] as const) {
      expect(allowed(request), JSON.stringify(request)).toBe(expected);
    }
  });

  it('restrictive_policy.yaml: read-only workspace, no network, no processes', () => {
    const allowed = decider(loadPolicy(fixture('restrictive_policy.yaml')));
    expect(allowed({ action: 'fs.read', target: '/workspace/a' })).toBe(true);
    for (const request of [
      { action: 'fs.write', target: '/workspace/a' },
      { action: 'fs.delete', target: '/workspace/a' },
      { action: 'proc.exec', target: 'git' },
      { action: 'net.http', target: 'https://api.example.com/' },
      { action: 'mcp.call', target: 'scholar/search' },
    ]) {
      expect(allowed(request), JSON.stringify(request)).toBe(false);
    }
  });

  it('test_policy.yaml: its MCP rule names exactly one server tool', () => {
    const allowed = decider(loadPolicy(fixture('test_policy.yaml')));
    expect(allowed({ action: 'mcp.call', target: 'scholar/search' })).toBe(true);
    expect(allowed({ action: 'mcp.call', target: 'scholar/fetch' })).toBe(false);
    expect(allowed({ action: 'fs.delete', target: '/workspace/output/x' })).toBe(true);
  });
});
