// Entry of the delay proxy's child process (startDelayProxy in delay-proxy.js): argv[2] is the options as JSON.
// Tells the parent its host over IPC, answers { type: 'stats', id } with its counters and its own CPU seconds, and
// exits on SIGTERM or when the parent goes away (the IPC channel closes).
import { serveDelayProxy } from './delay-proxy.js';

const proxy = await serveDelayProxy(JSON.parse(process.argv[2] ?? '{}'));
const send = (/** @type {unknown} */ m) => process.send?.(m);
send({ type: 'listening', host: proxy.host });
process.on('message', (/** @type {any} */ m) => {
  if (m?.type !== 'stats') return;
  const cpu = process.cpuUsage();
  send({ type: 'stats', id: m.id, stats: { ...proxy.stats(), cpuSeconds: (cpu.user + cpu.system) / 1e6 } });
});
const quit = () => void proxy.stop().finally(() => process.exit(0));
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
process.on('disconnect', quit);
