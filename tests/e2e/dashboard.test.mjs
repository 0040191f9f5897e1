// The dashboard in a real browser: Debian's Chromium driven by playwright-core, against real
// wqd processes (one with tokens, one in open mode). A person's path through the page: load
// it, give the token, submit a job from the form and watch its bar reach 100% live, download
// its result, see a running job's progress and cancel it, and see hostile params and progress
// messages as text.
//
//   WQD_PATH=$PWD/build/wqd WQ_EXAMPLES_DIR=$PWD/examples node tests/e2e/dashboard.test.mjs
//   (CTest runs it as dashboard_browser)
//
// Threading: node's event loop; wqd and Chromium are child processes.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test, after } from 'node:test';

const kChromium = process.env.WQ_CHROMIUM || '/usr/bin/chromium';
const kHangGuardMs = 30000;  // only against hangs: each wait normally ends in well under 1 s
const kToken = 'e2e-secret-token';
const kXss = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>&amp; "quoted"`;

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run this test through ctest (dashboard_browser)`);
  return value;
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  throw new Error('playwright-core is not installed in tests/e2e; run scripts/install-deps.sh ' +
                  '(it runs npm ci there): ' + e.message);
}

// A wqd on a free loopback port with a fresh data directory; resolves once it listens.
async function startWqd({ tokens }) {
  const dir = mkdtempSync(join(tmpdir(), 'wqd-e2e-'));
  const examples = need('WQ_EXAMPLES_DIR');
  const server = tokens
    ? `[server]\ntokens = [{ sha256 = "${createHash('sha256').update(kToken).digest('hex')}", tenant = "e2e" }]\n`
    : '[server]\nopen = true\n';
  writeFileSync(join(dir, 'wqd.toml'), `${server}
[tasks.count]
command = ["${examples}/tasks/count.sh", "{param.n}", "{param.delay}", "{output}"]
[tasks.count.params]
n = {}
delay = { default = 0.05 }

# Halfway, then waits to be cancelled.
[tasks.half]
command = ["/bin/sh", "-c", "printf '0.5\\thalfway\\n'; exec sleep 60"]
produces_output = false
kill_grace = "200ms"

# Reports its param as the progress message.
[tasks.say]
command = ["/bin/sh", "-c", "printf '0.5\\t%s\\n' \\"$1\\"", "say", "{param.text}"]
produces_output = false
`);
  const proc = spawn(need('WQD_PATH'),
                     ['--config', join(dir, 'wqd.toml'), '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')],
                     { stdio: ['ignore', 'ignore', 'pipe'] });
  const log = [];
  const port = await new Promise((resolve, reject) => {
    let partial = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      partial += chunk;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        log.push(line);
        const m = /"msg":"listening".*"address":"127\.0\.0\.1:(\d+)"/.exec(line);
        if (m) resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => reject(new Error(`wqd exited with ${code} before listening:\n${log.join('\n')}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const browser = await chromium.launch({
  executablePath: kChromium,
  headless: true,
  // Running as root (CI containers) needs --no-sandbox; the page is our own.
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const servers = [];
after(async () => {
  await browser.close();
  for (const s of servers) await s.stop();
});

// A fresh page that fails the test on any script error or CSP violation it reports.
async function openPage(server) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(kHangGuardMs);
  const problems = [];
  const requests = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    // A refused request (401 before the token is given) is logged by Chromium as an error.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push('console: ' + m.text());
  });
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(server.url + '/');
  return { page, problems, requests };
}

async function waitForText(page, selector, text) {
  await page.waitForFunction(([sel, want]) => {
    const el = document.querySelector(sel);
    return el !== null && el.textContent === want;
  }, [selector, text]);
}

async function submitFromForm(page, task, params) {
  await page.selectOption('#submit-task', task);
  for (const [name, value] of Object.entries(params)) {
    await page.fill(`#submit-params input[data-param="${name}"]`, value);
  }
  await page.click('#submit-form button[type=submit]');
  // The new job opens in the detail panel.
  await page.waitForFunction((t) => !document.getElementById('job-section').hidden &&
                                    document.getElementById('job-title').textContent === 'Job · ' + t, task);
  return page.evaluate(() => document.querySelector('#job-fields dd.mono').textContent);
}

function rowCell(id, column) {
  return `#jobs-body tr[data-id="${id}"] td:nth-child(${column})`;
}

test('with tokens: submit, live progress to 100%, download, cancel, hostile text shown as text', async () => {
  const server = await startWqd({ tokens: true });
  servers.push(server);
  const { page, problems, requests } = await openPage(server);
  assert.equal(await page.title(), 'workqueue');

  // Without a token the API refuses, and the page says what to do.
  await page.waitForFunction(() => /needs a token/.test(document.getElementById('status').textContent));
  await page.fill('#token', kToken);
  await page.click('#token-form button[type=submit]');
  await page.waitForFunction(() => [...document.querySelectorAll('#submit-task option')].some((o) => o.value === 'count'));

  // Submit from the form; the bar fills live and ends at 100% with the last message.
  const counted = await submitFromForm(page, 'count', { n: '6', delay: '0.05' });
  await waitForText(page, rowCell(counted, 3), 'succeeded');
  await waitForText(page, '#job-message', 'counted 6 of 6');
  assert.equal(await page.$eval('#job-progress', (p) => p.value), 1);
  assert.equal(await page.$eval(`#jobs-body tr[data-id="${counted}"] progress`, (p) => p.value), 1);
  assert.equal(await page.textContent(rowCell(counted, 5)), 'counted 6 of 6');
  assert.ok(requests.some((u) => u.includes(`/v1/jobs/${counted}/events/stream?ticket=`)),
            'progress came over the ticketed event stream');
  assert.ok(requests.every((u) => !u.includes(kToken)), 'the token never goes into a URL');

  // Its result downloads with the token.
  await page.waitForFunction(() => !document.getElementById('job-download').disabled);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#job-download')]);
  assert.equal(readFileSync(await download.path(), 'utf8'), 'counted to 6\n');

  // A running job's bar shows its progress as it happens; cancel it from the UI.
  const held = await submitFromForm(page, 'half', {});
  await waitForText(page, rowCell(held, 3), 'running');
  await waitForText(page, rowCell(held, 5), 'halfway');
  await waitForText(page, '#job-message', 'halfway');
  assert.equal(await page.$eval(`#jobs-body tr[data-id="${held}"] progress`, (p) => p.value), 0.5);
  assert.equal(await page.$eval('#job-progress', (p) => p.value), 0.5);
  await page.waitForFunction(() => !document.getElementById('job-cancel').disabled);
  await page.click('#job-cancel');
  await waitForText(page, rowCell(held, 3), 'cancelled');
  await page.waitForFunction(() => document.querySelector('#job-fields').textContent.includes('cancelled'));
  assert.equal(await page.$eval('#job-cancel', (b) => b.disabled), true);

  // Hostile text in a param and in a progress message stays text.
  const said = await submitFromForm(page, 'say', { text: kXss });
  await waitForText(page, rowCell(said, 3), 'succeeded');
  await waitForText(page, rowCell(said, 5), kXss);
  await waitForText(page, '#job-message', kXss);
  assert.equal(await page.textContent('#job-params dd'), kXss);
  assert.equal(await page.$$eval('main img, main script', (els) => els.length), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);

  assert.deepEqual(problems, []);
});

test('open mode: no token needed; a job submitted elsewhere shows up and fills live', async () => {
  const server = await startWqd({ tokens: false });
  servers.push(server);
  const { page, problems } = await openPage(server);
  await page.waitForFunction(() => [...document.querySelectorAll('#filter-task option')].some((o) => o.value === 'count'));
  // Submitted by another client; the newest page refreshes by itself.
  const res = await fetch(server.url + '/v1/jobs', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ task: 'count', params: { n: 8, delay: 0.1 } }),
  });
  assert.equal(res.status, 201);
  const { id } = await res.json();
  await page.waitForSelector(`#jobs-body tr[data-id="${id}"]`);
  await waitForText(page, rowCell(id, 3), 'succeeded');
  assert.equal(await page.$eval(`#jobs-body tr[data-id="${id}"] progress`, (p) => p.value), 1);
  assert.equal(await page.textContent(rowCell(id, 5)), 'counted 8 of 8');
  // Filters narrow the list.
  await page.selectOption('#filter-state', 'failed');
  await page.waitForSelector(`#jobs-body tr[data-id="${id}"]`, { state: 'detached' });
  assert.equal(await page.isVisible('#jobs-empty'), true);
  assert.deepEqual(problems, []);
});
