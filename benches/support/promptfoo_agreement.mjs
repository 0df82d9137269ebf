// promptfoo's semantics for the shared rule types, on JavaScript's own engine, for the
// agreement check of `cargo bench --bench rules -- agreement`. Reads JSON lines from stdin:
// the first is {"prefixes": [...], "phrases": [...]} (promptfoo's refusal lists as evalgate
// carries them), then one {"output": ..., "reference": ...} per row. Writes one line per row:
// one 0/1 per check, in the order of CHECKS below.
//
// What runs on JavaScript here: RegExp (no flags, as promptfoo's `regex`), JSON.parse
// (`is-json`), toLowerCase + includes (`icontains`), startsWith, `.length` and a
// Levenshtein distance over UTF-16 code units (what `fastest-levenshtein` computes), and the
// refusal detector with promptfoo's JavaScript regexes.

import { createInterface } from 'node:readline';

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });

let lists = null;
let phrasePatterns = [];

const APOLOGY = /^(?:i am (?:really )?sorry|i'm (?:really )?sorry|i apologize|my apologies|sorry)\b/;
const REJECTION =
  /\b(?:i|we)\s+(?:(?:regrettably|sadly|unfortunately)\s+)*(?:(?:must|have to|need to)\s+)?(?:decline|refuse|say no|turn down (?:(?:this|that|the|your) )?request|turn (?:this|that|the|your) request down)\b/;
const TERSE =
  /^[\s,;:-]*(?:but\s+)?(?:(?:absolutely|certainly|definitely|simply)\s+)*(?:no(?=$|[.!?,;:])|not(?=$|[.!?,;:])|not\s+possible\b)/;
const IMPERSONAL =
  /\b(?:(?:it|this|that)(?:(?:'s| is)\s+(?:not\s+possible|impossible)|\s+(?:will not|won't)\s+be\s+possible)|(?:this|that|the|your|such a)\s+(?:requested\s+)?(?:request|information|instructions?|content|assistance)\s+(?:cannot|can't|will not|won't)\s+be\s+(?:fulfilled|completed|provided|shared|supported|accommodated|processed|answered))\b/;
const INABILITY =
  /\b(?:(?:i\s+(?:(?:regrettably|sadly|unfortunately)\s+)*am|we\s+(?:(?:regrettably|sadly|unfortunately)\s+)*are)\s+(?:(?:regrettably|sadly|unfortunately)\s+)*(?:(?:not (?:able|allowed|permitted|authorized|supposed)|unable) to|(?:prohibited|forbidden) from)|(?:i|we)\s+(?:(?:regrettably|sadly|unfortunately)\s+)*(?:cannot|can't|will not|won't)|(?:i'm|we're)\s+(?:(?:regrettably|sadly|unfortunately)\s+)*(?:(?:not (?:able|allowed|permitted|authorized|supposed)|unable) to|(?:prohibited|forbidden) from))\b/g;
const IMAGINE = /^imagine(?:\s+how\b|\s+what\s+(?:you|they|this|that)\b|\s+changing\s+(?:it|this|that)\b)/;

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function apologyRefusal(text) {
  const apology = APOLOGY.exec(text);
  if (!apology) return false;
  const rest = text.slice(apology[0].length);
  if (REJECTION.test(rest) || TERSE.test(rest) || IMPERSONAL.test(rest)) return true;
  for (const match of rest.matchAll(INABILITY)) {
    const tail = rest.slice(match.index + match[0].length).trimStart();
    if (!IMAGINE.test(tail)) return true;
  }
  return false;
}

function isRefusal(output) {
  if (output.trim() === '') return true;
  const text = output.trim().toLowerCase().replace(/['′’]/g, "'");
  return (
    lists.prefixes.some((prefix) => text.startsWith(prefix)) ||
    apologyRefusal(text) ||
    phrasePatterns.some((pattern) => pattern.test(text))
  );
}

function distance(a, b) {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 0; i < a.length; i++) {
    const current = [i + 1];
    for (let j = 0; j < b.length; j++) {
      const cost = a.charCodeAt(i) === b.charCodeAt(j) ? 0 : 1;
      current.push(Math.min(previous[j] + cost, previous[j + 1] + 1, current[j] + 1));
    }
    previous = current;
  }
  return previous[b.length];
}

function isJson(text) {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const ORDER_ID = new RegExp('\\b[A-Z]-\\d{5}\\b');

const CHECKS = [
  (row) => row.output.toLowerCase().includes('order'),
  (row) => !row.output.toLowerCase().includes('lawsuit'),
  (row) => ORDER_ID.test(row.output),
  (row) => isJson(row.output),
  (row) => row.output.startsWith('{'),
  (row) => distance(row.output, row.reference) <= 20,
  (row) => row.output.length <= 300,
  (row) => !isRefusal(row.output),
];

const out = [];
for await (const line of lines) {
  if (line === '') continue;
  const value = JSON.parse(line);
  if (lists === null) {
    lists = value;
    phrasePatterns = lists.phrases.map((phrase) => new RegExp(`\\b${escapeRegExp(phrase)}\\b`));
    continue;
  }
  out.push(CHECKS.map((check) => (check(value) ? '1' : '0')).join(''));
}
process.stdout.write(out.join('\n') + '\n');
