// Runs one contender process and measures it: wall time (spawn → exit, here), CPU time (user +
// sys of the process and its reaped children) and peak RSS from GNU time's rusage, the lines it
// printed to its stdout pipe, and the server's CPU over the same span (/proc/<pid>/stat).
// Without /usr/bin/time, CPU and peak RSS come from sampling /proc every 20 ms instead.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { ChildProcess } from 'node:child_process';
import { spawnTracked, killGroup, tempDir } from './procs.js';

const TIME = '/usr/bin/time';
const hasGnuTime = existsSync(TIME);
let runCounter = 0;

/** What to run. */
export interface Command {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface RunOptions {
  /** Called with every stdout chunk (lines are counted either way). */
  onData?: (chunk: Buffer) => void;
  /** The server process: its CPU time over the run is reported. */
  serverPid?: number;
  /** Kill the run after this long (ms) and fail. */
  timeoutMs?: number;
}

export interface RunResult {
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** user + sys. */
  cpuMs: number;
  /** Peak resident set size, kB. */
  maxRssKb: number;
  lines: number;
  bytes: number;
  /** The server's user + sys during the run, when a server pid was given. */
  serverCpuMs?: number;
}

/** A running measured process. */
export interface Running {
  /** The outermost process (`/usr/bin/time` when used). */
  readonly child: ChildProcess;
  /** The measured program's pid (the child of `/usr/bin/time`), once it exists. */
  programPid(): number | undefined;
  /** Lines seen on stdout so far. */
  readonly lines: number;
  /** Resolves when the process exits 0; rejects with its stderr otherwise. */
  readonly done: Promise<RunResult>;
}

/** Clock ticks per second, for /proc/<pid>/stat (USER_HZ; 100 on every Linux we meet). */
const TICKS = 100;

/** user + sys CPU ms of a live process from /proc (undefined once it is gone). */
export function procCpuMs(pid: number): number | undefined {
  const fields = procStat(pid);
  if (!fields) return undefined;
  // After the ")" that ends comm: field 3 is state, so utime (14) and stime (15) are [11], [12].
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
}

function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Current and peak resident set size (kB) of a live process, from /proc/<pid>/status. */
export function procRssKb(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)/m.exec(status);
    const hwm = /^VmHWM:\s+(\d+)/m.exec(status);
    if (!rss || !hwm) return undefined;
    return { rss: Number(rss[1]), hwm: Number(hwm[1]) };
  } catch {
    return undefined;
  }
}

/** Starts `command` with its stdout on a pipe that this process drains. */
export function start(command: Command, opts: RunOptions = {}): Running {
  const timeFile = path.join(tempDir(), `time-${++runCounter}.txt`);
  const [cmd, args] = hasGnuTime
    ? [TIME, ['-o', timeFile, '-f', '%e %U %S %M', command.cmd, ...command.args]]
    : [command.cmd, command.args];
  const serverBefore = opts.serverPid === undefined ? undefined : procCpuMs(opts.serverPid);
  const began = process.hrtime.bigint();
  const child = spawnTracked(cmd, args, {
    cwd: command.cwd,
    env: command.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lines = 0;
  let bytes = 0;
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) lines++;
    opts.onData?.(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });

  let program: number | undefined = hasGnuTime ? undefined : child.pid;
  const programPid = (): number | undefined => {
    if (program === undefined && child.pid !== undefined) {
      try {
        const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8');
        const first = kids.trim().split(' ')[0];
        if (first) program = Number(first);
      } catch {
        // not started yet, or gone
      }
    }
    return program;
  };

  // Without GNU time: the last /proc sample before the exit stands in for rusage.
  let sampled = { cpuMs: 0, hwm: 0 };
  const sampler = hasGnuTime
    ? undefined
    : setInterval(() => {
        if (child.pid === undefined) return;
        const fields = procStat(child.pid);
        const mem = procRssKb(child.pid);
        if (fields) {
          const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
          sampled = { cpuMs: (ticks * 1000) / TICKS, hwm: Math.max(sampled.hwm, mem?.hwm ?? 0) };
        }
      }, 20);

  const done = new Promise<RunResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        stderr += `\n(killed by the bench after ${opts.timeoutMs} ms)`;
        killGroup(child);
      }, opts.timeoutMs);
    }
    child.once('error', reject);
    // 'close': the process exited and its stdout is drained (every line counted).
    child.once('close', (code, signal) => {
      const wallMs = Number(process.hrtime.bigint() - began) / 1e6;
      if (timer) clearTimeout(timer);
      if (sampler) clearInterval(sampler);
      const serverAfter = opts.serverPid === undefined ? undefined : procCpuMs(opts.serverPid);
      if (code !== 0) {
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        const name = path.basename(command.cmd);
        reject(new Error(`${name} ${command.args.join(' ')} failed (${how}):\n${stderr.trim()}`));
        return;
      }
      let userMs: number;
      let sysMs: number;
      let maxRssKb: number;
      if (hasGnuTime) {
        const last = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1) ?? '';
        const [, user, sys, rss] = last.split(' ').map(Number);
        userMs = (user ?? NaN) * 1000;
        sysMs = (sys ?? NaN) * 1000;
        maxRssKb = rss ?? NaN;
      } else {
        userMs = sampled.cpuMs;
        sysMs = 0;
        maxRssKb = sampled.hwm;
      }
      resolve({
        wallMs,
        userMs,
        sysMs,
        cpuMs: userMs + sysMs,
        maxRssKb,
        lines,
        bytes,
        ...(serverBefore !== undefined && serverAfter !== undefined
          ? { serverCpuMs: serverAfter - serverBefore }
          : {}),
      });
    });
  });
  done.catch(() => undefined); // the caller awaits it; never an unhandled rejection meanwhile

  return {
    child,
    programPid,
    get lines() {
      return lines;
    },
    done,
  };
}

/** Runs `command` to the end and measures it. */
export function measure(command: Command, opts: RunOptions = {}): Promise<RunResult> {
  return start(command, opts).done;
}

/** Splits stdout chunks into lines (a partial last line is kept for the next chunk). */
export function lineSplitter(onLine: (line: string) => void): (chunk: Buffer) => void {
  const decoder = new StringDecoder('utf8'); // a character split across chunks stays whole
  let rest = '';
  return (chunk) => {
    const text = rest + decoder.write(chunk);
    let from = 0;
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', from)) {
      onLine(text.slice(from, at));
      from = at + 1;
    }
    rest = text.slice(from);
  };
}

/** True when CPU and peak RSS come from GNU time (exact) rather than /proc samples. */
export const exactRusage = hasGnuTime;
