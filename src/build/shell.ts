/**
 * Dockerfile word processing: quote removal and `$VAR`, `${VAR}`,
 * `${VAR:-x}`, `${VAR:+x}`, `${VAR?msg}`, `${VAR:?msg}` expansion, with
 * BuildKit's shell lexer rules (the one Docker 20.10's classic builder
 * vendors), its escape token and its error messages. Pure.
 */

/** Environment as `KEY=value` strings (later ones win) or a map. */
export type EnvInput = string[] | Map<string, string>;

/** `KEY=value` strings into a map; a bare `KEY` is the empty string, as BuildEnvs does. */
export function envMapOf(env: EnvInput): Map<string, string> {
  if (env instanceof Map) return env;
  const m = new Map<string, string>();
  for (const e of env) {
    const i = e.indexOf('=');
    if (i < 0) m.set(e, '');
    else m.set(e.slice(0, i), e.slice(i + 1));
  }
  return m;
}

/** A word-processing error (the caller prefixes its context). */
export class LexError extends Error {}

const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);
const isSpace = (c: string): boolean => /\s/u.test(c);
const isDigit = (c: string): boolean => /\p{Nd}/u.test(c);
const isLetter = (c: string): boolean => /\p{L}/u.test(c);

/** Word splitting while expanding: only unquoted, expanded whitespace splits words. */
class Words {
  word = '';
  words: string[] = [];
  inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch) && this.inWord) {
      if (this.word.length !== 0) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else if (!isSpace(ch)) this.addRawChar(ch);
  }
  addRawChar(ch: string): void {
    this.word += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.word += s;
    this.inWord = true;
  }
  result(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = '';
      this.inWord = false;
    }
    return this.words;
  }
}

/** One pass over one word. */
class Scanner {
  private readonly chars: string[];
  private pos = 0;

  constructor(
    word: string,
    private readonly env: Map<string, string>,
    private readonly escape: string,
  ) {
    this.chars = Array.from(word);
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }
  private next(): string | undefined {
    return this.chars[this.pos++];
  }

  /** Processes until `stop` (consumed) or the end; returns the text and the split words. */
  processStopOn(stop: string | undefined): [string, string[]] {
    let result = '';
    const words = new Words();
    while (this.peek() !== undefined) {
      const ch = this.peek() as string;
      if (stop !== undefined && ch === stop) {
        this.next();
        return [result, words.result()];
      }
      if (ch === "'" || ch === '"' || ch === '$') {
        const tmp =
          ch === "'" ? this.singleQuote() : ch === '"' ? this.doubleQuote() : this.dollar();
        result += tmp;
        if (ch === '$') words.addString(tmp);
        else words.addRawString(tmp);
        continue;
      }
      let c = this.next() as string;
      if (c === this.escape) {
        const n = this.next();
        if (n === undefined) break;
        c = n;
        words.addRawChar(c);
      } else words.addChar(c);
      result += c;
    }
    if (stop !== undefined) {
      throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
    }
    return [result, words.result()];
  }

  private singleQuote(): string {
    this.next();
    let result = '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) {
        throw new LexError('unexpected end of statement while looking for matching single-quote');
      }
      if (ch === "'") return result;
      result += ch;
    }
  }

  private doubleQuote(): string {
    this.next();
    let result = '';
    for (;;) {
      const p = this.peek();
      if (p === undefined) {
        throw new LexError('unexpected end of statement while looking for matching double-quote');
      }
      if (p === '"') {
        this.next();
        return result;
      }
      if (p === '$') {
        result += this.dollar();
        continue;
      }
      let ch = this.next() as string;
      if (ch === this.escape) {
        const n = this.peek();
        if (n === undefined) continue; // a trailing escape is dropped
        if (n === '"' || n === '$' || n === this.escape) ch = this.next() as string;
      }
      result += ch;
    }
  }

  private name(): string {
    let name = '';
    while (this.peek() !== undefined) {
      const ch = this.peek() as string;
      if (name.length === 0 && isDigit(ch)) {
        while (this.peek() !== undefined && isDigit(this.peek() as string)) name += this.next();
        return name;
      }
      if (name.length === 0 && SPECIAL_PARAMS.has(ch)) return this.next() as string;
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  private getEnv(name: string): string | undefined {
    return this.env.get(name);
  }

  /** The rest of a `${name<op>...}` up to the closing brace. */
  private untilBrace(): string {
    try {
      return this.processStopOn('}')[0];
    } catch (e) {
      if (this.peek() === undefined) throw new LexError("syntax error: missing '}'");
      throw e;
    }
  }

  private dollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return this.getEnv(name) ?? '';
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new LexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') {
      throw new LexError('syntax error: bad substitution');
    }
    const name = this.name();
    const ch = this.next();
    if (ch === '}') return this.getEnv(name) ?? '';
    if (ch === '?') {
      const word = this.untilBrace();
      const v = this.getEnv(name);
      if (v === undefined) throw new LexError(`${name}: ${word || 'is not allowed to be unset'}`);
      return v;
    }
    if (ch === ':') {
      const modifier = this.next();
      const word = this.untilBrace();
      const v = this.getEnv(name);
      switch (modifier) {
        case '+':
          return v ? word : '';
        case '-':
          return v ? v : word;
        case '?':
          if (v === undefined) {
            throw new LexError(`${name}: ${word || 'is not allowed to be unset'}`);
          }
          if (v === '') throw new LexError(`${name}: ${word || 'is not allowed to be empty'}`);
          return v;
        default:
          throw new LexError(`unsupported modifier (${modifier ?? ''}) in substitution`);
      }
    }
    throw new LexError("missing ':' in substitution");
  }
}

/** Shell-like word processing with a Dockerfile's escape token (`\` or a backtick). */
export class ShellLex {
  constructor(readonly escapeToken = '\\') {}

  private process(word: string, env: EnvInput): [string, string[]] {
    try {
      return new Scanner(word, envMapOf(env), this.escapeToken).processStopOn(undefined);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new LexError(`failed to process ${JSON.stringify(word)}: ${msg}`);
    }
  }

  /** Quotes removed and variables expanded; spaces between words kept. */
  processWord(word: string, env: EnvInput): string {
    return this.process(word, env)[0];
  }

  /** Like processWord, then split into words (after expansion, quotes respected). */
  processWords(word: string, env: EnvInput): string[] {
    return this.process(word, env)[1];
  }
}
