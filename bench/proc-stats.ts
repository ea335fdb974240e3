import { readdirSync, readFileSync } from 'node:fs';

// What Linux says about our processes: peak resident memory, CPU time, and
// how busy the machine was with work that is not ours (another test suite on
// the same two cores makes a throughput figure meaningless, so every
// measurement records it).

/** Clock ticks per second of /proc's CPU times; 100 on every Linux we run on. */
export const ticksPerSecond = 100;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The fields of /proc/<pid>/stat after the command name, which may hold spaces. */
function statFields(pid: number | 'self'): string[] | undefined {
  const text = read(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of one process, in ticks (0 once it has gone). */
export function cpuTicks(pid: number): number {
  const fields = statFields(pid);
  return fields ? Number(fields[11]) + Number(fields[12]) : 0;
}

/** This process's own CPU time plus that of its children that have exited and been reaped (load generators). */
export function selfAndReapedTicks(): number {
  const fields = statFields('self');
  return fields ? Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]) : 0;
}

/** Busy ticks of the whole machine (all cores), from /proc/stat. */
export function machineBusyTicks(): number {
  const line = read('/proc/stat')?.split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
}

function statusField(pid: number, name: string): number {
  const match = read(`/proc/${pid}/status`)?.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** Peak resident set size (VmHWM) in bytes. */
export function peakRss(pid: number): number {
  return statusField(pid, 'VmHWM');
}

/** Current resident set size (VmRSS) in bytes. */
export function currentRss(pid: number): number {
  return statusField(pid, 'VmRSS');
}

/**
 * Time on a CPU of every thread of the processes, in nanoseconds, from
 * /proc/<pid>/task/<tid>/schedstat: exact where /proc's ticks (10 ms) are too
 * coarse for a half-second slice of one-connection requests.
 */
export function cpuNanoseconds(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) total += Number(read(`/proc/${pid}/task/${tid}/schedstat`)?.split(' ')[0] ?? 0);
  }
  return total;
}

/** Direct children of a process (nginx's workers). */
export function childPids(pid: number): number[] {
  const tasks = read(`/proc/${pid}/task/${pid}/children`);
  return tasks ? tasks.trim().split(/\s+/).filter(Boolean).map(Number) : [];
}

/** Samples CPU around one measurement: the target's, ours, and everybody else's. */
export class CpuWindow {
  private readonly pids: readonly number[];
  private readonly ownPids: readonly number[];
  private readonly startedAt = performance.now();
  private readonly targetStart: number;
  private readonly ownStart: number;
  private readonly machineStart: number;

  /** `pids`: the process(es) measured; `ownPids`: other long-lived processes of the benchmark (the upstream). */
  constructor(pids: readonly number[], ownPids: readonly number[]) {
    this.pids = pids;
    this.ownPids = ownPids;
    this.targetStart = sum(pids);
    this.ownStart = sum(ownPids) + selfAndReapedTicks();
    this.machineStart = machineBusyTicks();
  }

  /** The target's CPU in seconds, its share of one core, and other processes' share of the machine. */
  finish(): { targetCpuSeconds: number; targetCoreShare: number; othersMachineShare: number } {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const target = sum(this.pids) - this.targetStart;
    const own = sum(this.ownPids) + selfAndReapedTicks() - this.ownStart;
    const machine = machineBusyTicks() - this.machineStart;
    const cores = Math.max(1, availableCores());
    const others = Math.max(0, machine - target - own);
    return {
      targetCpuSeconds: target / ticksPerSecond,
      targetCoreShare: seconds > 0 ? target / ticksPerSecond / seconds : 0,
      othersMachineShare: seconds > 0 ? others / ticksPerSecond / seconds / cores : 0,
    };
  }
}

function sum(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += cpuTicks(pid);
  return total;
}

export function availableCores(): number {
  const online = read('/sys/devices/system/cpu/online')?.trim();
  if (!online) return 1;
  let count = 0;
  for (const part of online.split(',')) {
    const [from, to] = part.split('-').map(Number);
    count += to === undefined ? 1 : to - from! + 1;
  }
  return count;
}
