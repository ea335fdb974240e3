// What happened to each provider over the last hour, in words with a
// wall-clock time: breaker changes, health verdicts, anomalies starting and
// ending. Written when those change (rarely), read by incident summaries.

const keptMs = 60 * 60_000;
const maxEvents = 200;

export interface TimelineEvent {
  at: number;
  what: string;
}

export class EventTimeline {
  private readonly subjects = new Map<string, TimelineEvent[]>();
  private readonly wallClock: () => number;

  constructor(wallClock: () => number = Date.now) {
    this.wallClock = wallClock;
  }

  add(subject: string, what: string): void {
    let events = this.subjects.get(subject);
    if (events === undefined) this.subjects.set(subject, (events = []));
    events.push({ at: this.wallClock(), what });
    if (events.length > maxEvents) events.shift();
  }

  /** The subject's events of the last hour, oldest first. */
  recent(subject: string): TimelineEvent[] {
    const from = this.wallClock() - keptMs;
    return (this.subjects.get(subject) ?? []).filter((event) => event.at >= from);
  }
}
