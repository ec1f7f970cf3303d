// The fenced code blocks of a markdown page (README.md, docs/*.md), with the marker comment on the line
// before each fence: <!-- run-as: name.ext --> or <!-- not-run: why; covered by … --> (see test/package/readme.test.ts).
export interface Block { page: string; line: number; lang: 'js' | 'ts'; code: string; runAs?: string; notRun?: string }

/** The js / ts blocks of one markdown page, with the marker of the line before each fence. */
export function codeBlocks(page: string, text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i]);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (end < 0) throw new Error(`${page}:${i + 1}: unclosed fence`);
    const lang = open[1];
    if (lang === 'js' || lang === 'ts') {
      const marker = lines[i - 1] ?? '';
      blocks.push({
        page, line: i + 1, lang, code: lines.slice(i + 1, end).join('\n') + '\n',
        runAs: /<!-- run-as: (\S+) -->/.exec(marker)?.[1],
        notRun: /<!-- not-run: (.+?) -->/.exec(marker)?.[1],
      });
    }
    i = end;
  }
  return blocks;
}
