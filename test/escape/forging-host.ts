// A compromised sandbox host, for forged-host-messages.test.ts: it speaks the kernel's frame protocol but,
// for each agent it is given, sends whatever the agent's "code" names instead of running it.
import { Socket } from 'node:net';
import { encodeFrame, FrameReader } from '../../isolates/host-protocol.js';

const channel = new Socket({ fd: 3, readable: true, writable: true });
const send = (fields: string[]) => channel.write(encodeFrame(fields));
const pending = new Map<string, (reply: string) => void>();
channel.on('close', () => process.kill(process.pid, 'SIGKILL'));

const tool = (args: unknown) => JSON.stringify(['record', args, null]);

const FORGERIES: Record<string, (agent: string) => void> = {
  // A syscall in the name of an agent this host was never given.
  'another agent': (agent) => send(['sys', `${agent.slice(0, -4)}ffff`, '1', 'tool', tool({ forged: 'agent' })]),
  // A frame whose header is shorter than any body.
  'malformed frame': () => channel.write(Buffer.from([0, 0, 0, 1, 0])),
  // A frame announcing more than the kernel accepts (it must not wait to buffer it).
  'oversized frame': () => channel.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 1])),
  // A string past the cap inside an otherwise well-formed frame.
  'oversized string': (agent) => send(['sys', agent, '1', 'tool', tool({ forged: 'x'.repeat(3 * 1024 * 1024) })]),
  // A call id that is not a number.
  'malformed call id': (agent) => send(['sys', agent, 'one', 'tool', tool({ forged: 'call' })]),
  // An outcome with a code no host may report.
  'forged outcome code': (agent) => send(['result', agent, 'e["E_CAP_DENIED","forged"]', '0', '0', '0']),
  // A frame type the protocol does not have.
  'unknown frame type': (agent) => send(['grant', agent, 'net.http', '**']),
  // An honest agent: one tool call of its own, then its result.
  honest: (agent) => {
    pending.set(agent, (reply) => send(['result', agent, reply, '1', '1', '0']));
    send(['sys', agent, '7', 'tool', tool({ honest: true })]);
  },
};

const reader = new FrameReader(
  64 * 1024 * 1024,
  ([type, agent = '', a = '', b = '']) => {
    if (type === 'init') send(['ready', String(process.pid)]);
    if (type === 'start') FORGERIES[a]?.(agent);
    if (type === 'reply') pending.get(agent)?.(b);
  },
  () => process.kill(process.pid, 'SIGKILL'),
);
channel.on('data', (chunk: Buffer) => reader.push(chunk));
