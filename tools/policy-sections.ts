import type { PolicySection } from '../runtime/policy/policy.js';
import { httpPolicySection } from './http.js';
import { mcpPolicySection } from './mcp.js';
import { modelPolicySection } from './model.js';
import { procPolicySection } from './proc.js';

/** The `tools:` sections of the built-in tools, which the package entry's kernel and `loadPolicy` accept. */
export const BUILTIN_POLICY_SECTIONS: readonly PolicySection[] = Object.freeze([
  procPolicySection,
  httpPolicySection,
  modelPolicySection,
  mcpPolicySection,
]);
