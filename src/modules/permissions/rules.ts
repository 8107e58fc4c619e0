/**
 * Routing rules by From and Request-URI (Kamailio's `permissions.allow` / `permissions.deny` files and
 * `allow_routing`). A line is `FROM_LIST : REQUEST_URI_LIST`; a list is `ALL`, or regular expressions in
 * double quotes separated by commas, either followed by `EXCEPT` and more expressions. Expressions are
 * JavaScript regular expressions matched case-insensitively against the From URI and the Request-URI
 * as written (`sip:alice@example.com;transport=tcp`). `#` starts a comment outside quotes.
 */

/** One side of a rule. */
interface Side {
  /** undefined: ALL. */
  readonly include: readonly RegExp[] | undefined;
  readonly except: readonly RegExp[];
}

/** One rule. */
export interface Rule {
  readonly from: Side;
  readonly requestUri: Side;
  /** `FILE:LINE`. */
  readonly origin: string;
}

/** A rule file's error: `FILE:LINE: message`. */
export class RuleFileError extends Error {
  override readonly name = 'RuleFileError';
}

type Token = { kind: 'word'; text: string } | { kind: 'regex'; text: string } | { kind: ','; text: ',' };

/** Splits a line into tokens; the top-level `:` is handled by the caller. */
function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') i++;
    else if (c === ',') {
      out.push({ kind: ',', text: ',' });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let body = '';
      while (j < text.length && text[j] !== '"') {
        // \" is a quote inside the expression; any other backslash stays for the regex
        if (text[j] === '\\' && text[j + 1] === '"') {
          body += '"';
          j += 2;
        } else body += text[j++];
      }
      if (j >= text.length) throw new Error('unterminated quoted expression');
      out.push({ kind: 'regex', text: body });
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !' \t,"'.includes(text[j]!)) j++;
      out.push({ kind: 'word', text: text.slice(i, j) });
      i = j;
    }
  }
  return out;
}

function compile(source: string): RegExp {
  try {
    return new RegExp(source, 'i');
  } catch (error) {
    throw new Error(`bad regular expression "${source}": ${(error as Error).message}`);
  }
}

function parseExpressions(tokens: Token[], from: number): { list: RegExp[]; next: number } {
  const list: RegExp[] = [];
  let i = from;
  for (;;) {
    const t = tokens[i];
    if (t?.kind !== 'regex') throw new Error(`expected a quoted expression${t ? `, got ${t.text}` : ''}`);
    list.push(compile(t.text));
    i++;
    if (tokens[i]?.kind !== ',') return { list, next: i };
    i++;
  }
}

function parseSide(text: string, what: string): Side {
  const tokens = tokenize(text);
  if (tokens.length === 0) throw new Error(`the ${what} list is empty`);
  let include: RegExp[] | undefined;
  let i = 0;
  const first = tokens[0]!;
  if (first.kind === 'word' && first.text.toUpperCase() === 'ALL') i = 1;
  else {
    const r = parseExpressions(tokens, 0);
    include = r.list;
    i = r.next;
  }
  let except: RegExp[] = [];
  const t = tokens[i];
  if (t !== undefined) {
    if (t.kind !== 'word' || t.text.toUpperCase() !== 'EXCEPT')
      throw new Error(`expected EXCEPT or the end of the ${what} list, got ${t.text}`);
    const r = parseExpressions(tokens, i + 1);
    except = r.list;
    if (r.next !== tokens.length) throw new Error(`unexpected ${tokens[r.next]!.text} in the ${what} list`);
  }
  return { include, except };
}

/** The index of the first `char` outside double quotes (where `\\` escapes the next character), or -1. */
function indexOutsideQuotes(line: string, char: string): number {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === char && !quoted) return i;
  }
  return -1;
}

/** Removes a `#` comment outside quotes. */
function stripComment(line: string): string {
  const hash = indexOutsideQuotes(line, '#');
  return hash === -1 ? line : line.slice(0, hash);
}

/** Parses a rule file; throws a {@link RuleFileError} naming the file and line of the first bad rule. */
export function parseRuleFile(text: string, file: string): Rule[] {
  const rules: Rule[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = stripComment(lines[n]!).trim();
    if (line === '') continue;
    const origin = `${file}:${n + 1}`;
    try {
      const colon = indexOutsideQuotes(line, ':');
      if (colon === -1) throw new Error('expected FROM_LIST : REQUEST_URI_LIST');
      rules.push({
        from: parseSide(line.slice(0, colon), 'From'),
        requestUri: parseSide(line.slice(colon + 1), 'Request-URI'),
        origin,
      });
    } catch (error) {
      throw new RuleFileError(`${origin}: ${(error as Error).message}`);
    }
  }
  return rules;
}

function sideMatches(side: Side, value: string): boolean {
  if (side.include !== undefined && !side.include.some((r) => r.test(value))) return false;
  return !side.except.some((r) => r.test(value));
}

/** The first rule matching the pair, or undefined. */
export function matchRules(rules: readonly Rule[], from: string, requestUri: string): Rule | undefined {
  for (const rule of rules)
    if (sideMatches(rule.from, from) && sideMatches(rule.requestUri, requestUri)) return rule;
  return undefined;
}

/**
 * Kamailio's `allow_routing`: allowed when the pair matches a rule of the allow file; else denied when
 * it matches one of the deny file; else allowed.
 */
export function routingAllowed(
  allow: readonly Rule[],
  deny: readonly Rule[],
  from: string,
  requestUri: string,
): boolean {
  if (matchRules(allow, from, requestUri) !== undefined) return true;
  return matchRules(deny, from, requestUri) === undefined;
}
