import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attenuationViolation, type CapabilityScope, isAttenuation } from '../../../runtime/capability/attenuation.js';
import { capabilityAllows } from '../../../runtime/capability/chain.js';
import type { Capability } from '../../../runtime/capability/token.js';
import { parseResource } from '../../../runtime/core/resource-match.js';

const parent: CapabilityScope = {
  action: 'net.http',
  resource: 'https://api.example.com/**',
  constraints: { method: ['GET', 'HEAD'] },
  maxUses: 10,
  expiresAt: 5000,
  notBefore: 1000,
};

describe('isAttenuation', () => {
  it('accepts a narrower child', () => {
    const child = { ...parent, resource: 'https://api.example.com/v1/**', constraints: { method: 'GET' }, maxUses: 3 };
    expect(isAttenuation(parent, child)).toBe(true);
    expect(isAttenuation(parent, parent)).toBe(true);
  });

  it('names what a wider child widens: resource, action, constraints, uses, expiry, not-before', () => {
    expect(attenuationViolation(parent, { ...parent, resource: 'https://api.example.com.evil.com/**' })).toBe(
      'resource',
    );
    expect(attenuationViolation(parent, { ...parent, resource: 'https://evil.com/**' })).toBe('resource');
    expect(attenuationViolation(parent, { ...parent, action: 'proc.exec' })).toBe('action');
    expect(attenuationViolation({ ...parent, action: 'http_get' }, { ...parent, action: 'shell_exec' })).toBe('action');
    expect(attenuationViolation(parent, { ...parent, action: '*' })).toBe('action');
    expect(attenuationViolation(parent, { ...parent, constraints: {} })).toBe('constraints');
    expect(attenuationViolation(parent, { ...parent, constraints: { method: ['GET', 'POST'] } })).toBe('constraints');
    expect(attenuationViolation(parent, { ...parent, maxUses: 11 })).toBe('maxUses');
    const { maxUses: _uses, ...unbounded } = parent;
    expect(attenuationViolation(parent, unbounded)).toBe('maxUses');
    expect(attenuationViolation(parent, { ...parent, expiresAt: 5001 })).toBe('expiresAt');
    const { expiresAt: _expiry, ...forever } = parent;
    expect(attenuationViolation(parent, forever)).toBe('expiresAt');
    expect(attenuationViolation(parent, { ...parent, notBefore: 999 })).toBe('notBefore');
    expect(attenuationViolation(parent, { ...parent, resource: 'not a/../pattern' })).toBe('resource');
  });

  it('property: a child that is an attenuation never allows a request its parent refuses', () => {
    const action = fc.constantFrom('fs.read', 'fs.write', 'fs.*', '*', 'net.http');
    const resource = fc.constantFrom('/w/**', '/w/a/**', '/w/*', '/w/a', '/w/*/b', '/**', '/w/a*', '/x/**');
    const constraints = fc.constantFrom({}, { mode: 'r' }, { mode: ['r', 'w'] }, { mode: 'w' });
    const scope = fc.record({ action, resource, constraints });
    const request = fc.record({
      action: fc.constantFrom('fs.read', 'fs.write', 'net.http'),
      resource: fc.constantFrom('/w/a', '/w/a/b', '/w/ab', '/w/c/b', '/x/y', '/w'),
      params: fc.constantFrom({}, { mode: 'r' }, { mode: 'w' }),
    });
    const asCapability = (s: CapabilityScope) => ({ ...s, constraints: s.constraints ?? {} }) as unknown as Capability;
    fc.assert(
      fc.property(scope, scope, request, (p, c, req) => {
        if (!isAttenuation(p, c)) return;
        const target = parseResource(req.resource)!;
        if (capabilityAllows(asCapability(c), req, target))
          expect(capabilityAllows(asCapability(p), req, target)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
