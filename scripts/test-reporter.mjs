/**
 * A node:test reporter for scripts/test.ts: one JSON line per finished test (see TestRecord
 * there), so the runner counts what ran instead of scraping the human report. Suites are left
 * out; a line whose `name` is its `file` is the file itself (a file that ran no test, or one that
 * failed outside any test). Plain JavaScript: Node 20 loads reporters without the tsx loader.
 */
export default async function* countingReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const test = event.data;
    if (test.details?.type === 'suite') continue;
    const file = test.file ?? '';
    const error = test.details?.error;
    yield `${JSON.stringify({
      outcome: event.type === 'test:pass' ? 'pass' : 'fail',
      name: test.name,
      file,
      whole: test.name === file,
      skip: test.skip,
      todo: test.todo,
      error: error ? String(error.cause ?? error.message ?? '') : undefined,
      ms: test.details?.duration_ms,
    })}\n`;
  }
}
