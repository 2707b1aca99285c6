// A worker in a process of its own, for the crash test: it claims entries of kind `slow`, says
// which one it is running on stdout, and never finishes (the test kills it with SIGKILL).
import { pino } from 'pino';
import { createDatabase, createPool } from '../../src/db/database.ts';
import { OutboxWorker } from '../../src/outbox/outbox.ts';

const logger = pino({ level: 'silent' });
const db = createDatabase(createPool(process.argv[2] ?? '', logger));
const worker = new OutboxWorker({
  db,
  logger,
  pollMs: 50,
  leaseMs: Number(process.argv[3] ?? 2000),
  handlers: {
    slow: (entry) => {
      process.stdout.write(`running ${entry.id}\n`);
      return new Promise(() => {});
    },
  },
});
worker.start();
setInterval(() => {}, 1 << 30);
