import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Broker } from './broker.ts';

export type RealtimeMetrics = ReturnType<typeof createRealtimeMetrics>;

/** What the realtime side does, for Prometheus. Hot-path children are bound once, not per event. */
export function createRealtimeMetrics(registry: Registry, broker: Broker) {
  new Gauge({
    name: 'tablo_open_streams',
    help: 'Open SSE streams, by kind (discussion, personal)',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      this.set({ kind: 'discussion' }, broker.discussionStreams);
      this.set({ kind: 'personal' }, broker.openStreams - broker.discussionStreams);
    },
  });
  const eventsWritten = new Counter({
    name: 'tablo_stream_events_written_total',
    help: 'Events written to streams, by kind (message, named)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const streamsClosed = new Counter({
    name: 'tablo_streams_closed_total',
    help: 'Streams closed, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  return {
    messagesWritten: eventsWritten.labels('message'),
    namedWritten: eventsWritten.labels('named'),
    streamsClosed,
    slowReaders: new Counter({
      name: 'tablo_slow_readers_disconnected_total',
      help: 'Streams closed because their reader fell too far behind',
      registers: [registry],
    }),
    messagesPosted: new Counter({
      name: 'tablo_messages_posted_total',
      help: 'Messages stored (a retried post with a known client_token is not counted)',
      registers: [registry],
    }),
    publishToWrite: new Histogram({
      name: 'tablo_publish_to_write_seconds',
      help: 'From publishing a message on this instance to having written it to every live stream there',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    busNotifications: new Counter({
      name: 'tablo_bus_notifications_total',
      help: 'Notifications received from the Postgres bus, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    busReconnects: new Counter({
      name: 'tablo_bus_reconnects_total',
      help: 'Times the Postgres bus re-established its LISTEN connection',
      registers: [registry],
    }),
  };
}
