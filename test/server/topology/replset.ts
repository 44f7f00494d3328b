// A replica set of one or more members in one process: one data set and one oplog shared by
// every member (so every secondary is always caught up and resume tokens stay valid on any
// member), a listener, a role and a topologyVersion per member, and elections with terms.
//
// What moves on a step-down, as on MongoDB 8.0 (replSetStepDown, a primary gone silent):
// - the primary becomes a secondary; every member's topologyVersion counter moves, so awaiting
//   hellos (the drivers' streaming monitors) answer at once;
// - the old primary closes its client connections and kills its change-stream cursors. 8.0
//   keeps idle connections and kills only the operations in progress; closing every
//   non-monitor connection is a simplification with the same effect on drivers (their
//   operations fail with a network error and are retried or resumed elsewhere);
// - after `electionDelayMs` another electable member (not silent, not in its step-down period)
//   becomes primary with term + 1, hence a greater `electionId`.
// A primary silent (`hang`) for longer than `electionTimeoutMs` is replaced the same way; it
// steps down, and closes its connections, once it answers again.
import type { Timestamp } from 'bson';
import type { Cursors } from '../commands/cursors.js';
import { ServerError } from '../errors.js';
import type { HangGate } from '../connection.js';
import { TERM, topologyOf, type Topology } from '../topology.js';
import type { ConnectionInfo, ServerState } from '../types.js';

export type MemberState = 'PRIMARY' | 'SECONDARY';

export interface ReplicaSetOptions {
  /** Time from losing a primary to electing the next one, ms (default 200). */
  electionDelayMs?: number;
  /** How long the others wait for a silent primary before electing another, ms (mongod: 10,000). */
  electionTimeoutMs?: number;
}

/** How a step-down is asked for (replSetStepDown's fields). */
export interface StepDownOptions {
  /** The old primary cannot be elected again for this long (default 60 s). */
  secs?: number;
  /** How long to wait for an electable secondary before failing with 262 (default 10 s). */
  secondaryCatchUpPeriodSecs?: number;
  /** Step down even when no secondary can take over. */
  force?: boolean;
  /** The connection that asked: left open so it gets its answer. */
  requester?: ConnectionInfo;
}

/** What a member needs from the layer that owns its sockets (index.ts). */
export interface MemberIo {
  /** Stops answering requests while hung (shared with the member's connections). */
  readonly gate: HangGate;
  readonly cursors: Cursors;
  /** Closes every client connection but drivers' monitors (and `except`). */
  closeClientConnections(except?: ConnectionInfo): void;
}

const DEFAULT_ELECTION_DELAY_MS = 200;
const DEFAULT_ELECTION_TIMEOUT_MS = 10_000;
const DEFAULT_STEP_DOWN_SECS = 60;
const DEFAULT_CATCH_UP_SECS = 10;
const POLL_MS = 50;

/** One member: a `ServerState` of its own (host, cursors, fail points) and a role in the set. */
export class Member {
  role: MemberState = 'SECONDARY';
  /** Not electable before this `Date.now()` (the step-down period). */
  ineligibleUntil = 0;
  /** When this member last won an election (replSetGetStatus `electionDate`/`electionTime`). */
  electionDate: Date | undefined;
  electionTime: Timestamp | undefined;

  constructor(
    readonly id: number,
    readonly state: ServerState,
    readonly set: ReplicaSet,
    private readonly io: MemberIo,
  ) {}

  get host(): string {
    return this.state.me;
  }

  get topology(): Topology {
    return topologyOf(this.state);
  }

  get hung(): boolean {
    return this.io.gate.hung;
  }

  /** Resolves once the member answers again. */
  awake(): Promise<void> {
    return this.io.gate.wait();
  }

  /** The old primary's side of a step-down: clients lose their connections and streams. */
  dropClients(except?: ConnectionInfo): void {
    // Sockets first: a killed stream's awaiting getMore then answers nobody.
    this.io.closeClientConnections(except);
    for (const cursor of this.io.cursors.list()) {
      if (!cursor.isChangeStream) continue;
      this.io.cursors.remove(cursor.id);
      cursor.kill();
    }
  }
}

/** The set: its members, the term, the primary, and the timers that run elections. */
export class ReplicaSet {
  readonly members: Member[] = [];
  /** The current election term (the first primary is elected in term 1). */
  term = TERM;
  private readonly electionDelayMs: number;
  readonly electionTimeoutMs: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private electionPending = false;
  private closed = false;
  /** Waiting for a primary (`whenPrimary`). */
  private readonly waiters = new Set<() => void>();
  /** Pending `sleep`s, woken by `close`. */
  private readonly sleepers = new Set<() => void>();
  /** Where the round-robin choice of the next primary starts. */
  private lastPrimary = -1;

  constructor(
    readonly name: string,
    opts: ReplicaSetOptions = {},
  ) {
    this.electionDelayMs = opts.electionDelayMs ?? DEFAULT_ELECTION_DELAY_MS;
    this.electionTimeoutMs = opts.electionTimeoutMs ?? DEFAULT_ELECTION_TIMEOUT_MS;
  }

  /** Adds a member (a secondary until `initiate`). */
  addMember(state: ServerState, io: MemberIo): Member {
    const member = new Member(this.members.length, state, this, io);
    this.members.push(member);
    topologyOf(state).member = member;
    return member;
  }

  /** `rs.initiate()`: the first member is primary in term 1. */
  initiate(): void {
    const first = this.members[0];
    if (first) this.makePrimary(first, this.term);
  }

  /** `hosts` as every member reports it. */
  get hosts(): string[] {
    return this.members.map((m) => m.host);
  }

  get primary(): Member | undefined {
    return this.members.find((m) => m.role === 'PRIMARY');
  }

  /** Resolves with the primary, at once or after the election under way. */
  whenPrimary(): Promise<Member> {
    const now = this.primary;
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const check = (): void => {
        const p = this.primary;
        if (!p) return;
        this.waiters.delete(check);
        resolve(p);
      };
      this.waiters.add(check);
    });
  }

  /**
   * replSetStepDown on `member`: throws 10107 on a secondary, 262 when no secondary became
   * electable within the catch-up period (unless `force`); otherwise steps down and starts an
   * election.
   */
  async stepDown(member: Member, opts: StepDownOptions = {}): Promise<void> {
    if (member.role !== 'PRIMARY') throw new ServerError(10107, "not primary so can't step down");
    const secs = opts.secs ?? DEFAULT_STEP_DOWN_SECS;
    const catchUp = opts.secondaryCatchUpPeriodSecs ?? Math.min(DEFAULT_CATCH_UP_SECS, secs);
    if (catchUp > secs) {
      throw new ServerError(2, 'stepdown period must be longer than secondaryCatchUpPeriodSecs');
    }
    if (!opts.force) {
      const deadline = Date.now() + catchUp * 1000;
      while (this.candidates(member).length === 0) {
        if (Date.now() >= deadline || this.closed) {
          throw new ServerError(
            262,
            `No electable secondaries caught up as of ${new Date().toISOString()}. Please use ` +
              'the replSetStepDown command with the argument {force: true} to force node to ' +
              'step down.',
          );
        }
        await this.sleep(POLL_MS);
      }
      // Another step-down or an election got there first while this one waited.
      if (member.role !== 'PRIMARY') {
        throw new ServerError(10107, "not primary so can't step down");
      }
    }
    member.role = 'SECONDARY';
    member.ineligibleUntil = Date.now() + secs * 1000;
    this.announce();
    member.dropClients(opts.requester);
    this.scheduleElection();
  }

  /**
   * Notes that `member` stopped answering for `ms`: if it is the primary and stays silent past
   * the election timeout, the others elect a new one.
   */
  noteHang(member: Member, ms: number): void {
    if (ms < this.electionTimeoutMs || this.members.length === 1) return;
    this.after(this.electionTimeoutMs, () => this.checkSilentPrimary(member));
  }

  /** Stops the election timers (server stop). */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const wake of [...this.sleepers]) wake();
  }

  private checkSilentPrimary(member: Member): void {
    if (member.role !== 'PRIMARY' || !member.hung) return;
    if (this.candidates(member).length === 0) {
      // Nobody can take over (the whole set is silent): look again shortly.
      this.after(this.electionDelayMs, () => this.checkSilentPrimary(member));
      return;
    }
    // The others stop hearing from it; it learns of the new term (and steps down, dropping
    // its clients) only when it answers again.
    member.role = 'SECONDARY';
    this.announce();
    void member.awake().then(() => {
      if (!this.closed && member.role === 'SECONDARY') member.dropClients();
    });
    this.scheduleElection();
  }

  /** Members that can win an election now, in the order the next primary is chosen. */
  private candidates(exclude?: Member): Member[] {
    const now = Date.now();
    const n = this.members.length;
    const out: Member[] = [];
    for (let k = 1; k <= n; k++) {
      const m = this.members[(this.lastPrimary + k + n) % n] as Member;
      if (m === exclude || m.role === 'PRIMARY' || m.hung || m.ineligibleUntil > now) continue;
      out.push(m);
    }
    return out;
  }

  private scheduleElection(): void {
    if (this.electionPending || this.closed) return;
    this.electionPending = true;
    this.after(this.electionDelayMs, () => {
      this.electionPending = false;
      if (this.primary) return;
      const winner = this.candidates()[0];
      if (winner) this.makePrimary(winner, this.term + 1);
      else this.scheduleElection();
    });
  }

  private makePrimary(member: Member, term: number): void {
    this.term = term;
    member.role = 'PRIMARY';
    member.electionDate = new Date();
    member.electionTime = member.state.oplog.lastTimestamp;
    this.lastPrimary = member.id;
    this.announce();
    for (const wake of [...this.waiters]) wake();
  }

  /** A topology change every member reports: each counter moves, awaiting hellos answer. */
  private announce(): void {
    for (const m of this.members) m.topology.changed();
  }

  private after(ms: number, run: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        resolve();
      };
      this.sleepers.add(wake);
      this.after(ms, wake);
    });
  }
}
