import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as api from '../src/index.js';

// The README is the documented API: what the package exports, its error codes and statuses,
// and its event names must all be there, and the error table must say what the code does.
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');

/** The text of one README section, from its heading to the next heading of any level. */
function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`README.md has no section "${heading}"`);
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(/\n#{2,4} /);
  return end === -1 ? rest : rest.slice(0, end);
}

describe('README reference', () => {
  it('the error table lists every code with the status ERROR_STATUS gives it, and nothing else', () => {
    const rows = [...section('### Errors').matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(rows)).to.deep.equal({ ...api.ERROR_STATUS });
    expect(rows).to.have.length(Object.keys(api.ERROR_STATUS).length);
  });

  it('names every runtime export of the package', () => {
    const missing = Object.keys(api).filter((name) => !new RegExp(`\`(?:new )?${name}\\b`).test(readme));
    expect(missing).to.deep.equal([]);
  });

  it('the events table lists every event name', () => {
    const rows = [...section('### Audit events').matchAll(/^\| `([a-z]+\.[a-z]+)` \|/gm)].map((m) => m[1]);
    expect(rows).to.deep.equal([...api.EVENT_NAMES]);
  });
});
