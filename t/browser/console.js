/*
 * Drives the console in Debian's Chromium as an operator would and prints
 * what it saw as one JSON object on its last line; t/15-console.t makes
 * the assertions. Usage: node console.js <base url> <user> <password>
 */
'use strict';

const { chromium } = require('playwright-core');

const [base, user, password] = process.argv.slice(2);
const seen = { errors: [] };

(async () => {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update',
               '--disable-sync'],
    });
    try {
        const page = await browser.newPage();
        page.on('pageerror', (e) => seen.errors.push(e.message));
        page.on('dialog', (d) => d.accept());
        page.setDefaultTimeout(15000);

        await page.goto(base + '/');
        await page.waitForSelector('#login-view:not(.hidden)');
        seen.login_shown = true;

        /* a wrong password is refused with the API's message */
        await page.fill('input[name=username]', user);
        await page.fill('input[name=password]', password + 'x');
        await page.click('#login-form button');
        await page.waitForFunction(() => document.querySelector('#login-error').textContent !== '');
        seen.login_error = await page.textContent('#login-error');

        await page.fill('input[name=password]', password);
        await page.click('#login-form button');
        await page.waitForSelector('#app-view:not(.hidden)');
        seen.logged_in = true;
        seen.cookie_http_only = (await page.context().cookies())
            .some((c) => c.name === 'bc_session' && c.httpOnly);
        seen.local_storage_keys = await page.evaluate(() => Object.keys(localStorage));

        /* the dashboard is the landing page; health is one of its tiles */
        await page.waitForFunction(() => /Redis: \w+ +MySQL: \w+/
            .test(document.querySelector('#dash-health').textContent));
        seen.health = await page.textContent('#dash-health');

        /* an API key is shown once, then listed without its secret */
        await page.evaluate(() => BC.go('#/settings/keys'));
        await page.fill('#key-form input[name=name]', 'from-console');
        await page.click('#key-form button');
        await page.waitForSelector('#new-key:not(.hidden)');
        seen.new_key = await page.textContent('#new-key');
        await page.waitForFunction(() => /from-console/
            .test((document.querySelector('#keys-table') || {}).textContent || ''));
        seen.keys_table = await page.textContent('#keys-table');

        /* SMS through the form: one valid number, one invalid */
        await page.evaluate(() => BC.go('#/send'));
        await page.fill('#send-form textarea[name=recipients]', '+14155550142, bogus');
        await page.fill('#send-form textarea[name=message]', 'Console hello');
        await page.click('#send-form button[type=submit]');
        await page.waitForSelector('#send-result:not(.hidden)');
        seen.send_result = JSON.parse(await page.textContent('#send-result'));

        /* the batch lookup (filled in by the send) until it reads delivered */
        const deadline = Date.now() + 20000;
        for (;;) {
            await page.click('#status-form button');
            await page.waitForSelector('#status-table');
            seen.status_row = await page.textContent('#status-table tbody');
            if (/delivered/.test(seen.status_row) || Date.now() > deadline) { break; }
            await page.waitForTimeout(250);    /* the interval between two lookups */
        }

        await page.click('#logout');
        await page.waitForSelector('#login-view:not(.hidden)');
        await page.reload();
        await page.waitForSelector('#login-view:not(.hidden)');
        seen.logged_out = true;
    } catch (e) {
        seen.errors.push(String(e && e.message || e));
    } finally {
        await browser.close();
        process.stdout.write(JSON.stringify(seen) + '\n');
    }
})();
