// Generates the benchmark fixture for bench/run.sh (keys need Taquito, hence this lives here):
//   node tests/integration/lib/benchgen.mjs OUTDIR
// writes OUTDIR/secret_keys.json, OUTDIR/vigil.yaml (free ports, file vault, file watermark),
// OUTDIR/body_generic.json (JSON hex string of 0x03 || reveal+transaction, 150 bytes),
// OUTDIR/keys.env (shell variables: PORT, UPORT, TZ1..TZ4, WM32_TZ1, WM32_TZ4 comma lists).
import fs from 'node:fs';
import path from 'node:path';
import * as T from './tezos.mjs';
import { freePort, writeSecretFile, writeConfig } from './vigil.mjs';

const out = process.argv[2];
if (!out) { console.error('usage: benchgen.mjs OUTDIR'); process.exit(2); }
fs.mkdirSync(out, { recursive: true });

const main = {};
for (const k of ['tz1', 'tz2', 'tz3', 'tz4']) main[k] = await T.makeKey(k);
const many = { tz1: [], tz4: [] };
for (const k of ['tz1', 'tz4']) {
  for (let i = 0; i < 32; i++) many[k].push(await T.makeKey(k, `bench-${k}-${i}`));
}
const all = [...Object.values(main), ...many.tz1, ...many.tz4];
writeSecretFile(path.join(out, 'secret_keys.json'), all.map((k, i) => ({ name: `k${i}`, sk: k.sk })));

const port = await freePort();
let uport = await freePort();
while (uport === port) uport = await freePort();
const policies = {};
for (const k of all) policies[k.pkh] = { allow: { attestation: [], generic: ['reveal', 'transaction'] } };
writeConfig(path.join(out, 'vigil.yaml'), {
  baseDir: path.join(out, 'base'), port, uport, secretFile: path.join(out, 'secret_keys.json'), policies,
});

// The same 150-byte message crypto_floor signs (the signatures_taquito.json reveal+transaction).
const rt = await T.forgeRevealTransaction(main.tz1);
fs.writeFileSync(path.join(out, 'body_generic.json'), JSON.stringify('03' + rt));

const env = [
  `PORT=${port}`, `UPORT=${uport}`,
  ...['tz1', 'tz2', 'tz3', 'tz4'].map((k) => `${k.toUpperCase()}=${main[k].pkh}`),
  `WM32_TZ1=${many.tz1.map((k) => k.pkh).join(',')}`,
  `WM32_TZ4=${many.tz4.map((k) => k.pkh).join(',')}`,
];
fs.writeFileSync(path.join(out, 'keys.env'), env.join('\n') + '\n');
console.log(`benchgen: ${all.length} keys, ports ${port}/${uport}, in ${out}`);
