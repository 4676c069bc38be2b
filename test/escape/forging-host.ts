// A compromised sandbox host, for forged-host-messages.test.ts: it speaks the kernel's frame protocol but,
// for each agent it is given, sends whatever the agent's "code" names instead of running it.
import { Socket } from 'node:net';
import { encodeFrame, FrameReader } from '../../isolates/host-protocol.js';
import { HOARD_CALLS, HOARD_VALUE_CHARS, LATE_FLOOD_CALLS, READY_STEP_MB, READY_STEPS } from './forging-host-plan.js';

const channel = new Socket({ fd: 3, readable: true, writable: true });
const send = (fields: string[]) => channel.write(encodeFrame(fields));
const pending = new Map<string, (reply: string) => void>();
/** Replies awaited by call, keyed `agent:call`. */
const calls = new Map<string, (reply: string) => void>();
/** Agents whose kill this host confirms at once. */
const confirmable = new Set<string>();
let nextCall = 1;
const syscall = (agent: string, name: string, args: unknown[], then: (reply: string) => void) => {
  const call = String(nextCall++);
  calls.set(`${agent}:${call}`, then);
  send(['sys', agent, call, name, JSON.stringify(args)]);
};
// A reply in the wire's value form carrying a string (a spawned child's id).
const idOf = (reply: string): string => JSON.parse(reply.slice(1)) as string;
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
  // A host that asks for large replies and stops reading them: the kernel must not buffer replies without
  // bound for a peer that does not drain them (reply-hoarding-host.test.ts).
  'reply hoarding': (agent) => {
    // The gets go out only once the put is answered: sent together, they raced it, and gets that beat the put
    // read nothing, so their small replies never filled memory_mb (the run then ended on its wall limit).
    pending.set(agent, () => {
      pending.delete(agent);
      channel.pause();
      // A paused socket keeps nothing alive; the host stays up, holding its replies unread.
      setInterval(() => {}, 1000);
      for (let call = 2; call < 2 + HOARD_CALLS; call++) send(['sys', agent, String(call), 'mem.get', '["k",null]']);
    });
    send(['sys', agent, '1', 'mem.put', JSON.stringify(['k', 'x'.repeat(HOARD_VALUE_CHARS), null])]);
  },
  // The agent ends cleanly, then the host keeps sending syscalls in its name: each would be refused and
  // audited for ever (late-syscall-flood.test.ts). Paced from the main thread, like a host that means it.
  'late syscall flood': (agent) => {
    send(['result', agent, 'v1', '1', '1', '0']);
    let call = 1;
    const batch = () => {
      for (const end = call + 250; call < end && call <= LATE_FLOOD_CALLS; call++) {
        send(['sys', agent, String(call), 'log', '["late"]']);
      }
      if (call <= LATE_FLOOD_CALLS) setTimeout(batch, 5);
    };
    setTimeout(batch, 100);
  },
  // An agent whose host does nothing for it: it keeps its run (and so its host) up until its limits end it.
  sleeper: () => {},
  // The host grows, then announces `ready` again so that its memory bound is measured from its new size
  // (rss-bound-evasion.test.ts). An honest host says `ready` once.
  'replayed ready': (agent) => {
    const held: Buffer[] = [];
    let step = 0;
    const grow = () => {
      if (step++ === READY_STEPS) {
        send(['result', agent, `v${JSON.stringify(`survived with ${held.length * READY_STEP_MB} MB`)}`, '1', '1', '0']);
        return;
      }
      held.push(Buffer.alloc(READY_STEP_MB * 1024 * 1024, step));
      send(['ready', String(process.pid)]);
      setTimeout(grow, 150);
    };
    grow();
  },
  // The host withholds the confirmation of one child's kill while it spawns, kills and promptly confirms another
  // child every 20 ms: no confirmation may move the withheld kill's deadline (withheld-kill.test.ts).
  'withheld kill': (agent) => {
    syscall(agent, 'spawn', [{ code: 'sleeper' }], (reply) => {
      syscall(agent, 'kill', [idOf(reply)], () => {
        const churn = () =>
          syscall(agent, 'spawn', [{ code: 'sleeper' }], (spawned) => {
            const child = idOf(spawned);
            confirmable.add(child);
            syscall(agent, 'kill', [child], () => setTimeout(churn, 20));
          });
        churn();
      });
    });
  },
  // As above, but the withheld kill comes after 150 kills confirmed at once: they must not lengthen its deadline.
  'withheld kill late': (agent) => {
    let confirmed = 0;
    const churn = (then: () => void) =>
      syscall(agent, 'spawn', [{ code: 'sleeper' }], (spawned) => {
        const child = idOf(spawned);
        confirmable.add(child);
        syscall(agent, 'kill', [child], () => (++confirmed < 150 ? churn(then) : then()));
      });
    churn(() => {
      syscall(agent, 'spawn', [{ code: 'sleeper' }], (reply) => {
        send(['sys', agent, String(nextCall++), 'log', JSON.stringify(['withheld'])]);
        syscall(agent, 'kill', [idOf(reply)], () => {});
      });
    });
  },
  // A value spelled otherwise than the guest's encoder writes it (forged-payload-spelling.test.ts): a key written
  // twice, which JSON.parse sizes an object's elements for. The host reports the kernel's reply as its result.
  'respelled payload': (agent) => {
    pending.set(agent, (reply) => send(['result', agent, `v${JSON.stringify(reply)}`, '1', '1', '0']));
    send(['sys', agent, '7', 'tool', '["record",{"2302":0,"2302":1},null]']);
  },
  // The same for the agent's result, which waits for `join` held at its estimated size.
  'respelled result': (agent) => send(['result', agent, 'v{"2302":0,"2302":1}', '1', '1', '0']),
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
    if (type === 'reply') {
      const then = calls.get(`${agent}:${a}`);
      calls.delete(`${agent}:${a}`);
      if (then !== undefined) then(b);
      else pending.get(agent)?.(b);
    }
    if (type === 'kill' && confirmable.has(agent)) send(['result', agent, 'e["E_KILLED","killed"]', '0', '0', '0']);
  },
  () => process.kill(process.pid, 'SIGKILL'),
);
channel.on('data', (chunk: Buffer) => reader.push(chunk));
