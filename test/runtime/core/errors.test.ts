import { describe, expect, it } from 'vitest';
import { ERROR_CODES, isErrorCode, isRefusal, KernelError, toErrorInfo } from '../../../runtime/core/errors.js';

describe('error codes', () => {
  it('a refusal is the kernel deciding not to act; a failure is an effect that ran, or an end', () => {
    const refusals = ERROR_CODES.filter(isRefusal);
    expect(refusals).toEqual([
      'E_CAP_DENIED',
      'E_CAP_EXPIRED',
      'E_CAP_EXHAUSTED',
      'E_CAP_REVOKED',
      'E_ESCALATION',
      'E_TAINT',
      'E_QUOTA',
      'E_BAD_ARG',
      'E_NO_TOOL',
      'E_BAD_CODE',
      'E_NOT_FOUND',
    ]);
    for (const code of ['E_TOOL_FAILED', 'E_KILLED', 'E_AGENT_FAILED', 'E_INTERNAL', 'E_CRASHED', 'E_BAD_SNAPSHOT']) {
      expect(isRefusal(code)).toBe(false);
    }
    expect(isRefusal('E_NOPE')).toBe(false);
    expect(isRefusal('__proto__')).toBe(false);
  });

  it('recognizes its own codes only, and reports anything else thrown as E_INTERNAL without its text', () => {
    expect(isErrorCode('E_TAINT')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
    expect(toErrorInfo(new KernelError('E_TAINT', 'refused'))).toEqual({ code: 'E_TAINT', message: 'refused' });
    expect(toErrorInfo(new Error('/home/secret/path'))).toEqual({
      code: 'E_INTERNAL',
      message: expect.not.stringContaining('/home'),
    });
  });
});
