import assert from 'node:assert/strict';

/** One metric sample from the app's real `/metrics`, e.g. `tablo_open_streams{kind="discussion"}`; 0 when absent. */
export async function metric(instance: { url: string }, sample: string): Promise<number> {
  return (await metrics(instance, [sample]))[0]!;
}

/** Several samples read from one scrape, in the order asked. */
export async function metrics(instance: { url: string }, samples: string[]): Promise<number[]> {
  const response = await fetch(new URL('/metrics', instance.url));
  assert.equal(response.status, 200);
  const lines = (await response.text()).split('\n');
  return samples.map((sample) => {
    const line = lines.find((l) => l.startsWith(`${sample} `));
    return line ? Number(line.slice(sample.length + 1)) : 0;
  });
}
