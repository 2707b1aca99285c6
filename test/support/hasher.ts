import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/<pid>/stat after its "(name)", which may hold spaces. */
function statFields(path: string): string[] | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Processes descended from `ancestor` whose command line names the password hasher (Linux /proc). */
export function hasherProcesses(ancestor: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(`/proc/${entry}/stat`);
    if (fields) parentOf.set(Number(entry), Number(fields[1]));
  }
  const descends = (pid: number): boolean => {
    for (let parent = parentOf.get(pid); parent && parent > 1; parent = parentOf.get(parent)) if (parent === ancestor) return true;
    return false;
  };
  return [...parentOf.keys()].filter((pid) => {
    if (!descends(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('password-hasher');
    } catch {
      return false;
    }
  });
}

/** The nice value of each thread of `pid`. */
export function threadNiceness(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((thread) => {
    const fields = statFields(`/proc/${pid}/task/${thread}/stat`);
    // stat(5): field 19 is nice; fields here start at field 3 (state).
    return fields ? [Number(fields[16])] : [];
  });
}

/** Each thread's scheduling policy (sched(7): 0 normal, 5 SCHED_IDLE). */
export function threadPolicies(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((thread) => {
    const fields = statFields(`/proc/${pid}/task/${thread}/stat`);
    // stat(5): field 41 is the policy; fields here start at field 3.
    return fields ? [Number(fields[38])] : [];
  });
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
