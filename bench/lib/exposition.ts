/** A small parser of the Prometheus text format, enough to count, read and rebuild what an exporter serves. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: string;
  samples: Sample[];
}

function parseValue(raw: string): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  return Number(raw);
}

function parseLabels(s: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start;
  while (s[i] !== '}') {
    if (s[i] === ',') i++;
    if (s[i] === '}') break;
    const eq = s.indexOf('=', i);
    const name = s.slice(i, eq).trim();
    i = eq + 2; // past ="
    let value = '';
    while (s[i] !== '"') {
      if (s[i] === '\\') {
        const next = s[i + 1];
        value += next === 'n' ? '\n' : next;
        i += 2;
      } else {
        value += s[i];
        i++;
      }
    }
    labels[name] = value;
    i++; // past the closing quote
  }
  return { labels, end: i + 1 };
}

export function parseSampleLine(line: string): Sample {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  if (brace !== -1 && (space === -1 || brace < space)) {
    const { labels, end } = parseLabels(line, brace + 1);
    return { name: line.slice(0, brace), labels, value: parseValue(line.slice(end).trim().split(' ')[0]!) };
  }
  return { name: line.slice(0, space), labels: {}, value: parseValue(line.slice(space + 1).trim().split(' ')[0]!) };
}

/** Families in order of appearance; samples of a histogram (_bucket, _sum, _count) stay with their family. */
export function parseExposition(text: string): Family[] {
  const families: Family[] = [];
  const byName = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = byName.get(name);
    if (!f) {
      f = { name, help: '', type: 'untyped', samples: [] };
      byName.set(name, f);
      families.push(f);
    }
    return f;
  };
  let current: Family | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7);
      const sp = rest.indexOf(' ');
      current = family(rest.slice(0, sp));
      current.help = rest.slice(sp + 1).replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    } else if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      current = family(name!);
      current.type = type!;
    } else if (!line.startsWith('#')) {
      const sample = parseSampleLine(line);
      const owner = current && sample.name.startsWith(current.name) ? current : family(sample.name);
      owner.samples.push(sample);
    }
  }
  return families;
}

export function countSeries(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line !== '' && !line.startsWith('#')) n++;
  return n;
}

/** Sum of a metric's samples whose labels include `labels`. */
export function sumOf(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const f of parseExposition(text)) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
  }
  return total;
}
