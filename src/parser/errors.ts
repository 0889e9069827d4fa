/**
 * The one error the parser throws. It names the place in the Dockerfile so the CLI
 * can print `file:line:col: message` and editors can jump to it.
 */
export class DockerfileError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly hint: string | undefined;

  constructor(file: string, line: number, column: number, message: string, hint?: string) {
    super(message);
    this.name = "DockerfileError";
    this.file = file;
    this.line = line;
    this.column = column;
    this.hint = hint;
  }

  /** `file:line:col: message`, the form compilers use. */
  format(): string {
    return `${this.file}:${this.line}:${this.column}: ${this.message}`;
  }
}

/** Thrown by helpers that do not know the location; the caller adds it. */
export class SyntaxProblem extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = "SyntaxProblem";
    this.hint = hint;
  }
}
