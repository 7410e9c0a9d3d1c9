// Independent check of vigil-enclave signatures with @noble/curves (installed for the integration
// tests). Input file: one line per signature, "kind pk_hex msg_hex sig_hex version", kind one of
// ed25519 secp256k1 p256 bls bls-pop. Prints "verified N" and exits 0 when every line verifies.
// Used by test_enclave.c; imports by relative path so it needs no node_modules of its own.
import { readFileSync } from 'node:fs';
import { ed25519 } from '../integration/node_modules/@noble/curves/ed25519.js';
import { secp256k1 } from '../integration/node_modules/@noble/curves/secp256k1.js';
import { p256 } from '../integration/node_modules/@noble/curves/nist.js';
import { bls12_381 } from '../integration/node_modules/@noble/curves/bls12-381.js';
import { blake2b } from '../integration/node_modules/@noble/hashes/blake2.js';

const enc = new TextEncoder();
const DST_POP = enc.encode('BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_');
const DST_AUG = enc.encode('BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_AUG_');
const DST_POP_POP = enc.encode('BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_');
const unhex = (h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
const digest = (m) => blake2b(m, { dkLen: 32 });

function verify(kind, pk, msg, sig, version) {
  const ls = bls12_381.longSignatures;
  switch (kind) {
    case 'ed25519': return ed25519.verify(sig, digest(msg), pk);
    // vigil normalises both curves to low S; demand it.
    case 'secp256k1': return secp256k1.verify(sig, digest(msg), pk, { prehash: false, lowS: true });
    case 'p256': return p256.verify(sig, digest(msg), pk, { prehash: false, lowS: true });
    case 'bls':
      if (version === 1) {
        const m = new Uint8Array(pk.length + msg.length);
        m.set(pk); m.set(msg, pk.length);
        return ls.verify(sig, ls.hash(m, DST_AUG), pk);
      }
      return ls.verify(sig, ls.hash(msg, DST_POP), pk);
    case 'bls-pop': return ls.verify(sig, ls.hash(pk, DST_POP_POP), pk);
    default: throw new Error(`unknown kind ${kind}`);
  }
}

let n = 0;
let bad = 0;
for (const line of readFileSync(process.argv[2], 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const [kind, pk, msg, sig, version] = line.trim().split(/\s+/);
  n++;
  if (!verify(kind, unhex(pk), unhex(msg === '-' ? '' : msg), unhex(sig), Number(version))) {
    bad++;
    console.error(`FAILED: ${line}`);
  }
}
console.log(`verified ${n - bad} of ${n}`);
process.exit(bad === 0 && n > 0 ? 0 : 1);
