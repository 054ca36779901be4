/**
 * CPU time of processes, read from /proc (Linux): user + system time of a process, in
 * milliseconds, at the resolution of the kernel's clock tick (10 ms at USER_HZ 100). A
 * benchmark samples it before and after a measured window and divides by the calls.
 */
import { readFileSync, readdirSync } from 'node:fs';

// USER_HZ is 100 on every Linux architecture Node runs on.
const MS_PER_TICK = 10;

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  readonly cpuMs: number;
}

function stat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields start after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { pid, ppid: Number(rest[1]), cpuMs: (Number(rest[11]) + Number(rest[12])) * MS_PER_TICK };
}

/** CPU time (ms) of one process so far; NaN when it is gone. */
export function processCpuMs(pid: number): number {
  return stat(pid)?.cpuMs ?? Number.NaN;
}

/** The pids of a process's children (direct ones), found by scanning /proc. */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s?.ppid === pid) children.push(s.pid);
  }
  return children;
}

/** Whether /proc can be read here (Linux). */
export function procAvailable(): boolean {
  return stat(process.pid) !== undefined;
}
