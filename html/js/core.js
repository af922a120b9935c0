/*
 * The console's shell: API client, DOM builder, translations, hash router,
 * the signed-in user and timers that stop when a page is left.
 *
 * Safety rules every page follows: data reaches the DOM only as text
 * (BC.h turns strings into text nodes; nothing here uses innerHTML), the
 * session lives only in the HttpOnly bc_session cookie, and every write
 * carries the session's CSRF token from GET /api/me.
 */
'use strict';

(function () {
    const BC = window.BC = {};
    const pages = {};
    const strings = { en: {}, zh: {} };
    let timers = [];
    let current = null;
    let csrf = '';

    BC.me = null;
    BC.lang = localStorage.getItem('bc_lang')
        || ((navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');

    /* ---------- API ---------- */

    /*
     * BC.api(method, path, body, opts) -> parsed JSON (null for 204).
     * body: a plain object is sent as JSON; a Blob/File/string is sent as
     * is with opts.type as its Content-Type. opts.raw: return the Response.
     * opts.onUploadProgress(fraction): uses XHR so the upload can be shown.
     * Throws an Error with .status, .code and the API's message.
     */
    BC.api = async function (method, path, body, opts) {
        opts = opts || {};
        const headers = {};
        let payload;

        if (body !== undefined && body !== null) {
            if (body instanceof Blob || typeof body === 'string') {
                headers['Content-Type'] = opts.type || 'application/octet-stream';
                payload = body;
            } else {
                headers['Content-Type'] = 'application/json';
                payload = JSON.stringify(body);
            }
        }
        if (method !== 'GET' && method !== 'HEAD' && csrf) {
            headers['X-CSRF-Token'] = csrf;
        }

        if (opts.onUploadProgress) {
            return xhr(method, path, headers, payload, opts.onUploadProgress);
        }

        const res = await fetch(path, { method, headers, body: payload,
                                        credentials: 'same-origin' });
        if (opts.raw && res.ok) {
            return res;
        }
        return answer(res.status, res.statusText, await res.text());
    };

    function answer(status, statusText, text) {
        let data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { raw: text }; }
        if (status >= 200 && status < 300) {
            return data;
        }
        const err = new Error(data && data.error ? data.error.message : statusText);
        err.status = status;
        err.code = data && data.error ? data.error.code : '';
        err.data = data;
        if (status === 401 && BC.me) {
            BC.me = null;
            showLogin();
        }
        throw err;
    }

    function xhr(method, path, headers, payload, progress) {
        return new Promise((resolve, reject) => {
            const x = new XMLHttpRequest();
            x.open(method, path);
            for (const k of Object.keys(headers)) {
                x.setRequestHeader(k, headers[k]);
            }
            x.upload.onprogress = (e) => {
                if (e.lengthComputable) { progress(e.loaded / e.total); }
            };
            x.onload = () => {
                try { resolve(answer(x.status, x.statusText, x.responseText)); }
                catch (e) { reject(e); }
            };
            x.onerror = () => reject(new Error(BC.t('error.network')));
            x.send(payload);
        });
    }

    /* ---------- DOM ---------- */

    /*
     * BC.h('tr', {class: 'x', onclick: fn, dataset: {id: 1}}, 'text', node,
     *      [more, children]) -> Element. Strings and numbers become text
     * nodes; null/undefined/false children are skipped.
     */
    BC.h = function (tag, attrs, ...children) {
        const el = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === null || v === undefined || v === false) {
                continue;
            }
            if (k.startsWith('on') && typeof v === 'function') {
                el.addEventListener(k.slice(2), v);
            } else if (k === 'class') {
                el.className = v;
            } else if (k === 'dataset') {
                Object.assign(el.dataset, v);
            } else if (k === 'value' || k === 'checked' || k === 'selected'
                       || k === 'disabled' || k === 'hidden')
            {
                el[k] = v;
            } else if (k === 'style') {
                throw new Error('inline styles are blocked by the CSP; use a class');
            } else {
                el.setAttribute(k, v === true ? '' : String(v));
            }
        }
        append(el, children);
        return el;
    };

    function append(el, children) {
        for (const c of children) {
            if (c === null || c === undefined || c === false) {
                continue;
            }
            if (Array.isArray(c)) {
                append(el, c);
            } else if (c instanceof Node) {
                el.appendChild(c);
            } else {
                el.appendChild(document.createTextNode(String(c)));
            }
        }
    }

    BC.clear = function (el) {
        while (el.firstChild) { el.removeChild(el.firstChild); }
        return el;
    };

    /*
     * BC.table([{label: 'col.name', value: row => row.name}], rows, opts)
     * -> <table>; value may return a Node. opts.empty: text when no rows;
     * opts.onrow(row, tr) decorates a row.
     */
    BC.table = function (columns, rows, opts) {
        opts = opts || {};
        const head = BC.h('tr', null, columns.map((c) => BC.h('th', null, BC.t(c.label))));
        const body = BC.h('tbody');
        for (const row of rows) {
            const tr = BC.h('tr', null, columns.map((c) => BC.h('td', null, c.value(row))));
            if (opts.onrow) { opts.onrow(row, tr); }
            body.appendChild(tr);
        }
        if (!rows.length && opts.empty) {
            body.appendChild(BC.h('tr', null,
                BC.h('td', { colspan: columns.length, class: 'hint' }, BC.t(opts.empty))));
        }
        return BC.h('table', { class: opts.class }, BC.h('thead', null, head), body);
    };

    /*
     * BC.attempt(fn): fn's value (true for an empty answer); on failure
     * undefined, the API's error (a 403's message included) shown
     */
    BC.attempt = async function (fn) {
        try {
            const v = await fn();
            return v === null || v === undefined ? true : v;
        } catch (e) {
            BC.fail(e);
            return undefined;
        }
    };

    /*
     * BC.pagedTable(box, columns, load, id, onpage) -> page(first): a
     * keyset-paged table in box. load(cursor) -> {rows, next, ...};
     * page(true) (re)loads the first page, "load more" asks for the next
     * only when clicked, never the whole list; an answer older than the
     * last reload is dropped. onpage(answer) after each page.
     */
    BC.pagedTable = function (box, columns, load, id, onpage) {
        const more = BC.h('button', { type: 'button', class: 'secondary hidden',
                                      id: id + '-more' }, BC.t('common.more'));
        let cursor = null;
        let table = null;
        let generation = 0;
        const page = async (first) => {
            const mine = first ? ++generation : generation;
            if (first) {
                cursor = null;
                BC.clear(box).appendChild(BC.h('p', { class: 'hint' }, BC.t('common.loading')));
            }
            const r = await BC.attempt(() => load(cursor));
            if (!r || mine !== generation) { return; }
            if (first) {
                table = BC.table(columns, r.rows, { empty: 'common.none' });
                table.id = id;
                table.dataset.painted = '';
                BC.clear(box).append(table, more);
            } else {
                for (const tr of [...BC.table(columns, r.rows).tBodies[0].rows]) {
                    table.tBodies[0].appendChild(tr);
                }
            }
            cursor = r.next;
            more.classList.toggle('hidden', !cursor);
            if (onpage) { onpage(r); }
        };
        more.addEventListener('click', () => page(false));
        return page;
    };

    /* BC.toast(text, 'ok'|'error'): a short notice in the corner */
    BC.toast = function (text, kind) {
        const box = document.getElementById('toasts');
        const el = BC.h('div', { class: 'toast ' + (kind || 'ok'), role: 'status' }, text);
        box.appendChild(el);
        setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
    };

    /* BC.fail(err): an API error as a toast with its message and code */
    BC.fail = function (err) {
        BC.toast(err.code ? `${err.message} (${err.code})` : err.message, 'error');
    };

    BC.fmt = {
        date: (s) => s ? new Date(s.replace(' ', 'T') + (/[Z+]/.test(s) ? '' : 'Z'))
            .toLocaleString(BC.lang === 'zh' ? 'zh-CN' : undefined) : '',
        num: (n) => n === null || n === undefined ? '' : Number(n).toLocaleString(),
        pct: (x) => x === null || x === undefined ? '' : (100 * x).toFixed(1) + '%',
    };

    /* ---------- translations ---------- */

    /* BC.i18n({en: {key: 'text'}, zh: {key: '文本'}}) adds a page's strings */
    BC.i18n = function (dicts) {
        for (const lang of Object.keys(dicts)) {
            Object.assign(strings[lang] = strings[lang] || {}, dicts[lang]);
        }
    };

    /* BC.t('key', {n: 3}) -> text in the chosen language, {n} replaced */
    BC.t = function (key, vars) {
        let s = (strings[BC.lang] && strings[BC.lang][key]) || strings.en[key] || key;
        if (vars) {
            s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
        }
        return s;
    };

    BC.setLang = function (lang) {
        BC.lang = lang;
        localStorage.setItem('bc_lang', lang);
        document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
        translateStatic();
        route();
    };

    function translateStatic() {
        for (const el of document.querySelectorAll('[data-t]')) {
            el.textContent = BC.t(el.dataset.t);
        }
        for (const el of document.querySelectorAll('[data-t-placeholder]')) {
            el.placeholder = BC.t(el.dataset.tPlaceholder);
        }
    }

    /* ---------- roles ---------- */

    const rank = { viewer: 1, operator: 2, admin: 3 };

    /* BC.can('read'|'send'|'manage'|'admin'): what the signed-in role may do */
    BC.can = function (need) {
        const role = BC.me ? BC.me.user.role : '';
        const min = { read: 1, send: 2, manage: 2, admin: 3 }[need] || 3;
        return (rank[role] || 0) >= min;
    };

    /* ---------- pages and router ---------- */

    /*
     * BC.page(name, {title: 'nav.x', nav: true, need: 'read',
     *                render: async (root, params) => {}, leave: () => {}})
     * params: {path: ['12', ...], query: URLSearchParams} from #/name/12?x=y
     */
    BC.page = function (name, def) {
        pages[name] = Object.assign({ name, need: 'read', order: 50 }, def);
    };

    BC.go = function (hash) {
        if (location.hash === hash) { route(); } else { location.hash = hash; }
    };

    /* BC.every(ms, fn): run fn now and every ms until the page is left */
    BC.every = function (ms, fn) {
        const run = () => { Promise.resolve().then(fn).catch(() => {}); };
        run();
        timers.push(setInterval(run, ms));
    };

    function leave() {
        timers.forEach(clearInterval);
        timers = [];
        if (current && current.leave) {
            try { current.leave(); } catch (e) { /* the next page renders anyway */ }
        }
        current = null;
    }

    async function route() {
        if (!BC.me) { return; }
        const raw = location.hash.replace(/^#\/?/, '') || 'dashboard';
        const [pathPart, queryPart] = raw.split('?');
        const parts = pathPart.split('/').map(decodeURIComponent);
        const page = pages[parts[0]] || pages.dashboard;
        const root = BC.clear(document.getElementById('page'));

        leave();
        renderNav(page ? page.name : '');
        if (!page) { return; }
        if (!BC.can(page.need)) {
            root.appendChild(BC.h('p', { class: 'error' }, BC.t('error.role')));
            return;
        }
        current = page;
        document.title = BC.t(page.title) + ' · ' + BC.t('app.title');
        root.dataset.page = page.name;
        try {
            await page.render(root, { path: parts.slice(1),
                                      query: new URLSearchParams(queryPart || '') });
        } catch (e) {
            root.appendChild(BC.h('p', { class: 'error' }, e.message));
        }
    }

    function renderNav(active) {
        const nav = BC.clear(document.getElementById('nav'));
        const list = Object.values(pages).filter((p) => p.nav !== false && BC.can(p.need))
            .sort((a, b) => a.order - b.order);
        for (const p of list) {
            nav.appendChild(BC.h('a', { href: '#/' + p.name, id: 'nav-' + p.name,
                                         class: p.name === active ? 'active' : '' },
                                 BC.t(p.title)));
        }
    }

    /* ---------- session ---------- */

    function showLogin() {
        leave();
        document.getElementById('login-view').classList.remove('hidden');
        document.getElementById('app-view').classList.add('hidden');
        document.getElementById('who').textContent = '';
    }

    async function loadMe() {
        try {
            BC.me = await BC.api('GET', '/api/me');
        } catch (e) {
            BC.me = null;
            return false;
        }
        csrf = BC.me.csrf_token || '';
        return true;
    }

    async function enter() {
        document.getElementById('login-view').classList.add('hidden');
        document.getElementById('app-view').classList.remove('hidden');
        document.getElementById('who').textContent =
            `${BC.me.user.username} · ${BC.t('role.' + BC.me.user.role)}`;
        await route();
    }

    async function login(ev) {
        ev.preventDefault();
        const f = ev.target;
        const out = document.getElementById('login-error');
        out.textContent = '';
        try {
            await BC.api('POST', '/api/login',
                         { username: f.username.value, password: f.password.value });
            f.password.value = '';
            if (await loadMe()) { await enter(); }
        } catch (e) {
            out.textContent = e.message;
        }
    }

    async function logout() {
        try { await BC.api('POST', '/api/logout', {}); } catch (e) { /* gone anyway */ }
        BC.me = null;
        csrf = '';
        showLogin();
    }

    BC.i18n({
        en: {
            'app.title': 'Broadcast console', 'login.title': 'Sign in',
            'login.username': 'Username', 'login.password': 'Password',
            'login.submit': 'Sign in', 'logout': 'Log out',
            'role.admin': 'admin', 'role.operator': 'operator', 'role.viewer': 'viewer',
            'error.role': 'Your role does not allow this page.',
            'error.network': 'The server could not be reached.',
            'common.save': 'Save', 'common.cancel': 'Cancel', 'common.delete': 'Delete',
            'common.edit': 'Edit', 'common.create': 'Create', 'common.search': 'Search',
            'common.more': 'Load more', 'common.none': 'Nothing yet.',
            'common.refresh': 'Refresh', 'common.close': 'Close',
            'common.confirm': 'Are you sure?', 'common.loading': 'Loading…',
        },
        zh: {
            'app.title': '群发控制台', 'login.title': '登录',
            'login.username': '用户名', 'login.password': '密码',
            'login.submit': '登录', 'logout': '退出',
            'role.admin': '管理员', 'role.operator': '操作员', 'role.viewer': '只读',
            'error.role': '您的角色无权访问此页面。',
            'error.network': '无法连接服务器。',
            'common.save': '保存', 'common.cancel': '取消', 'common.delete': '删除',
            'common.edit': '编辑', 'common.create': '新建', 'common.search': '搜索',
            'common.more': '加载更多', 'common.none': '暂无数据。',
            'common.refresh': '刷新', 'common.close': '关闭',
            'common.confirm': '确定吗？', 'common.loading': '加载中…',
        },
    });

    BC.start = async function () {
        document.documentElement.lang = BC.lang === 'zh' ? 'zh-CN' : 'en';
        const sel = document.getElementById('lang');
        sel.value = BC.lang;
        sel.addEventListener('change', () => BC.setLang(sel.value));
        document.getElementById('login-form').addEventListener('submit', login);
        document.getElementById('logout').addEventListener('click', logout);
        window.addEventListener('hashchange', route);
        translateStatic();
        if (await loadMe()) { await enter(); } else { showLogin(); }
    };
})();
