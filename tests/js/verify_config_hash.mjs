// Recompute a published config's content_sha256 the way a non-Python gateway would: RFC 8785 (JCS),
// i.e. JSON.stringify with object keys sorted by UTF-16 code units, over the config without content_sha256.
// Usage: node verify_config_hash.mjs FILE...   prints one JSON line per file: {file, expected, computed, ok}
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

function canonicalize(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return '[' + value.map(canonicalize).join(',') + ']';
  return '{' + Object.keys(value).sort().map((k) => JSON.stringify(k) + ':' + canonicalize(value[k])).join(',') + '}';
}

if (process.argv[2] === '--numbers') {       // ECMAScript number text, to compare with llmopt's
  console.log(JSON.stringify(JSON.parse(process.argv[3]).map((x) => canonicalize(x))));
  process.exit(0);
}
for (const file of process.argv.slice(2)) {
  const config = JSON.parse(readFileSync(file, 'utf8'));
  const expected = config.content_sha256;
  delete config.content_sha256;
  const computed = createHash('sha256').update(canonicalize(config), 'utf8').digest('hex');
  console.log(JSON.stringify({ file, expected, computed, ok: expected === computed }));
}
