/**
 * The runbook the exporter ships (prometheus/runbook.md), served at /runbook on the private listener
 * in the site's frame: the address the Helm chart's alerts link to by default. The Markdown is the
 * small subset the runbook is written in (headings, paragraphs, lists, tables, rules, code, bold,
 * links), rendered here so the exporter needs no Markdown dependency. Headings get GitHub's anchors,
 * so a runbook_url works the same on this page and on a Git host's rendering of the file.
 */
import { RUNBOOK_MARKDOWN } from './runbook-source.js';
import { siteBottom, siteTop } from './site.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

/** Heading text without its inline Markdown (what GitHub slugs). */
const plainText = (s: string) => s.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');

function emphasis(escaped: string): string {
  return escaped
    .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[\s(])\*([^*\s](?:[^*]*[^*\s])?)\*(?=[\s.,;:)]|$)/g, '$1<em>$2</em>');
}

/** Links to other files of the repository mean nothing here: they keep their text, not the link. */
const linkable = (href: string) => /^https?:\/\//.test(href) || href.startsWith('#');

function inline(s: string): string {
  let out = '';
  let at = 0;
  for (const m of s.matchAll(/`([^`]+)`|\[((?:[^\]`]|`[^`]*`)+)\]\(([^)\s]+)\)/g)) {
    out += emphasis(esc(s.slice(at, m.index)));
    if (m[1] !== undefined) out += `<code>${esc(m[1])}</code>`;
    else out += linkable(m[3]!) ? `<a href="${esc(m[3]!)}">${inline(m[2]!)}</a>` : inline(m[2]!);
    at = m.index + m[0].length;
  }
  return out + emphasis(esc(s.slice(at)));
}

const cells = (line: string) => line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
const LIST_ITEM = /^(?:([-*])|(\d+)\.)\s+(.*)$/;

export interface RenderedMarkdown {
  html: string;
  /** Every heading's anchor, in order. */
  anchors: string[];
}

export function renderMarkdown(markdown: string): RenderedMarkdown {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const anchors: string[] = [];
  const seen = new Map<string, number>();
  // A table cell that is exactly a heading's text links to it (the alert tables).
  const headingTexts = new Map<string, string>();
  const out: string[] = [];
  let i = 0;
  const anchorFor = (text: string) => {
    const base = headingAnchor(plainText(text));
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base}-${n}`;
  };
  {
    const probe = new Map<string, number>();
    for (const line of lines) {
      const h = /^#{1,6}\s+(.+?)\s*#*$/.exec(line);
      if (!h) continue;
      const base = headingAnchor(plainText(h[1]!));
      const n = probe.get(base) ?? 0;
      probe.set(base, n + 1);
      if (n === 0) headingTexts.set(plainText(h[1]!), base);
    }
  }
  const cell = (c: string, tag: 'td' | 'th') => {
    const target = tag === 'td' ? headingTexts.get(c) : undefined;
    return `<${tag}>${target ? `<a href="#${esc(target)}">${esc(c)}</a>` : inline(c)}</${tag}>`;
  };

  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = /^```/.exec(line);
    if (fence) {
      const body: string[] = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]!); i++) body.push(lines[i]!);
      i++;
      out.push(`<pre><code>${esc(body.join('\n'))}</code></pre>`);
      continue;
    }
    const heading = /^(#{1,6})\s+(.+?)\s*#*$/.exec(line);
    if (heading) {
      const level = heading[1]!.length;
      const anchor = anchorFor(heading[2]!);
      anchors.push(anchor);
      out.push(`<h${level} id="${esc(anchor)}">${inline(heading[2]!)} <a class="anchor" href="#${esc(anchor)}" aria-label="Link to this section">#</a></h${level}>`);
      i++;
      continue;
    }
    if (/^\s*(?:-{3,}|\*{3,}|_{3,})\s*$/.test(line)) {
      out.push('<hr>');
      i++;
      continue;
    }
    if (line.trimStart().startsWith('|') && /^\s*\|?\s*:?-{3,}/.test(lines[i + 1] ?? '')) {
      const head = cells(line);
      const rows: string[][] = [];
      for (i += 2; i < lines.length && lines[i]!.trimStart().startsWith('|'); i++) rows.push(cells(lines[i]!));
      out.push(
        `<table><thead><tr>${head.map((c) => cell(c, 'th')).join('')}</tr></thead>` +
          `<tbody>${rows.map((r) => `<tr>${r.map((c) => cell(c, 'td')).join('')}</tr>`).join('')}</tbody></table>`,
      );
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item) {
      const ordered = item[2] !== undefined;
      const items: string[] = [];
      while (i < lines.length) {
        const m = LIST_ITEM.exec(lines[i]!);
        if (m && (m[2] !== undefined) === ordered) {
          items.push(m[3]!);
          i++;
        } else if (/^\s+\S/.test(lines[i]!) && items.length > 0) {
          items[items.length - 1] += ` ${lines[i]!.trim()}`;
          i++;
        } else {
          // A blank line between items of one list keeps the list.
          const next = lines[i]!.trim() === '' ? LIST_ITEM.exec(lines[i + 1] ?? '') : null;
          if (!next || (next[2] !== undefined) !== ordered) break;
          i++;
        }
      }
      const tag = ordered ? 'ol' : 'ul';
      out.push(`<${tag}>${items.map((t) => `<li>${inline(t)}</li>`).join('')}</${tag}>`);
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '' && !/^(#{1,6}\s|```|\s*\|)/.test(lines[i]!) && !LIST_ITEM.test(lines[i]!)) para.push(lines[i++]!.trim());
    out.push(`<p>${inline(para.join(' '))}</p>`);
  }
  return { html: out.join('\n'), anchors };
}

const RUNBOOK_CSS = `
.runbook{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 28px 24px;max-width:1040px}
.runbook h1{font-size:22px}
.runbook h2{font-size:18px;margin-top:28px;padding-top:12px;border-top:1px solid #e6e9ed}
.runbook h1,.runbook h2,.runbook h3{scroll-margin-top:12px}
.runbook :target{background:#fff8c5;box-shadow:0 0 0 6px #fff8c5;border-radius:2px}
.runbook a.anchor{color:#8c959f;text-decoration:none;font-weight:400;font-size:14px;visibility:hidden}
.runbook h1:hover a.anchor,.runbook h2:hover a.anchor,.runbook h3:hover a.anchor{visibility:visible}
.runbook p,.runbook li{max-width:90ch}
.runbook table{width:auto}
.runbook hr{border:none;border-top:2px solid #d0d7de;margin:24px 0}
.runbook pre{background:#eff1f3;padding:8px 12px;border-radius:6px;overflow-x:auto}
.runbook code{overflow-wrap:anywhere}
`;

let cached: { version: string; page: string } | undefined;

/** The /runbook page; the same for every request, so rendered once. */
export function runbookPage(version: string): string {
  if (cached?.version === version) return cached.page;
  const { html } = renderMarkdown(RUNBOOK_MARKDOWN);
  const page = `${siteTop({ title: 'Runbook · whatsapp-exporter', page: 'runbook', refresh: 0, fixed: true, meta: `version ${version}`, css: RUNBOOK_CSS })}
<article class="runbook">
${html}
</article>
${siteBottom()}`;
  cached = { version, page };
  return page;
}
