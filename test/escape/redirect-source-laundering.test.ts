import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHttpTool, defineTool, type Kernel } from '../../index.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack (a sibling of red-team issue 12, item 9: a policy source must label every observation of what it
 * names): a policy source tags net.http results from the mail server's URLs with `email`, but a result was
 * labelled by the URL the agent asked for, not the one the answer came from. An agent asked a redirector on
 * another origin for a URL that redirects to the mail server, got the mail unlabelled and forwarded it. Every
 * redirect hop now adds the source tags of the resource it reaches: the forward is refused with E_TAINT.
 */
let mail: TestServer;
let redirector: TestServer;
let kernel: Kernel | undefined;
const forwarded: unknown[] = [];

const forward = defineTool({
  name: 'forward',
  description: 'forwards text outside',
  input: z.strictObject({ body: z.unknown() }),
  labels: { sinks: { '*': ['email'] } },
  run: (args) => {
    forwarded.push(args);
    return 'sent';
  },
});

beforeAll(async () => {
  mail = await startTestServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'text/plain' }).end('inbox: merger'),
  );
  redirector = await startTestServer((req, res) => {
    res.writeHead(302, { location: `${mail.origin}${req.url}` }).end();
  });
});
afterAll(async () => {
  await mail.close();
  await redirector.close();
});
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  forwarded.length = 0;
});

function redirectKernel(extraOrigins: readonly string[] = []): Kernel {
  kernel = testKernel({
    tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] }), forward],
    policy: {
      capabilities: [
        ...[mail.origin, redirector.origin, ...extraOrigins].map((origin) => ({
          action: 'net.http',
          resource: `${origin}/**`,
        })),
        { action: 'forward', resource: 'forward' },
      ],
      labels: { sources: [{ tool: 'net.http', resource: `${mail.origin}/**`, tags: ['email'] }] },
    },
  });
  return kernel;
}

const FETCH_AND_FORWARD = `export default async ({ url }) => {
  const { body } = await sys.tool('net.http', { url });
  const label = await sys.label();
  try { await sys.tool('forward', { body }); return [body, label, 'sent']; } catch (e) { return [body, label, e.code]; }
}`;

describe('a policy source reached through a redirect', () => {
  it('mail fetched through a redirector on another origin is labelled email and cannot be forwarded', async () => {
    const k = redirectKernel();
    const result = await k.run({ code: FETCH_AND_FORWARD, input: { url: `${redirector.origin}/inbox` } });
    expect(result).toMatchObject({ ok: true, value: ['inbox: merger', ['email', 'web'], 'E_TAINT'] });
    expect(forwarded).toEqual([]);
  });

  it('benign twin: a page that does not reach the mail server is forwarded', async () => {
    const page = await startTestServer((_req, res) => res.writeHead(200).end('news'));
    try {
      const k = redirectKernel([page.origin]);
      const result = await k.run({ code: FETCH_AND_FORWARD, input: { url: `${page.origin}/today` } });
      expect(result).toMatchObject({ ok: true, value: ['news', ['web'], 'sent'] });
    } finally {
      await page.close();
    }
  });
});
