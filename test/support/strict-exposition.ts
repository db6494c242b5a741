/**
 * A strict reading of the Prometheus text format, as Python's prometheus_client and other strict
 * consumers read it: a raw control character (C0 such as CR or NUL, DEL, C1, U+2028/U+2029) in a label
 * value, an unknown escape, or a label value longer than `maxLabelValueLength` fails the whole scrape.
 * Returns the problems found (empty when the exposition is clean).
 */
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)$/;

export function strictExpositionProblems(text: string, maxLabelValueLength: number): string[] {
  const problems: string[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) !== '') problems.push('the exposition does not end with a newline');
  for (const [n, line] of lines.entries()) {
    const at = `line ${n + 1}`;
    if (line === '' || line.startsWith('#')) {
      if (CONTROL.test(line.replace(/\t/g, ''))) problems.push(`${at}: raw control character in a comment`);
      continue;
    }
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space;
    if (nameEnd <= 0) { problems.push(`${at}: no metric name`); continue; }
    if (!NAME.test(line.slice(0, nameEnd))) problems.push(`${at}: bad metric name`);
    let i = nameEnd;
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        const eq = line.indexOf('=', i);
        if (eq < 0) { problems.push(`${at}: unterminated labels`); break; }
        if (!LABEL_NAME.test(line.slice(i, eq))) problems.push(`${at}: bad label name`);
        if (line[eq + 1] !== '"') { problems.push(`${at}: label value not quoted`); break; }
        let j = eq + 2;
        let value = '';
        for (; j < line.length && line[j] !== '"'; j++) {
          const c = line[j]!;
          if (c === '\\') {
            const e = line[++j];
            if (e === 'n') value += '\n';
            else if (e === '\\' || e === '"') value += e;
            else problems.push(`${at}: unknown escape \\${e ?? ''}`);
          } else {
            if (CONTROL.test(c)) problems.push(`${at}: raw control character U+${c.charCodeAt(0).toString(16).padStart(4, '0')} in a label value`);
            value += c;
          }
        }
        if (j >= line.length) { problems.push(`${at}: unterminated label value`); break; }
        if ([...value].length > maxLabelValueLength) problems.push(`${at}: label value of ${value.length} characters`);
        i = j + 1;
        if (line[i] === ',') i++;
        else if (line[i] !== '}') { problems.push(`${at}: expected , or }`); break; }
      }
      i++;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    if (line[i] !== ' ' || rest.length < 1 || rest.length > 2 || !VALUE.test(rest[0]!)) problems.push(`${at}: bad sample value`);
  }
  return problems;
}
