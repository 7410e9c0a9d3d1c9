// `vigil serve --user NAME`: started as root, the daemon binds, opens its vaults and watermark
// store, then runs as NAME; it keeps signing (watermark commits included) and cannot become root
// again. Skipped unless the test runs as root (as CI does).
import fs from 'node:fs';
import path from 'node:path';
import { test, assert, skip, runMain } from './lib/harness.mjs';
import { mkTemp, freePort, startVigil, stopVigil, writeSecretFile, writeConfig, postSign } from './lib/vigil.mjs';
import * as T from './lib/tezos.mjs';

async function main() {
  if (process.getuid() !== 0) skip('needs root to drop privileges');
  const dir = mkTemp('vigil-priv-');
  const key = await T.makeKey('tz1', 'priv-tz1');
  const secretFile = path.join(dir, 'secret.json');
  writeSecretFile(secretFile, [key]);
  const [port, uport] = [await freePort(), await freePort()];
  const cfg = path.join(dir, 'vigil.yaml');
  writeConfig(cfg, { baseDir: path.join(dir, 'base'), port, uport, secretFile, policies: { [key.pkh]: null } });
  let d = null;
  try {
    d = await startVigil(['-c', cfg, '--user', 'nobody'], { uport });
    await test('runs as nobody after start-up, every uid and gid', async () => {
      const status = fs.readFileSync(`/proc/${d.child.pid}/status`, 'utf8');
      assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
      assert.match(status, /^Gid:\s+65534\s+65534\s+65534\s+65534$/m);
      assert.match(d.log, /running as nobody/);
    });
    await test('still signs consensus operations: the durable watermark stays writable', async () => {
      const base = `http://127.0.0.1:${port}`;
      for (const level of [10, 11]) {
        const msg = T.concat(T.wmAttestation(), T.unhex(await T.forgeAttestation(level, 0, `priv-${level}`)));
        const r = await postSign(base, key.pkh, T.hex(msg));
        assert.equal(r.status, 200, r.text);
        assert.ok(T.nobleVerify('tz1', key.pk, r.json.signature, msg));
      }
      const again = T.concat(T.wmAttestation(), T.unhex(await T.forgeAttestation(11, 0, 'priv-other')));
      assert.equal((await postSign(base, key.pkh, T.hex(again))).status, 409);
    });
  } finally {
    await stopVigil(d);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await runMain(main);
