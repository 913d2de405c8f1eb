/**
 * Exit codes shared by every command, and the error a command throws to end with one.
 * @module
 */

/** Exit codes common to all commands (documented in docs/cli.md). */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
} as const;

/** An error that ends the command with a one-line message and a chosen exit code. */
export class CliError extends Error {
  override name = "CliError";
  readonly exitCode: number;
  /** When true, a usage hint follows the message. */
  readonly usage: boolean;
  constructor(message: string, exitCode: number = EXIT.FAILURE, options: { usage?: boolean } = {}) {
    super(message);
    this.exitCode = exitCode;
    this.usage = options.usage ?? false;
  }
}

/** A user error (bad option or value): one line, a usage hint, exit 2. */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT.USAGE, { usage: true });
}
