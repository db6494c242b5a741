import { readFileSync } from 'node:fs';

const CLOCK_TICKS = 100;

/** CPU seconds the whole machine has spent busy (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** This process plus its children that have exited (wrk runs end within the phase, so they count here). */
function selfAndReapedSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return (f[11]! + f[12]! + f[13]! + f[14]!) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * CPU used by processes that are not part of the benchmark during a phase, in cores: the machine is
 * shared, and a phase during which others took a core is not comparable to one during which they did not.
 * `ours` reads the CPU seconds of the benchmark's still-running children (servers, redis-server).
 */
export function foreignLoad(ours: () => number): { stop(): number } {
  const wall0 = performance.now();
  const machine0 = machineBusySeconds();
  const self0 = selfAndReapedSeconds();
  const ours0 = ours();
  return {
    stop() {
      const wall = (performance.now() - wall0) / 1000;
      const foreign = machineBusySeconds() - machine0 - (selfAndReapedSeconds() - self0) - (ours() - ours0);
      return Math.max(0, foreign / wall);
    },
  };
}
