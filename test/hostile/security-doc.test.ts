/**
 * The hardened example of docs/security.md is a configuration olelo accepts, with the settings it shows.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/core/config.js';
import { moduleSchemas } from '../../src/core/module.js';
import { builtinModules } from '../../src/script/api.js';
import { ROOT } from '../helpers/server.js';

describe('docs/security.md', () => {
  it('has a hardened example that loads, with the overload and TLS settings in force', () => {
    const md = readFileSync(join(ROOT, 'docs', 'security.md'), 'utf8');
    const start = md.lastIndexOf('```yaml\n');
    assert.ok(start !== -1, 'a yaml example');
    const text = md.slice(start + 8, md.indexOf('```', start + 8));
    const config = loadConfig({ text, env: {}, cwd: ROOT, moduleSchemas: moduleSchemas(builtinModules) });
    assert.equal(config.limits.maxTransactions, 50_000);
    assert.equal(config.limits.memoryHighWatermark, 0.8);
    assert.equal(config.limits.maxEventLoopUtilization, 0.9);
    assert.equal(config.tls.minVersion, 'TLSv1.2');
    assert.match(config.tls.ciphers ?? '', /^ECDHE-/);
  });
});
