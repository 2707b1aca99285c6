import argon2 from 'argon2';

// OWASP's argon2id recommendation: 19 MiB of memory, 2 iterations, 1 lane.
const options = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, options);
}

// Verifying against this when the email is unknown makes both failures take the same time,
// so response times do not reveal which emails have accounts.
const decoyHash = hashPassword('decoy password that never matches');

export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  try {
    const matches = await argon2.verify(hash ?? (await decoyHash), password);
    return matches && hash !== undefined;
  } catch {
    return false;
  }
}
