/*
 * Drives the console's dashboard, contacts, compliance, send and settings
 * pages in Debian's Chromium and prints what it saw as one JSON object on
 * its last line; t/40-console-admin.t prepares the data and asserts.
 * Usage: node console-admin.js <base url> <user> <password> <setup.json>
 *        <screenshot dir>
 * setup.json: {"csv": "<file text>", "group_id": id of the hostile group,
 *              "plain_id": id of the contact "Plain Person"}
 */
'use strict';

const fs = require('fs');
const { chromium } = require('playwright-core');

const [base, user, password, setupFile, shots] = process.argv.slice(2);
const setup = JSON.parse(fs.readFileSync(setupFile, 'utf8'));
const seen = { errors: [], paint_ms: {} };
let promptAnswer = null;    /* what the next prompt() is answered */

/* from one page to another: ms until the page shows its first data */
function firstPaint(page, hash, name) {
    return page.evaluate(([hash, name]) => new Promise((resolve) => {
        /* the page shown now may be this one: its marks are not the answer */
        for (const el of document.querySelectorAll('#page [data-painted]')) {
            el.removeAttribute('data-painted');
        }
        const t0 = performance.now();
        location.hash = hash;
        const check = () => {
            if (document.querySelector(`#page[data-page="${name}"] [data-painted]`)) {
                resolve(performance.now() - t0);
            } else {
                requestAnimationFrame(check);
            }
        };
        check();
    }), [hash, name]);
}

async function go(page, hash, name) {
    return firstPaint(page, hash, name);
}

async function login(page, who, pass) {
    await page.waitForSelector('#login-view:not(.hidden)');
    await page.fill('input[name=username]', who);
    await page.fill('input[name=password]', pass);
    await page.click('#login-form button');
    await page.waitForSelector('#app-view:not(.hidden)');
}

const text = (page, sel) => page.textContent(sel);

/* submits the contacts filter and waits for the list it asked for */
async function refilter(page) {
    await page.$eval('#ct-table', (x) => { x.dataset.stale = ''; });
    await page.click('#ct-filter button');
    await page.waitForSelector('#ct-table:not([data-stale])');
}

async function roles(page) {
    await go(page, '#/settings/users', 'settings');
    for (const [name, role] of [['op1', 'operator'], ['viewer1', 'viewer']]) {
        await page.fill('#user-form input[name=username]', name);
        await page.fill('#user-form input[name=password]', 'console-pass-' + name);
        await page.selectOption('#user-form select[name=role]', role);
        await page.click('#user-form button');
        await page.waitForFunction((n) => ((document.querySelector('#users-table') || {}).textContent || '')
            .includes(n), name);
    }
    seen.users_table = await text(page, '#users-table');

    /* the audit log, filtered by action (its rows are written after the answer) */
    await go(page, '#/settings/audit', 'settings');
    await page.fill('#audit-action', 'POST /api/admin/users');
    const until = Date.now() + 10000;
    for (;;) {
        await page.$eval('#audit-table', (x) => { x.dataset.stale = ''; });
        await page.click('#settings-audit form button');
        await page.waitForSelector('#audit-table:not([data-stale])');
        seen.audit_rows = await page.$$eval('#audit-table tbody tr', (r) => r.map((x) => x.textContent));
        if (seen.audit_rows.filter((x) => x.includes('POST /api/admin/users')).length >= 2
            || Date.now() > until) {
            break;
        }
        await page.waitForTimeout(250);    /* the interval between two reloads */
    }
    await page.click('#logout');
    await login(page, 'viewer1', 'console-pass-viewer1');
    seen.viewer_who = await text(page, '#who');
    await go(page, '#/contacts', 'contacts');
    seen.viewer_new_button = await page.$$eval('#ct-new', (x) => x.length);
    seen.viewer_edit_buttons = await page.$$eval('#ct-table button', (x) => x.length);
    await go(page, '#/compliance/opt-outs', 'compliance');
    seen.viewer_oo_form_hidden = await page.$eval('#oo-form', (f) => f.hidden);
    seen.viewer_remove_buttons = await page.$$eval('#oo-table button', (x) => x.length);
    await go(page, '#/settings/keys', 'settings');
    seen.viewer_key_scopes = await page.$$eval('#key-form select[name=scope] option', (x) => x.map((o) => o.value));
    seen.viewer_sender_form_hidden = await (async () => {
        await go(page, '#/settings/senders', 'settings');
        return page.$eval('#email-sender-form', (f) => f.hidden);
    })();
    seen.viewer_users_tab = await page.$$eval('#tab-users', (x) => x.length);
    /* the API decides: a write the page hides is refused, and shown */
    seen.viewer_write = await page.evaluate(async () => {
        try {
            await BC.api('POST', '/api/opt-outs', { address: '+14155550198' });
            return { status: 200 };
        } catch (e) {
            BC.fail(e);
            return { status: e.status, code: e.code };
        }
    });
    seen.viewer_toast = await text(page, '.toast.error');

    /* every user changes its own password */
    await go(page, '#/settings/password', 'settings');
    await page.fill('#pw-form input[name=current_password]', 'console-pass-viewer1');
    await page.fill('#pw-form input[name=new_password]', 'console-new-pass-viewer1');
    await page.click('#pw-form button');
    await page.waitForFunction(() => [...document.querySelectorAll('.toast')]
        .some((x) => /Password changed/.test(x.textContent)));
    seen.password_changed = true;
}

(async () => {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update',
               '--disable-sync'],
    });
    try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        page.on('pageerror', (e) => seen.errors.push(e.message));
        page.on('dialog', (d) => d.accept(d.type() === 'prompt' ? promptAnswer : undefined));
        page.setDefaultTimeout(20000);

        await page.goto(base + '/');
        await login(page, user, password);

        /* first paint of each page, from another page; the best of three
           visits, as the machine is shared with other work */
        const pages = [['#/dashboard', 'dashboard'], ['#/contacts', 'contacts'],
                       ['#/compliance', 'compliance'], ['#/send', 'send'],
                       ['#/settings', 'settings']];
        for (let round = 0; round < 3; round++) {
            for (const [hash, name] of pages) {
                const ms = await go(page, hash, name);
                seen.paint_ms[name] = Math.min(seen.paint_ms[name] || Infinity, ms);
            }
        }

        /* CSV import: the upload's progress, the import's, its errors */
        await go(page, '#/contacts/import', 'contacts');
        await page.setInputFiles('#imp-form input[type=file]', {
            name: 'contacts.csv', mimeType: 'text/csv', buffer: Buffer.from(setup.csv) });
        await page.fill('#imp-form input[name=tags]', 'csv');
        await page.click('#imp-form button[type=submit]');
        await page.waitForSelector('#imp-errors', { timeout: 60000 });
        seen.upload_value = await page.$eval('#imp-upload', (p) => p.value);
        seen.upload_reported = await page.$eval('#imp-upload', (p) => p.dataset.sent);
        seen.upload_pct = await text(page, '#imp-upload-pct');
        seen.import_state = await text(page, '#imp-state');
        seen.import_status = await text(page, '#imp-status');
        seen.import_errors = await page.$$eval('#imp-errors tbody tr',
            (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));

        /* the list: filter by tag, then by group, with the UI's selects */
        await go(page, '#/contacts', 'contacts');
        await page.waitForSelector('#ct-tag option[value="vip"]', { state: 'attached' });
        await page.selectOption('#ct-tag', 'vip');
        await refilter(page);
        seen.tag_rows = await page.$$eval('#ct-table tbody tr', (r) => r.map((x) => x.textContent));
        seen.tag_total = await text(page, '#ct-total');
        seen.export_href = await page.$eval('#ct-export', (a) => a.getAttribute('href'));
        await page.waitForSelector(`#ct-group option[value="${setup.group_id}"]`, { state: 'attached' });
        await page.selectOption('#ct-tag', '');
        await page.selectOption('#ct-group', String(setup.group_id));
        await refilter(page);
        seen.group_rows = await page.$$eval('#ct-table tbody tr', (r) => r.map((x) => x.textContent));
        seen.contacts_img = await page.$$eval('#page img', (x) => x.length);
        await page.screenshot({ path: shots + '/contacts.png', fullPage: true });

        /* a contact made with the form */
        await page.click('#ct-new');
        await page.fill('#ct-form input[name=name]', 'Made In Console');
        await page.fill('#ct-form input[name=phone]', '+14155550177');
        await page.fill('#ct-form input[name=tags]', 'console, vip');
        await page.click('#ct-form button[type=submit]');
        await page.waitForSelector('#ct-form.hidden', { state: 'attached' });

        /* a tag renamed */
        await go(page, '#/contacts/tags', 'contacts');
        promptAnswer = 'beta-testers';
        await page.click('#tags-table tr:has-text("beta") button:has-text("Rename")');
        await page.waitForFunction(() => /beta-testers/.test((document.querySelector('#tags-table') || {}).textContent || ''));
        seen.tags_table = await text(page, '#tags-table');

        /* a group made, a member added by id and removed */
        await go(page, '#/contacts/groups', 'contacts');
        seen.groups_table = await text(page, '#grp-table');
        await page.fill('#grp-form input[name=name]', 'Console group');
        await page.click('#grp-form button');
        await page.click('#grp-table a:has-text("Console group")');
        await page.waitForSelector('#members-table');
        await page.fill('#members-add input[name=ids]', String(setup.plain_id));
        await page.click('#members-add button');
        await page.waitForFunction(() => /Plain Person/.test((document.querySelector('#members-table') || {}).textContent || ''));
        seen.members_added = await text(page, '#members-total');
        await page.click('#members-table button:has-text("Remove")');
        await page.waitForFunction(() => !/Plain Person/.test((document.querySelector('#members-table') || {}).textContent || 'Plain Person'));
        seen.members_after = await text(page, '#members-total');

        /* compliance: an opt-out and a keyword rule through the forms */
        await go(page, '#/compliance/opt-outs', 'compliance');
        await page.fill('#oo-form input[name=address]', '+14155550199');
        await page.selectOption('#oo-form select[name=channel]', 'sms');
        await page.fill('#oo-form input[name=reason]', 'asked on the phone');
        await page.click('#oo-form button');
        await page.waitForFunction(() => /\+14155550199/
            .test((document.querySelector('#oo-table') || {}).textContent || ''));
        seen.oo_table = await text(page, '#oo-table');
        await go(page, '#/compliance/keywords', 'compliance');
        await page.fill('#kw-form input[name=keyword]', 'PRICE');
        await page.selectOption('#kw-form select[name=match_type]', 'contains');
        await page.fill('#kw-form textarea[name=response_text]', 'Prices are at example.com/prices');
        await page.click('#kw-form button[type=submit]');
        await page.waitForFunction(() => /PRICE/
            .test((document.querySelector('#kw-table') || {}).textContent || ''));
        seen.kw_table = await text(page, '#kw-table');
        await page.screenshot({ path: shots + '/compliance.png', fullPage: true });

        /* the dashboard: the chart's series and a running campaign's bar */
        await go(page, '#/dashboard', 'dashboard');
        seen.chart_canvas = await page.$$eval('#dash-chart canvas', (x) => x.length);
        seen.chart_total = Number(await page.$eval('#dash-chart', (d) => d.dataset.total));
        seen.chart_legend = await text(page, '#dash-chart');
        await page.waitForFunction(() => [...document.querySelectorAll('#dash-campaigns progress')]
            .some((p) => p.value > 0), null, { timeout: 30000 });
        seen.campaign_progress = await page.$$eval('#dash-campaigns progress', (x) => x.map((p) => p.value));
        seen.campaign_text = await text(page, '#dash-campaigns');
        await page.screenshot({ path: shots + '/dashboard.png', fullPage: true });

        await go(page, '#/send', 'send');
        await page.screenshot({ path: shots + '/send.png', fullPage: true });
        await go(page, '#/settings/keys', 'settings');
        await page.screenshot({ path: shots + '/settings.png', fullPage: true });

        seen.xss = await page.evaluate(() => (window.__xss === undefined ? null : window.__xss));

        /* 中文 */
        await page.selectOption('#lang', 'zh');
        await page.waitForFunction(() => document.querySelector('#nav-dashboard').textContent === '概览');
        seen.nav_zh = await text(page, '#nav');
        seen.settings_tabs_zh = await text(page, '#settings-tabs');
        await page.selectOption('#lang', 'en');

        await roles(page);
    } catch (e) {
        seen.errors.push(String(e && e.message || e));
    } finally {
        await browser.close();
        process.stdout.write(JSON.stringify(seen) + '\n');
    }
})();
