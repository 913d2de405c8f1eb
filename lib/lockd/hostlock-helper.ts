/**
 * The host-lock helper: a long-lived perl process of the lock manager that opens lock files and
 * takes and drops flock(2) locks on request, over a line protocol on its stdin/stdout pipes. A
 * lock costs a pipe round trip instead of a process start (see `scripts/bench/hostlock.ts`).
 *
 * perl is Essential on Debian (`perl-base`, with Fcntl and POSIX). The helper uses flock(2), as
 * flock(1) does, so it interoperates with the flock(1) primitive and with other steward versions on
 * any file system; on Linux NFS, flock(2) is emulated with POSIX byte-range locks through the NFS
 * lock manager, so the lock is seen by every client and conflicts with fcntl locks (upstream
 * dsvclockd's). It also makes waits simple: a blocking wait runs in a forked child on the same open
 * file description, so the lock it gets belongs to the helper too, and the helper stays free to
 * serve other locks meanwhile.
 *
 * Protocol, one line each way (no request data is ever part of the script):
 *
 * - `L <id> <x|s> <n|b> <path>`: open `<path>` (O_RDWR|O_CREAT|O_NOFOLLOW, 0600) and lock it
 *   exclusive or shared, nonblocking or waiting. Answer `<id> OK`, `<id> BUSY` (nonblocking, held
 *   elsewhere) or `<id> ERR <reason>`.
 * - `U <id>`: unlock and close; answer `<id> OK` once the lock is gone.
 * - `C <id>`: withdraw a waiting `L`: its answer is then `<id> ERR Host lock request withdrawn`
 *   (or `OK` when the lock came first; the caller then unlocks it).
 *
 * The helper says `READY 1` when it starts, and exits when its input closes (the lock manager
 * stopped or died): the kernel then drops every lock it held.
 * @internal
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { Buffer } from "node:buffer";
import type { LockMode } from "./table.ts";

/** The perl program (a constant: paths arrive as data on stdin). */
export const HELPER_PERL = String.raw`
use strict;
use warnings;
use Fcntl qw(O_RDWR O_CREAT O_NOFOLLOW O_NOCTTY O_NONBLOCK LOCK_SH LOCK_EX LOCK_NB LOCK_UN S_ISREG);
use POSIX ();
umask 077;
my (%held, %wait);
my $buf = '';
sub out {
  my $s = "$_[0]\n";
  while (length $s) {
    my $n = syswrite(STDOUT, $s);
    if (!defined $n) { next if $!{EINTR}; POSIX::_exit(0); }
    substr($s, 0, $n, '');
  }
}
sub quit {
  for my $w (values %wait) { kill 'KILL', $w->[0]; waitpid($w->[0], 0); }
  POSIX::_exit($_[0]);
}
sub acquire {
  my ($id, $m, $nb, $f) = @_;
  quit(85) if exists $held{$id} || exists $wait{$id};
  my $d = $f; $d =~ s{/[^/]*\z}{}; $d = '/' if $d eq '';
  if (-l $d || !-d _) { out("$id ERR Not an existing directory: $d"); return; }
  my $fh;
  unless (sysopen($fh, $f, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0600)) {
    if ($!{ELOOP}) { out("$id ERR Lock file is a symbolic link: $f"); }
    else { out("$id ERR Cannot open lock file $f: $!"); }
    return;
  }
  my @st = stat($fh);
  unless (@st && S_ISREG($st[2])) { close $fh; out("$id ERR Lock file is not a regular file: $f"); return; }
  my $op = $m eq 'x' ? LOCK_EX : LOCK_SH;
  if (flock($fh, $op | LOCK_NB)) { $held{$id} = $fh; out("$id OK"); return; }
  unless ($!{EWOULDBLOCK} || $!{EAGAIN}) { my $e = "$!"; close $fh; out("$id ERR Cannot lock $f: $e"); return; }
  if ($nb) { close $fh; out("$id BUSY"); return; }
  my ($r, $w);
  unless (pipe($r, $w)) { my $e = "$!"; close $fh; out("$id ERR Cannot wait for $f: $e"); return; }
  my $pid = fork();
  unless (defined $pid) { my $e = "$!"; close $fh; close $r; close $w; out("$id ERR Cannot wait for $f: $e"); return; }
  if ($pid == 0) {
    # The waiter keeps only its lock file: a copy of another would outlive that lock's close.
    close $r; close STDIN; close STDOUT; close STDERR;
    close $_ for values %held;
    for my $o (values %wait) { close $o->[1]; close $o->[2]; }
    my $ok;
    do { $ok = flock($fh, $op); } until $ok || !$!{EINTR};
    syswrite($w, $ok ? "0\n" : ($! + 0) . "\n");
    POSIX::_exit(0);
  }
  close $w;
  $wait{$id} = [$pid, $r, $fh, $f];
}
sub finish {
  my $id = shift;
  my $w = delete $wait{$id};
  my $line = '';
  sysread($w->[1], $line, 64);
  close $w->[1];
  waitpid($w->[0], 0);
  if ($line eq "0\n") { $held{$id} = $w->[2]; out("$id OK"); return; }
  close $w->[2];
  my $why = 'the waiting process ended';
  if ($line =~ /\A(\d+)\n\z/) { local $! = $1; $why = "$!"; }
  out("$id ERR Cannot lock $w->[3]: $why");
}
sub request {
  my $l = shift;
  if ($l =~ m{\AL (\d{1,15}) ([xs]) ([nb]) (/[^\0]{0,4095})\z}s) { acquire($1, $2, $3 eq 'n', $4); }
  elsif ($l =~ /\AU (\d{1,15})\z/) {
    my $fh = delete $held{$1};
    if ($fh) { flock($fh, LOCK_UN); close $fh; }
    out("$1 OK");
  }
  elsif ($l =~ /\AC (\d{1,15})\z/) {
    my $w = delete $wait{$1};
    if ($w) {
      kill 'KILL', $w->[0]; waitpid($w->[0], 0);
      close $w->[1]; close $w->[2];
      out("$1 ERR Host lock request withdrawn");
    }
  }
  else { quit(85); }
}
out("READY 1");
while (1) {
  my $rin = '';
  vec($rin, fileno(STDIN), 1) = 1;
  vec($rin, fileno($_->[1]), 1) = 1 for values %wait;
  my $rout;
  my $n = select($rout = $rin, undef, undef, undef);
  if ($n < 0) { next if $!{EINTR}; quit(86); }
  for my $id (keys %wait) { finish($id) if vec($rout, fileno($wait{$id}[1]), 1); }
  next unless vec($rout, fileno(STDIN), 1);
  my $got = sysread(STDIN, $buf, 65536, length $buf);
  if (!defined $got) { next if $!{EINTR}; quit(0); }
  quit(0) if $got == 0;
  while ((my $i = index($buf, "\n")) >= 0) {
    my $line = substr($buf, 0, $i + 1, '');
    chop $line;
    request($line);
  }
  quit(85) if length($buf) > 8192;
}
`;

// Started through /bin/sh (the one program a Deno daemon may run): a fixed script that finds perl
// on the fixed search path and runs the constant program given as $1.
const SH = 'command -v perl >/dev/null 2>&1 || exit 80\nexec perl -e "$1"';

/** Exit status of the start script when perl is not installed. */
const NO_PERL = 80;

/** Longest lock file path the helper takes (bytes, as PATH_MAX less the NUL). */
export const HELPER_MAX_PATH = 4095;

/** Why a request to the helper failed: BUSY, SYNCH_ERR, or NO_HELPER (perl is not installed). */
export class HelperError extends Error {
  override name = "HelperError";
  readonly code: "BUSY" | "SYNCH_ERR" | "NO_HELPER";
  constructor(code: "BUSY" | "SYNCH_ERR" | "NO_HELPER", message: string) {
    super(message);
    this.code = code;
  }
}

interface Pending {
  resolve(): void;
  reject(e: HelperError): void;
}

/** One helper process and the requests and locks it has. */
export class LockHelper {
  readonly #child: ChildProcess;
  #nextId = 1;
  #buf = "";
  #ready = false;
  /** Set once the helper is gone: why. */
  #ended: string | undefined;
  #pending = new Map<number, Pending>();
  /** Held locks: id → told when the helper ends while the lock is held. */
  #held = new Map<number, (why: string) => void>();
  readonly exited: Promise<void>;

  constructor(searchPath: string) {
    this.#child = spawn("/bin/sh", ["-c", SH, "steward-hostlock", HELPER_PERL], {
      stdio: ["pipe", "pipe", "pipe"],
      // A fixed search path, not the daemon's: where perl is looked up.
      env: { PATH: searchPath, LC_ALL: "C" },
    });
    let err = "";
    this.exited = new Promise<void>((done) => this.#child.once("close", () => done()));
    this.#child.stdin?.on("error", () => {});
    this.#child.stderr?.on("data", (d) => {
      if (err.length < 1024) err += d;
    });
    this.#child.stdout?.setEncoding("utf8");
    this.#child.stdout?.on("data", (d: string) => this.#data(d));
    this.#child.once("error", (e) => this.#end(`cannot start it: ${e.message}`, false));
    // On close, not exit: every answer written before the end has been read by then.
    this.#child.once("close", (code: number | null, signal: string | null) => {
      const why = err.trim().split("\n")[0] ?? "";
      this.#end(
        why ? `${why} (exit ${code ?? signal})` : `it ended (${code ?? signal})`,
        code === NO_PERL && !this.#ready,
      );
    });
  }

  /** The helper's process id (for tests). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** False once the helper has ended (a new one must be started). */
  get alive(): boolean {
    return this.#ended === undefined;
  }

  /** Locks held through this helper. */
  get held(): number {
    return this.#held.size;
  }

  /** True when the helper holds no lock and has no request outstanding. */
  get idle(): boolean {
    return this.#held.size === 0 && this.#pending.size === 0;
  }

  /**
   * Take a lock on `file`. `lock` resolves once it is held; `cancel` withdraws a waiting request
   * (it then rejects); `onLost` is told if the helper ends while the lock is held.
   */
  lock(
    file: string,
    mode: LockMode,
    nonblock: boolean,
    onLost: (why: string) => void,
  ): { id: number; locked: Promise<void>; cancel: () => void } {
    const id = this.#nextId++;
    if (/[\n\0]/.test(file) || !file.startsWith("/")) {
      return {
        id,
        locked: Promise.reject(new HelperError("SYNCH_ERR", `Unusable lock file path: ${file}`)),
        cancel: () => {},
      };
    }
    if (Buffer.byteLength(file) > HELPER_MAX_PATH) {
      return {
        id,
        locked: Promise.reject(new HelperError("SYNCH_ERR", `Lock file path too long: ${file}`)),
        cancel: () => {},
      };
    }
    const locked = this.#ask(
      id,
      `L ${id} ${mode === "exclusive" ? "x" : "s"} ${nonblock ? "n" : "b"} ${file}`,
    )
      .then(() => {
        this.#held.set(id, onLost);
      });
    return {
      id,
      locked,
      cancel: () => {
        if (this.#pending.has(id)) this.#write(`C ${id}`);
      },
    };
  }

  /** Drop lock `id`; resolves once it is gone (at once when the helper has ended). */
  unlock(id: number): Promise<void> {
    if (!this.#held.delete(id)) return Promise.resolve();
    return this.#ask(id, `U ${id}`, true).catch(() => {});
  }

  /** End the helper: its input closes, it exits, and the kernel drops its locks. */
  stop(): Promise<void> {
    this.#held.clear();
    this.#child.stdin?.end();
    return this.exited;
  }

  /** Kill the helper (tests). */
  kill(): void {
    this.#child.kill("SIGKILL");
  }

  // A `U` answer carries the id of its lock, whose `L` was answered before the `U` was sent.
  #ask(id: number, line: string, unlock = false): Promise<void> {
    if (this.#ended !== undefined) {
      return Promise.reject(
        new HelperError("SYNCH_ERR", `The host lock helper has ended: ${this.#ended}`),
      );
    }
    const p = new Promise<void>((resolve, reject) => {
      this.#pending.set(unlock ? -id : id, { resolve, reject });
    });
    this.#write(line);
    return p;
  }

  #write(line: string): void {
    try {
      this.#child.stdin?.write(`${line}\n`);
    } catch { /* the exit handler fails what is pending */ }
  }

  #data(chunk: string): void {
    this.#buf += chunk;
    let i: number;
    while ((i = this.#buf.indexOf("\n")) >= 0) {
      const line = this.#buf.slice(0, i);
      this.#buf = this.#buf.slice(i + 1);
      this.#reply(line);
    }
    if (this.#buf.length > 16384) {
      this.#buf = "";
      this.kill();
    }
  }

  #reply(line: string): void {
    if (line === "READY 1") {
      this.#ready = true;
      return;
    }
    const m = /^(\d+) (OK|BUSY|ERR)(?: (.*))?$/.exec(line);
    if (!m) return;
    const id = Number(m[1]);
    // A lock's answer is keyed by its id, an unlock's by the negative id (sent only later).
    const key = this.#pending.has(id) ? id : -id;
    const p = this.#pending.get(key);
    if (!p) return;
    this.#pending.delete(key);
    if (m[2] === "OK") p.resolve();
    else if (m[2] === "BUSY") p.reject(new HelperError("BUSY", "held elsewhere"));
    else p.reject(new HelperError("SYNCH_ERR", m[3] ?? "the host lock helper failed"));
  }

  #end(why: string, noPerl: boolean): void {
    if (this.#ended !== undefined) return;
    this.#ended = why;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      p.reject(
        noPerl
          ? new HelperError("NO_HELPER", "perl is not installed (the host lock helper needs it)")
          : new HelperError("SYNCH_ERR", `The host lock helper ended: ${why}`),
      );
    }
    const held = [...this.#held.values()];
    this.#held.clear();
    for (const lost of held) lost(`the host lock helper ended: ${why}`);
  }
}
