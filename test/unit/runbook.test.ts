import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { headingAnchor, renderMarkdown, runbookPage } from '../../src/server/runbook.js';
import { RUNBOOK_MARKDOWN } from '../../src/server/runbook-source.js';

type Rules = { groups: Array<{ rules: Array<{ alert?: string; annotations?: { runbook_url?: string } }> }> };
const alerts = (parseYaml(readFileSync(new URL('../../prometheus/alerts.yaml', import.meta.url), 'utf8')) as Rules).groups
  .flatMap((g) => g.rules)
  .filter((r) => r.alert);

describe('the runbook page (/runbook)', () => {
  it('is the runbook of prometheus/ (the generated module is up to date)', () => {
    expect(RUNBOOK_MARKDOWN).toBe(readFileSync(new URL('../../prometheus/runbook.md', import.meta.url), 'utf8'));
  });

  it('has a section at the anchor of every alert\'s runbook_url', () => {
    const ids = new Set([...runbookPage('test').matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]));
    expect(alerts.length).toBeGreaterThan(10);
    for (const rule of alerts) {
      const anchor = rule.annotations!.runbook_url!.split('#')[1]!;
      expect(anchor).toBe(rule.alert!.toLowerCase());
      expect(ids.has(anchor), rule.alert).toBe(true);
    }
  });

  it('is a page of the site without refresh and without script', () => {
    const page = runbookPage('1.2.3');
    expect(page).toContain('<a href="/runbook" aria-current="page">Runbook</a>');
    expect(page).toContain('<a href="/">Status</a>');
    expect(page).not.toMatch(/http-equiv="refresh"|<script/i);
    expect(page).toContain('version 1.2.3');
  });
});

describe('renderMarkdown', () => {
  it('gives headings GitHub\'s anchors, numbered when repeated', () => {
    const { html, anchors } = renderMarkdown('# Run book: the `first` one!\n\n## Act\n\ntext\n\n## Act\n');
    expect(anchors).toEqual(['run-book-the-first-one', 'act', 'act-1']);
    expect(html).toContain('<h1 id="run-book-the-first-one">Run book: the <code>first</code> one!');
    expect(headingAnchor('WhatsAppPhoneNumberFlagged')).toBe('whatsappphonenumberflagged');
  });

  it('escapes everything, code and link text included', () => {
    const { html } = renderMarkdown('a <script>x</script> & `<b>` [<i>](https://e.example/?a=1&b="2")');
    expect(html).toBe('<p>a &lt;script&gt;x&lt;/script&gt; &amp; <code>&lt;b&gt;</code> <a href="https://e.example/?a=1&amp;b=&quot;2&quot;">&lt;i&gt;</a></p>');
  });

  it('keeps links to the web and to sections, and only the text of links to repository files', () => {
    const { html } = renderMarkdown('See [`alerts.yaml`](alerts.yaml), [Meta](https://developers.facebook.com/) and [below](#act); javascript: [x](javascript:void).');
    expect(html).toBe('<p>See <code>alerts.yaml</code>, <a href="https://developers.facebook.com/">Meta</a> and <a href="#act">below</a>; javascript: x.</p>');
  });

  it('renders lists with continuation lines, ordered lists, rules, bold and tables whose cells name a section', () => {
    const md = [
      '- **one** item', '  continued', '- two', '', '1. first', '2. second', '   more', '', '---', '',
      '| Alert | Severity |', '|---|---|', '| Act | warning |', '', '## Act', '',
    ].join('\n');
    expect(renderMarkdown(md).html).toBe([
      '<ul><li><strong>one</strong> item continued</li><li>two</li></ul>',
      '<ol><li>first</li><li>second more</li></ol>',
      '<hr>',
      '<table><thead><tr><th>Alert</th><th>Severity</th></tr></thead><tbody><tr><td><a href="#act">Act</a></td><td>warning</td></tr></tbody></table>',
      '<h2 id="act">Act <a class="anchor" href="#act" aria-label="Link to this section">#</a></h2>',
    ].join('\n'));
  });
});
