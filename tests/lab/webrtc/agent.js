// The lab's browser agent: headless Chromium (Debian's /usr/bin/chromium) driven by
// puppeteer-core, with JsSIP bundled by esbuild into a page (page.html) served from
// file://. Registers, then calls `target` (caller) or answers (callee); prints one JSON
// event per line on stdout (registered, sdp, confirmed, ice, stats, ended, done) and
// exits 0 when the call ended, 1 on a failure or at the deadline.
//
//   node agent.js CONFIG.json
// CONFIG: modules (node_modules of package.json here), workdir (this agent's own: the
// bundle, the page, the Chromium profile; HOME and TMPDIR point there, so a
// HOME/.pki/nssdb made by the caller decides which CAs are trusted), ws, uri, password,
// target (caller only), resolve (Chromium --host-resolver-rules), hangup_packets, hold_ms,
// deadline_ms, debug.
'use strict';
const fs = require('fs');
const path = require('path');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const esbuild = require(path.join(cfg.modules, 'esbuild'));
const puppeteer = require(path.join(cfg.modules, 'puppeteer-core'));

const emit = (e) => process.stdout.write(JSON.stringify(Object.assign({ t: Date.now() }, e)) + '\n');

async function main() {
  fs.mkdirSync(cfg.workdir, { recursive: true });
  esbuild.buildSync({
    entryPoints: [path.join(cfg.modules, 'jssip', 'lib', 'JsSIP.js')],
    bundle: true, format: 'iife', globalName: 'JsSIP', platform: 'browser',
    outfile: path.join(cfg.workdir, 'jssip.js'), logLevel: 'error',
  });
  fs.copyFileSync(path.join(__dirname, 'page.html'), path.join(cfg.workdir, 'page.html'));
  const args = [
    '--no-sandbox', '--no-first-run', '--disable-gpu', '--disable-dev-shm-usage',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    '--autoplay-policy=no-user-gesture-required',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ];
  if (cfg.resolve) args.push(`--host-resolver-rules=${cfg.resolve}`);
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium', headless: true, args,
    userDataDir: path.join(cfg.workdir, 'profile'),
    env: Object.assign({}, process.env, { HOME: cfg.workdir, TMPDIR: cfg.workdir }),
  });
  emit({ event: 'browser', version: await browser.version(), pid: browser.process().pid });
  let timedOut = false;
  const deadline = setTimeout(async () => {
    timedOut = true;
    emit({ event: 'timeout' });
    await browser.close().catch(() => {});
    process.exit(1);
  }, cfg.deadline_ms);
  try {
    const page = await browser.newPage();
    page.on('console', (m) => { if (cfg.debug || m.type() === 'error') emit({ event: 'console', text: m.text() }); });
    page.on('pageerror', (e) => emit({ event: 'pageerror', text: String(e) }));
    await page.exposeFunction('outpostEvent', (e) => emit(e));
    await page.goto('file://' + path.join(cfg.workdir, 'page.html'));
    const result = await page.evaluate((c) => window.runAgent(c), cfg);
    emit(Object.assign({ event: 'done' }, result));
    clearTimeout(deadline);
    await browser.close();
    process.exit(result.error ? 1 : 0);
  } catch (e) {
    if (timedOut) return;  // the deadline closed the browser under us
    emit({ event: 'error', text: String(e && e.stack || e) });
    await browser.close().catch(() => {});
    process.exit(1);
  }
}

main().catch((e) => { emit({ event: 'error', text: String(e && e.stack || e) }); process.exit(1); });
