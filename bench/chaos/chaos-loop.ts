import { setTimeout as sleep } from 'node:timers/promises';
import type { Prng } from '../../src/sim/prng.ts';
import type { Cluster, Replica, Timeline } from './cluster.ts';

// At random intervals, one of: SIGKILL a replica (a crash, an OOM kill, a
// node lost), SIGTERM a replica (a rollout or scale-down: it drains),
// SIGKILL the Redis server (started again empty: nothing on disk), or
// SIGSTOP it (a hung Redis, sockets open, until SIGCONT). Each piece comes
// back after a random pause, on the same port. At most one replica is out at a time (a rolling update's
// pace, and what a PodDisruptionBudget of one allows); Redis may be out at
// the same time as a replica.

export const actionKinds = ['sigkill replica', 'sigterm replica', 'kill redis', 'pause redis'] as const;
export type ActionKind = (typeof actionKinds)[number];

export interface ActionRecord {
  /** ms since the drill started. */
  at: number;
  kind: ActionKind;
  target: string;
  /** From the signal to the process's exit (a SIGTERMed replica's drain). */
  exitMs: number;
  /** How the process ended: its exit code, or the signal. */
  exit: number | string | undefined;
  /** From the signal until it was ready again. */
  outMs: number;
}

export interface ChaosSettings {
  /** Pause between actions, ms: drawn uniformly from [min, max]. */
  gapMs: [number, number];
  /** How long a stopped piece stays down before it is started again, ms. */
  downMs: [number, number];
  /** The kinds of action drawn from. */
  kinds: readonly ActionKind[];
}

export function chaosLoop(options: { cluster: Cluster; settings: ChaosSettings; timeline: Timeline; prng: Prng; endsAt: number }): Promise<ActionRecord[]> {
  const { cluster, settings, timeline, prng } = options;
  const between = ([low, high]: [number, number]) => low + prng.next() * (high - low);
  const actions: ActionRecord[] = [];
  const under = new Set<string>();

  const outage = async (kind: ActionKind, piece: Replica | Cluster['redis']) => {
    under.add(piece.name);
    const at = timeline.now();
    const signalled = performance.now();
    if (kind === 'pause redis') {
      piece.pause();
      await sleep(between(settings.downMs));
      piece.resume();
      actions.push({ at, kind, target: piece.name, exitMs: 0, exit: 'SIGSTOP', outMs: Math.round(performance.now() - signalled) });
    } else {
      const exitMs = await piece.signal(kind === 'sigterm replica' ? 'SIGTERM' : 'SIGKILL');
      const exit = piece.exitCode();
      await sleep(between(settings.downMs));
      await piece.start();
      actions.push({ at, kind, target: piece.name, exitMs: Math.round(exitMs), exit, outMs: Math.round(performance.now() - signalled) });
    }
    under.delete(piece.name);
  };

  const run = async () => {
    const running: Promise<void>[] = [];
    for (;;) {
      await sleep(between(settings.gapMs));
      if (timeline.now() >= options.endsAt) break;
      const replicaOut = cluster.replicas.some((replica) => under.has(replica.name));
      const possible = settings.kinds.filter((kind) => (kind.endsWith('replica') ? !replicaOut : !under.has('redis')));
      if (possible.length === 0) continue;
      const kind = possible[Math.floor(prng.next() * possible.length)]!;
      const piece = kind === 'kill redis' || kind === 'pause redis' ? cluster.redis : cluster.replicas[Math.floor(prng.next() * cluster.replicas.length)]!;
      running.push(outage(kind, piece));
    }
    await Promise.all(running);
    return actions.sort((left, right) => left.at - right.at);
  };
  return run();
}
