import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CapabilityAuthority } from '../../../runtime/capability/authority.js';
import { SigningKey } from '../../../runtime/capability/signing-key.js';
import { grantPolicy } from '../../../runtime/policy/grant-policy.js';
import { formatDuration, loadPolicy, loadPolicyText, PolicyError } from '../../../runtime/policy/policy.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/policy.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'isokernel-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function issuesOf(text: string): PolicyError['issues'] {
  try {
    loadPolicyText(text, 'p.yaml');
  } catch (error) {
    if (error instanceof PolicyError) return error.issues;
    throw error;
  }
  throw new Error('policy unexpectedly loaded');
}

describe('policy files', () => {
  it('loads the example file', () => {
    const policy = loadPolicy(EXAMPLE);
    expect(policy.capabilities.map((rule) => [rule.action, rule.resource])).toEqual([
      ['fs.read', '/workspace/**'],
      ['fs.write', '/workspace/output/**'],
      ['proc.exec', 'git'],
      ['net.http', 'https://api.example.com/**'],
      ['mcp.call', 'scholar/search'],
    ]);
    expect(policy.capabilities[1]?.maxUses).toBe(100);
    expect(policy.capabilities[3]).toMatchObject({ constraint: { method: 'GET' }, expiresInMs: 600_000 });
    expect(policy.budget).toMatchObject({ cpu_ms: 5000, cost_usd: 0.5, warn_at: 0.8 });
    expect(policy.labels?.sinks[0]).toEqual({ tool: 'net.http', arg: '*', deny: ['secret'] });
  });

  it('loads the agent_os_kernel format unchanged', () => {
    const policy = loadPolicyText(
      [
        'capabilities:',
        '  - action: fs.read',
        '    resource: /workspace/**',
        '  - action: fs.write',
        '    resource: /workspace/output/**',
        '  - action: proc.exec',
        '    resource: git',
        '  - action: mcp.call',
        '    resource: my_server/**',
        '  - action: net.http',
        '    resource: https://api.example.com/**',
        '    constraint:',
        '      method: GET',
        '  - action: net.http',
        '    resource: https://api.example.com/v2/**',
        '    constraint: {method: GET}',
        '',
      ].join('\n'),
      'agent_os.yaml',
    );
    expect(policy.capabilities).toHaveLength(6);
    expect(policy.capabilities[5]?.constraint).toEqual({ method: 'GET' });
    expect(policy.capabilities[0]?.constraint).toEqual({});
  });

  it('reads expires_in as units or seconds', () => {
    const rules = ['"500ms"', '30s', '10m', '1h', '2d', '90', '1.5'].map(
      (value) => `  - action: fs.read\n    resource: /w/**\n    expires_in: ${value}\n`,
    );
    const policy = loadPolicyText(`capabilities:\n${rules.join('')}`, 'p.yaml');
    expect(policy.capabilities.map((rule) => rule.expiresInMs)).toEqual([
      500, 30_000, 600_000, 3_600_000, 172_800_000, 90_000, 1500,
    ]);
    expect(formatDuration(600_000)).toBe('10m');
    expect(formatDuration(1500)).toBe('1500ms');
  });

  it('errors carry file:line:col of the offending node', () => {
    const text = [
      'capabilities:', // 1
      '  - action: fs.read', // 2
      '    resource: /workspace/../secret', // 3
      '  - action: net.http', // 4
      '    resource: https://api.example.com/**', // 5
      '    constrain: {method: GET}', // 6
      '  - action: fs write', // 7
      '    resource: /w/**', // 8
      '    max_uses: 0', // 9
      '    expires_in: soon', // 10
      'budget:', // 11
      '  cpu_ms: -1', // 12
      '  gpus: 2', // 13
      '',
    ].join('\n');
    const issues = issuesOf(text);
    const at = (path: string) => issues.find((issue) => issue.path === path);
    expect(at('capabilities[0].resource')).toMatchObject({ file: 'p.yaml', line: 3, col: 15 });
    expect(at('capabilities[1].constrain')).toMatchObject({ line: 6, col: 5 });
    expect(at('capabilities[2].action')).toMatchObject({ line: 7, col: 13 });
    expect(at('capabilities[2].max_uses')).toMatchObject({ line: 9, col: 15 });
    expect(at('capabilities[2].expires_in')).toMatchObject({ line: 10, col: 17 });
    expect(at('budget.cpu_ms')).toMatchObject({ line: 12, col: 11 });
    expect(at('budget.gpus')).toMatchObject({ line: 13, col: 3 });
    try {
      loadPolicyText(text, 'p.yaml');
    } catch (error) {
      expect(String((error as Error).message)).toMatch(/^p\.yaml:3:15: capabilities\[0\]\.resource: /m);
    }
  });

  it('refuses YAML problems, unknown top-level keys, a missing capabilities list and bad constraints', () => {
    expect(issuesOf('capabilities: [\n')[0]).toMatchObject({ file: 'p.yaml', line: 2 });
    expect(issuesOf('capabilities: []\ncapabilities: []\n')[0]).toMatchObject({ line: 2, col: 1 });
    expect(issuesOf('capabilities: []\n---\ncapabilities: []\n')).not.toHaveLength(0);
    expect(issuesOf('capabilities: []\nrules: []\n')[0]).toMatchObject({ path: 'rules', line: 2, col: 1 });
    expect(issuesOf('budget: {}\n')[0]).toMatchObject({ path: 'capabilities', line: 1, col: 1 });
    expect(issuesOf('- a\n- b\n')[0]).toMatchObject({ line: 1 });
    expect(
      issuesOf('capabilities:\n  - action: fs.read\n    resource: /w/**\n    constraint: {Bad Name: 1}\n')[0],
    ).toMatchObject({
      line: 4,
    });
    expect(
      issuesOf('capabilities:\n  - action: fs.read\n    resource: /w/**\n    constraint: {"__proto__": {m: 1}}\n'),
    ).not.toHaveLength(0);
    expect(
      issuesOf('labels:\n  sinks:\n    - tool: net.http\n      arg: body\n      deny: []\ncapabilities: []\n')[0],
    ).toMatchObject({ path: 'labels.sinks[0].deny', line: 5 });
    expect(issuesOf('capabilities: []\nbudget:\n  warn_at: 1.5\n')[0]).toMatchObject({
      path: 'budget.warn_at',
      line: 3,
    });
  });

  it('loadPolicy validates objects too, and reports unreadable files', () => {
    expect(loadPolicy({ capabilities: [{ action: 'fs.read', resource: '/w/**' }] }).capabilities).toHaveLength(1);
    expect(() => loadPolicy({ capabilities: [{ action: 'fs.read', resource: '/w/../x' }] })).toThrow(PolicyError);
    expect(() => loadPolicy(join(dir, 'missing.yaml'))).toThrow(/missing\.yaml: policy file cannot be read/);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(1024 * 1024)}\ncapabilities: []\n`);
    expect(() => loadPolicy(big)).toThrow(/larger than/);
    expect(() => loadPolicy(42 as unknown as string)).toThrow(TypeError);
  });

  it('grants a policy through the authority, with expires_in counted from now', () => {
    const now = 1_700_000_000_000;
    const authority = new CapabilityAuthority({ rootKey: SigningKey.generate(), now: () => now });
    const agent = SigningKey.generate();
    const caps = grantPolicy(authority, loadPolicy(EXAMPLE), agent.publicKey);
    expect(caps).toHaveLength(5);
    expect(caps[3]).toMatchObject({ action: 'net.http', constraints: { method: 'GET' }, expiresAt: now + 600_000 });
    expect(caps[1]?.maxUses).toBe(100);
    const holder = Buffer.from(agent.publicKey).toString('base64url');
    const http = { holder, action: 'net.http', resource: 'https://api.example.com/v1/items' };
    expect(authority.authorize({ ...http, defaults: { method: 'GET' } }).ok).toBe(true);
    expect(authority.authorize({ ...http, params: { method: 'DELETE' } })).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(authority.authorize({ holder, action: 'proc.exec', resource: 'git' }).ok).toBe(true);
    expect(authority.authorize({ holder, action: 'proc.exec', resource: 'rm' })).toMatchObject({
      code: 'E_CAP_DENIED',
    });
  });
});
