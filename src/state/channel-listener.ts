import type { RedisClient } from './redis-client.ts';
import type { RedisLink } from './redis-link.ts';

// What breaker openings and canary decisions share: a Redis channel that
// every replica listens to, and a hash that holds what was said on it, read
// once listening (so nothing said between the read and the subscription is
// missed) and again whenever the link (re)connects.

export interface ChannelListener {
  subscriber: RedisLink;
  commands: RedisLink;
  channel: string;
  onMessage(text: string): void;
  /** Reads what was said while this replica was not listening. */
  catchUp(client: RedisClient): Promise<void>;
}

export function listenOnChannel(listener: ChannelListener): void {
  listener.subscriber.use((client) => {
    client.on('ready', () =>
      client.subscribe(listener.channel).then(
        () => {
          const commands = listener.commands.ready;
          if (commands) void listener.catchUp(commands);
        },
        (error: Error) => listener.subscriber.report(error),
      ),
    );
    client.on('message', (channel: string, text: string) => {
      if (channel === listener.channel) listener.onMessage(text);
    });
  });
}
