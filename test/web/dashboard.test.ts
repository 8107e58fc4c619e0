/**
 * The web dashboard end to end in a real browser: Debian's chromium driven by playwright-core against an
 * olelo server started here (the default service on a SQLite database, the control HTTP server on
 * 127.0.0.1 with an OS-assigned port, serving the built dashboard from dist/web/). An administrator is
 * created with the real CLI; then, in the browser: a login, a subscriber added through the UI, a SIPp
 * client registering with it, the location record on the Registrations page, a short SIPp load and the
 * Overview charts showing it, the other pages, and the refusal once logged out. Screenshots of every page
 * go to dist/test-output/web/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { runOlelo } from '../helpers/process.js';
import { ROOT } from '../helpers/server.js';
import { hasSipp, killAllSipp, tempDir } from '../helpers/sipp.js';
import {
  DOMAIN,
  finals,
  LOCAL,
  provision,
  registerArgs,
  type Service,
  serviceConfig,
  startService,
  succeeded,
} from '../service/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = join(ROOT, 'dist', 'test-output', 'web');
const WEB_INDEX = join(ROOT, 'dist', 'web', 'index.html');
const SKIP = !existsSync(CHROMIUM)
  ? `no browser at ${CHROMIUM} (Debian's chromium package: apt-get install chromium)`
  : !hasSipp()
    ? 'sipp is not installed'
    : false;

const ADMIN = { name: 'admin', password: 'dashboard-secret' };
/** Added with `first`, then given `password` in the UI; SIPp registers with the latter. */
const USER = { name: 'dana', first: 'dana-first', password: 'dana-secret', contactPort: 5099 };
const ADDRESS = `${USER.name}@${DOMAIN}`;
const CONTACT = `sip:${USER.name}@${LOCAL}:${USER.contactPort}`;
/** Two destinations that are never called (probing is off). */
const DISPATCHER = '1 sip:127.0.0.1:5097 0 0 duid=a\n      1 sip:127.0.0.1:5098 0 0 duid=b\n';
const CONTROL = 'control:\n  http:\n    listen: "127.0.0.1:0"\n  socket: "off"\n';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 250 ms until it holds; fails naming `what` after `timeoutMs`. */
async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

/** Bounded waits in the page (ms). */
const WAIT = 10_000;
const T = { timeout: 60_000 };

describe('web dashboard in chromium', { skip: SKIP }, () => {
  let dir: ReturnType<typeof tempDir>;
  let svc: Service;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  const pageErrors: string[] = [];

  const shot = (name: string) => page.screenshot({ path: join(OUTPUT, `${name}.png`), fullPage: true });
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });
  const chart = (title: string) => page.getByRole('figure', { name: title });
  /** A chart's figure attribute, as a number. */
  const chartValue = async (title: string, attribute: 'data-last-value' | 'data-max-value') =>
    Number(await chart(title).getAttribute(attribute));

  before(
    async () => {
      assert.ok(existsSync(WEB_INDEX), `${WEB_INDEX} is missing: build the dashboard first (npm run build)`);
      mkdirSync(OUTPUT, { recursive: true });
      dir = tempDir('olelo-web-');
      await provision(dir.path, { users: {}, domains: [DOMAIN] });
      const modules = `  dispatcher:\n    list: |\n      ${DISPATCHER}`;
      // the administrator is created by the real CLI, on the same database as the server
      const configFile = join(dir.path, 'olelo.yaml');
      writeFileSync(configFile, serviceConfig(dir.path, `${modules}${CONTROL}`));
      const added = await runOlelo(
        ['--config', configFile, 'admin', 'add', ADMIN.name, '--password', ADMIN.password],
        { cwd: dir.path, timeoutMs: 20_000 },
      );
      assert.equal(added.code, 0, `olelo admin add: ${added.stdout}${added.stderr}`);
      svc = await startService(dir.path, { modules, yaml: CONTROL });
      const address = svc.server.control?.httpAddress;
      assert.ok(address, 'the control HTTP server is not listening');
      base = `http://${LOCAL}:${address.port}`;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
        headless: true,
        timeout: 30_000,
      });
      context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 900 } });
      context.setDefaultTimeout(WAIT);
      page = await context.newPage();
      page.on('pageerror', (error) => pageErrors.push(error.message));
    },
    { timeout: 60_000 },
  );

  after(
    async () => {
      killAllSipp();
      await browser?.close().catch(() => {});
      await svc?.stop();
      dir?.remove();
    },
    { timeout: 30_000 },
  );

  it('refuses a wrong password, then logs in', T, async () => {
    await page.goto('/');
    await page.getByRole('heading', { name: /log in/i }).waitFor();
    await shot('login');
    await page.getByLabel('User name').fill(ADMIN.name);
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await nav('Overview').waitFor();
    assert.equal(await nav('Overview').getAttribute('aria-current'), 'page');
    await page.getByTestId('version').filter({ hasText: 'olelo' }).waitFor();
  });

  it('adds a subscriber through the UI and changes its password', T, async () => {
    await nav('Subscribers').click();
    await page.getByRole('heading', { name: 'Subscribers' }).waitFor();
    const form = page.getByRole('form', { name: 'Add a subscriber' });
    await form.getByLabel('Address').fill(ADDRESS);
    await form.getByLabel('Password').fill(USER.first);
    await form.getByRole('button', { name: 'Add subscriber' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Added ${ADDRESS}` })
      .waitFor();
    const table = page.getByRole('table', { name: 'Subscribers' });
    await table.getByRole('cell', { name: ADDRESS, exact: true }).waitFor();
    assert.equal((await svc.server.db.subscribers.get(USER.name, DOMAIN))?.password, USER.first);
    const row = table.getByRole('row').filter({ hasText: ADDRESS });
    await row.getByRole('button', { name: 'Change password' }).click();
    await row.getByLabel(`New password for ${ADDRESS}`).fill(USER.password);
    await row.getByRole('button', { name: 'Save password' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Changed the password of ${ADDRESS}` })
      .waitFor();
    assert.equal((await svc.server.db.subscribers.get(USER.name, DOMAIN))?.password, USER.password);
    // the same address again is refused, and the refusal is shown
    await form.getByLabel('Address').fill(ADDRESS);
    await form.getByLabel('Password').fill('other');
    await form.getByRole('button', { name: 'Add subscriber' }).click();
    await page.getByRole('alert').filter({ hasText: 'exists already' }).waitFor();
    // the search narrows the list on the server side
    await page.getByLabel('Search subscribers').fill('nobody-here');
    await table.getByRole('cell', { name: ADDRESS, exact: true }).waitFor({ state: 'detached' });
    await page.getByLabel('Search subscribers').fill('dan');
    await table.getByRole('cell', { name: ADDRESS, exact: true }).waitFor();
    await shot('subscribers');
  });

  it('shows the location record of a SIPp client that registered with that account', T, async () => {
    const r = await svc.uac(
      'svc-register.xml',
      'register',
      registerArgs(USER.name, { password: USER.password, contactPort: USER.contactPort, expires: 3600 }),
    );
    assert.equal(succeeded([r]), undefined);
    assert.deepEqual(finals(r), [401, 200]);
    await nav('Registrations').click();
    const table = page.getByRole('table', { name: 'Registrations' });
    // the default service keys AORs by the user part (usrloc useDomain: false)
    await table.getByRole('cell', { name: USER.name, exact: true }).waitFor();
    await table.getByRole('cell', { name: CONTACT, exact: true }).waitFor();
    await page.getByLabel('Search registrations').fill('nobody-here');
    await table.getByRole('cell', { name: CONTACT, exact: true }).waitFor({ state: 'detached' });
    await page.getByLabel('Search registrations').fill(USER.name);
    await table.getByRole('cell', { name: CONTACT, exact: true }).waitFor();
    await shot('registrations');
  });

  it('charts a short SIPp load on the Overview with non-zero data', { timeout: 90_000 }, async () => {
    await nav('Overview').click();
    await chart('Requests/s by method').waitFor();
    // 200 registrations (REGISTER, 401, REGISTER, 200) at 50 per second: about 4 s of traffic
    const load = await svc.uac(
      'svc-register.xml',
      'load',
      [
        ...registerArgs(USER.name, {
          password: USER.password,
          contactPort: USER.contactPort,
          expires: 3600,
        }),
        ...['-r', '50', '-l', '50'],
      ],
      200,
    );
    assert.equal(succeeded([load], 200), undefined);
    // the charts read stats.get every 2 s: the load shows in the next samples
    await waitUntil(
      async () => (await chartValue('Requests/s by method', 'data-max-value')) > 0,
      15_000,
      'requests',
    );
    await waitUntil(
      async () => {
        const points = await page
          .locator('figure[data-points]')
          .evaluateAll((figures) => figures.map((f) => Number(f.getAttribute('data-points'))));
        return points.length === 7 && points.every((n) => n >= 3);
      },
      15_000,
      'three points in every chart',
    );
    const requests = await chartValue('Requests/s by method', 'data-max-value');
    const sent = await chartValue('Replies sent/s by class', 'data-max-value');
    const contacts = await chartValue('Registered contacts', 'data-last-value');
    const memory = await chartValue('Memory', 'data-last-value');
    const cpu = await chartValue('CPU', 'data-max-value');
    // 400 REGISTERs over ~4 s, sampled every 2 s: well above 10/s at the peak
    assert.ok(requests > 10, `requests/s peak ${requests}`);
    assert.ok(sent > 10, `replies/s peak ${sent}`);
    assert.ok(contacts >= 1, `registered contacts ${contacts}`);
    assert.ok(memory > 10, `memory ${memory} MiB`);
    assert.ok(cpu > 0, `cpu ${cpu} %`);
    assert.match((await page.getByTestId('uptime').textContent()) ?? '', /\d+h \d+m \d+s/);
    await shot('overview');
  });

  it('adds and removes a domain and an alias', T, async () => {
    await nav('Domains').click();
    const domains = page.getByRole('table', { name: 'Domains' });
    await domains.getByRole('cell', { name: DOMAIN, exact: true }).waitFor();
    await page.getByRole('textbox', { name: 'Domain', exact: true }).fill('example.org');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await domains.getByRole('cell', { name: 'example.org', exact: true }).waitFor();
    assert.equal(await svc.server.db.domains.has('example.org'), true);
    const row = domains.getByRole('row').filter({ hasText: 'example.org' });
    await row.getByRole('button', { name: 'Remove' }).click();
    await row.getByRole('button', { name: 'Yes, remove example.org' }).click();
    await domains.getByRole('cell', { name: 'example.org', exact: true }).waitFor({ state: 'detached' });
    assert.equal(await svc.server.db.domains.has('example.org'), false);
    await shot('domains');

    await nav('Aliases').click();
    const alias = page.getByRole('textbox', { name: 'Alias', exact: true });
    const target = page.getByRole('textbox', { name: 'Subscriber', exact: true });
    await alias.fill(`sales@${DOMAIN}`);
    await target.fill(`nobody@${DOMAIN}`);
    await page.getByRole('button', { name: 'Add alias' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: `unknown user nobody@${DOMAIN}` })
      .waitFor();
    await target.fill(ADDRESS);
    await page.getByRole('button', { name: 'Add alias' }).click();
    const aliases = page.getByRole('table', { name: 'Aliases' });
    await aliases.getByRole('cell', { name: `sales@${DOMAIN}`, exact: true }).waitFor();
    await shot('aliases');
  });

  it('deactivates and activates a dispatcher destination', T, async () => {
    await nav('Dispatcher').click();
    const set = page.getByRole('table', { name: 'Set 1' });
    const flags = () => set.getByRole('row').filter({ hasText: 'sip:127.0.0.1:5098' }).locator('abbr');
    await set.getByRole('cell', { name: 'sip:127.0.0.1:5098', exact: true }).waitFor();
    assert.match((await flags().getAttribute('data-flags')) ?? '', /^A/);
    await page.getByRole('button', { name: 'Deactivate sip:127.0.0.1:5098', exact: true }).click();
    await page.getByRole('button', { name: 'Activate sip:127.0.0.1:5098', exact: true }).waitFor();
    assert.match((await flags().getAttribute('data-flags')) ?? '', /^I/);
    await shot('dispatcher');
    await page.getByRole('button', { name: 'Activate sip:127.0.0.1:5098', exact: true }).click();
    await page.getByRole('button', { name: 'Deactivate sip:127.0.0.1:5098', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Reload list' }).click();
    await page.getByRole('status').filter({ hasText: 'Reloaded' }).waitFor();
  });

  it('removes the location record through the UI', T, async () => {
    await nav('Registrations').click();
    const table = page.getByRole('table', { name: 'Registrations' });
    const row = table.getByRole('row').filter({ hasText: CONTACT });
    await row.getByRole('button', { name: 'Remove AOR' }).click();
    await row.getByRole('button', { name: `Yes, remove ${USER.name}` }).click();
    await table.getByRole('cell', { name: CONTACT, exact: true }).waitFor({ state: 'detached' });
    await page.getByText('0 addresses of record, 0 contacts').waitFor();
  });

  it('refuses data once logged out or when the session is gone (back to the login form)', T, async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: /log in/i }).waitFor();
    // a data page loaded without a session shows the login form, and the RPC answers 401
    await page.goto('/registrations');
    await page.getByRole('heading', { name: /log in/i }).waitFor();
    assert.equal(await page.getByRole('table', { name: 'Registrations' }).count(), 0);
    const refused = await page.request.post('/api/rpc', {
      data: { jsonrpc: '2.0', method: 'ul.dump', params: [], id: 1 },
      headers: { 'X-Requested-With': 'olelo-web' },
    });
    assert.equal(refused.status(), 401);
    await shot('logged-out');
    // logged in again, a session that disappears sends the next RPC call back to the login form
    await page.getByLabel('User name').fill(ADMIN.name);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('table', { name: 'Registrations' }).waitFor();
    await context.clearCookies();
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByRole('heading', { name: /log in/i }).waitFor();
    await page.getByText('Your session has ended').waitFor();
    assert.deepEqual(pageErrors, []);
  });
});
