import { describe, expect, it } from 'vitest';
import { decodeOutcome } from '../../isolates/main-outcome.js';

const CAP = 1024 * 1024;

describe('decodeOutcome', () => {
  it('decodes the guest outcome and refuses malformed ones', () => {
    expect(decodeOutcome('v', CAP)).toEqual({ kind: 'value', value: undefined });
    expect(decodeOutcome('v[1,2]', CAP)).toEqual({ kind: 'value', value: [1, 2] });
    expect(decodeOutcome('e"boom"', CAP)).toEqual({ kind: 'thrown', message: 'boom' });
    expect(decodeOutcome('b', CAP)).toEqual({ kind: 'no-main' });
    expect(decodeOutcome('x', CAP)).toEqual({ kind: 'malformed' });
    expect(decodeOutcome('e{}', CAP)).toEqual({ kind: 'malformed' });
    expect(decodeOutcome(42, CAP)).toEqual({ kind: 'malformed' });
    expect(decodeOutcome(`v${JSON.stringify('x'.repeat(2000))}`, 1024)).toMatchObject({ code: 'E_AGENT_FAILED' });
  });
});
