/*
 * The campaigns page: the list (status filter, progress), one campaign's
 * live page (counters, progress bar, variants, steps, recipients, the
 * moves its status allows) and, in campaign-wizard.js, the wizard.
 *
 * #/campaigns          the list
 * #/campaigns/new      the wizard (BC.campaignWizard)
 * #/campaigns/12       campaign 12, refreshed every second
 */
'use strict';

(function () {
    const h = BC.h;
    /* one per render; a render still awaiting when the page moves on draws nothing */
    let visit = 0;
    const STATUSES = ['draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled', 'failed'];

    /* the moves of the API and the statuses each is allowed from */
    const MOVES = [
        { name: 'start', from: ['draft', 'scheduled'], cls: '' },
        { name: 'pause', from: ['running'], cls: 'secondary' },
        { name: 'resume', from: ['paused'], cls: '' },
        { name: 'cancel', from: ['draft', 'scheduled', 'running', 'paused'], cls: 'danger' },
        { name: 'retry-failed', from: ['running', 'paused', 'completed'], cls: 'secondary',
          needs: (s) => s && (s.failed + s.undelivered) > 0 },
    ];

    function statusBadge(status, id) {
        return h('span', { class: 'status ' + status, id }, BC.t('camp.status.' + status));
    }

    function progressBar(x, id) {
        const pct = Math.round(100 * (x || 0));
        return h('span', { class: 'progress-cell' },
                 h('progress', { max: 100, value: pct, id }), h('span', { class: 'hint' }, pct + '%'));
    }

    /* ---------- the list ---------- */

    async function renderList(root, params) {
        const status = params.query.get('status') || '';
        const select = h('select', { id: 'camp-filter', onchange: () =>
            BC.go('#/campaigns' + (select.value ? '?status=' + select.value : '')) },
            h('option', { value: '' }, BC.t('camp.all_statuses')),
            STATUSES.map((s) => h('option', { value: s, selected: s === status }, BC.t('camp.status.' + s))));
        const box = h('div', { id: 'camp-list' }, h('p', { class: 'hint' }, BC.t('common.loading')));
        root.appendChild(h('section', { class: 'card' },
            h('div', { class: 'row' }, h('h2', { class: 'grow' }, BC.t('nav.campaigns')), select,
              BC.can('send') && h('button', { id: 'camp-new', type: 'button',
                                              onclick: () => BC.go('#/campaigns/new') }, BC.t('camp.new'))),
            box));
        const rows = [];
        let cursor = null;
        const progress = {};
        const more = h('button', { class: 'secondary hidden', type: 'button', onclick: () => load() },
                       BC.t('common.more'));
        function draw() {
            BC.clear(box).appendChild(BC.table([
                { label: 'camp.name', value: (c) => c.name },
                { label: 'camp.channel', value: (c) => BC.t('channel.' + c.channel) },
                { label: 'camp.status', value: (c) => statusBadge(c.status) },
                { label: 'camp.progress', value: (c) => (progress[c.id] !== undefined
                    ? progressBar(progress[c.id]) : (c.status === 'completed' ? progressBar(1) : '')) },
                { label: 'camp.created', value: (c) => BC.fmt.date(c.created_at) },
            ], rows, { empty: 'camp.empty', onrow: (c, tr) => {
                tr.classList.add('clickable');
                tr.addEventListener('click', () => BC.go('#/campaigns/' + c.id));
            } }));
            box.appendChild(more);
            more.classList.toggle('hidden', !cursor);
        }
        async function load() {
            const q = new URLSearchParams({ limit: 50 });
            if (status) { q.set('status', status); }
            if (cursor) { q.set('cursor', cursor); }
            try {
                const r = await BC.api('GET', '/api/campaigns?' + q);
                rows.push(...r.campaigns);
                cursor = r.next_cursor;
                draw();
            } catch (e) {
                BC.clear(box).appendChild(h('p', { class: 'error' }, e.message));
                BC.fail(e);
            }
        }
        const me = visit;
        await load();
        if (me !== visit) { return; }
        /* the progress of the moving ones, after the first paint */
        BC.every(5000, async () => {
            const moving = rows.filter((c) => ['running', 'paused'].includes(c.status)).slice(0, 10);
            for (const c of moving) {
                const one = await BC.api('GET', '/api/campaigns/' + c.id);
                progress[c.id] = one.stats.progress;
                c.status = one.status;
            }
            if (moving.length) { draw(); }
        });
    }

    /* ---------- one campaign ---------- */

    const COUNTERS = ['audience', 'eligible', 'pending', 'queued', 'sent', 'delivered', 'read',
                      'failed', 'undelivered', 'blocked', 'cancelled'];

    async function renderOne(root, id) {
        const head = h('div', { class: 'row' });
        const moves = h('div', { class: 'row', id: 'camp-moves' });
        const bar = h('progress', { id: 'camp-progress', max: 100, value: 0 });
        const pct = h('span', { id: 'camp-progress-text', class: 'hint' }, '0%');
        const tiles = h('div', { class: 'grid', id: 'camp-counters' });
        const skipped = h('p', { class: 'hint', id: 'camp-skipped' });
        const cost = h('p', { class: 'hint', id: 'camp-cost' });
        const variants = h('div', { id: 'camp-variants' });
        const steps = h('div', { id: 'camp-steps' });
        const error = h('p', { class: 'error', id: 'camp-error' });
        root.appendChild(h('section', { class: 'card' }, head, moves, error,
            h('div', { class: 'row' }, bar, pct), tiles, skipped, cost));
        root.appendChild(h('section', { class: 'card' }, h('h2', null, BC.t('camp.variants')), variants,
                           h('h3', null, BC.t('camp.steps')), steps));
        root.appendChild(recipientsCard(id));

        let last = null;
        async function move(name) {
            if (name === 'cancel' && !confirm(BC.t('common.confirm'))) { return; }
            try {
                const r = await BC.api('POST', `/api/campaigns/${id}/${name}`, {});
                BC.toast(name === 'retry-failed' ? BC.t('camp.requeued', { n: r.requeued })
                                                 : BC.t('camp.moved.' + name));
                error.textContent = '';
                await refresh();
            } catch (e) {
                /* a 409 names the status the campaign is really in */
                error.textContent = e.message;
                BC.fail(e);
            }
        }
        function drawMoves(c) {
            const key = c.status + '/' + MOVES.map((m) => !m.needs || m.needs(c.stats)).join();
            if (moves.dataset.key === key) { return; }
            moves.dataset.key = key;
            BC.clear(moves);
            if (!BC.can('send')) { return; }
            for (const m of MOVES) {
                if (m.from.includes(c.status) && (!m.needs || m.needs(c.stats))) {
                    moves.appendChild(h('button', { type: 'button', class: m.cls, id: 'camp-' + m.name,
                                                    onclick: () => move(m.name) },
                                        BC.t('camp.move.' + m.name)));
                }
            }
        }
        async function refresh() {
            const c = await BC.api('GET', '/api/campaigns/' + encodeURIComponent(id));
            last = c;
            const s = c.stats || {};
            BC.clear(head).append(h('h2', { class: 'grow' }, c.name), statusBadge(c.status, 'camp-status'),
                h('span', { class: 'hint' }, BC.t('channel.' + c.channel)),
                h('span', { class: 'hint' }, c.rate_per_second
                    ? BC.t('camp.rate_n', { n: c.rate_per_second }) : BC.t('camp.rate_none')),
                c.schedule_at ? h('span', { class: 'hint' }, BC.t('camp.scheduled_for',
                                                                  { at: BC.fmt.date(c.schedule_at) })) : '');
            drawMoves(c);
            const p = Math.round(1000 * (s.progress || 0)) / 10;
            bar.value = p;
            pct.textContent = p + '%';
            pct.dataset.value = p;
            BC.clear(tiles).append(...COUNTERS.map((k) => h('div', { class: 'tile', dataset: { counter: k } },
                h('div', { class: 'value' }, BC.fmt.num(s[k] || 0)),
                h('div', { class: 'label' }, BC.t('camp.c.' + k)))));
            const sk = Object.entries(s.skipped || {}).filter(([, n]) => n);
            skipped.textContent = sk.length ? BC.t('camp.skipped') + ': '
                + sk.map(([k, n]) => `${BC.t('camp.skip.' + k)} ${n}`).join(' · ') : '';
            cost.textContent = (s.cost || []).length ? BC.t('camp.cost') + ': '
                + s.cost.map((x) => `${x.amount} ${x.unit || ''}`).join(', ') : '';
            BC.clear(variants).appendChild(BC.table([
                { label: 'camp.variant', value: (v) => v.name },
                { label: 'camp.weight', value: (v) => v.weight },
                ...['eligible', 'queued', 'sent', 'delivered', 'read', 'failed'].map((k) =>
                    ({ label: 'camp.c.' + k, value: (v) => BC.fmt.num(v[k] || 0) })),
            ], s.variants || [], { empty: 'common.none' }));
            BC.clear(steps).appendChild(BC.table([
                { label: 'camp.step', value: (v) => v.step },
                { label: 'camp.channel', value: (v) => BC.t('channel.' + v.channel) },
                { label: 'camp.delay', value: (v) => BC.t('camp.delay_s', { n: v.delay_seconds }) },
                { label: 'camp.condition', value: (v) => BC.t('camp.cond.' + (v.condition || 'always')) },
                ...['audience', 'sent', 'delivered', 'failed'].map((k) =>
                    ({ label: 'camp.c.' + k, value: (v) => BC.fmt.num(v[k] || 0) })),
            ], s.steps || [], { empty: 'camp.no_steps' }));
            return c;
        }
        const me = visit;
        try {
            await refresh();
        } catch (e) {
            if (me === visit) { BC.clear(root).appendChild(h('p', { class: 'error' }, e.message)); }
            return;
        }
        if (me !== visit) { return; }
        /* every second until it is over (BC.every's first run comes right
           after the first paint: skipped) */
        let first = true;
        BC.every(1000, () => {
            if (first) { first = false; return null; }
            return last && ['completed', 'cancelled', 'failed'].includes(last.status)
                && last.stats && last.stats.progress >= 1 ? null : refresh();
        });
    }

    function recipientsCard(id) {
        const filter = h('select', { id: 'rcpt-status' }, h('option', { value: '' }, BC.t('camp.all_statuses')),
            ['pending', 'queued', 'skipped', 'cancelled', 'sent', 'delivered', 'read', 'failed', 'undelivered']
                .map((s) => h('option', { value: s }, BC.t('camp.rs.' + s))));
        const box = h('div', { id: 'camp-recipients' });
        let cursor = null;
        let rows = [];
        async function load(reset) {
            if (reset) { rows = []; cursor = null; }
            const q = new URLSearchParams({ limit: 50 });
            if (filter.value) { q.set('status', filter.value); }
            if (cursor) { q.set('cursor', cursor); }
            try {
                const r = await BC.api('GET', `/api/campaigns/${id}/recipients?` + q);
                rows.push(...r.recipients);
                cursor = r.next_cursor;
                BC.clear(box).appendChild(BC.table([
                    { label: 'camp.address', value: (x) => x.address || '' },
                    { label: 'camp.variant', value: (x) => x.variant },
                    { label: 'camp.step', value: (x) => x.step },
                    { label: 'camp.state', value: (x) => BC.t('camp.rs.' + x.state) },
                    { label: 'camp.status', value: (x) => x.status
                        ? h('span', { class: 'status ' + x.status }, BC.t('camp.rs.' + x.status))
                        : (x.skip_reason ? BC.t('camp.skip.' + x.skip_reason) : '') },
                    { label: 'camp.error', value: (x) => [x.error_code, x.error_message].filter(Boolean).join(' ') },
                ], rows, { empty: 'camp.no_recipients' }));
                if (cursor) {
                    box.appendChild(h('button', { class: 'secondary', type: 'button', id: 'rcpt-more',
                                                  onclick: () => load(false) }, BC.t('common.more')));
                }
            } catch (e) { BC.fail(e); }
        }
        filter.addEventListener('change', () => load(true));
        load(true);
        return h('section', { class: 'card' },
            h('div', { class: 'row' }, h('h2', { class: 'grow' }, BC.t('camp.recipients')), filter,
              h('button', { type: 'button', class: 'secondary', id: 'rcpt-refresh',
                            onclick: () => load(true) }, BC.t('common.refresh'))),
            box);
    }

    BC.page('campaigns', {
        title: 'nav.campaigns', order: 40, need: 'read',
        leave: () => { visit++; },
        render: (root, params) => {
            visit++;
            const id = params.path[0];
            if (id === 'new') { return BC.campaignWizard(root); }
            if (id) { return renderOne(root, id); }
            return renderList(root, params);
        },
    });

    const en = {
        'nav.campaigns': 'Campaigns', 'camp.new': 'New campaign', 'camp.all_statuses': 'All statuses',
        'camp.name': 'Name', 'camp.channel': 'Channel', 'camp.status': 'Status',
        'camp.progress': 'Progress', 'camp.created': 'Created', 'camp.empty': 'No campaigns yet.',
        'camp.variants': 'Variants', 'camp.steps': 'Follow-up steps', 'camp.no_steps': 'No follow-ups.',
        'camp.variant': 'Variant', 'camp.weight': 'Weight', 'camp.step': 'Step',
        'camp.delay': 'Delay', 'camp.delay_s': '{n} s', 'camp.condition': 'Condition',
        'camp.recipients': 'Recipients', 'camp.no_recipients': 'No recipients yet.',
        'camp.address': 'Address', 'camp.state': 'State', 'camp.error': 'Error',
        'camp.skipped': 'Skipped', 'camp.cost': 'Cost so far',
        'camp.rate_n': '{n} per second', 'camp.rate_none': 'no rate limit',
        'camp.scheduled_for': 'scheduled for {at}', 'camp.requeued': '{n} recipients requeued.',
        'camp.move.start': 'Start', 'camp.move.pause': 'Pause', 'camp.move.resume': 'Resume',
        'camp.move.cancel': 'Cancel campaign', 'camp.move.retry-failed': 'Retry failed',
        'camp.moved.start': 'Campaign started.', 'camp.moved.pause': 'Campaign paused.',
        'camp.moved.resume': 'Campaign resumed.', 'camp.moved.cancel': 'Campaign cancelled.',
        'camp.cond.always': 'always', 'camp.cond.not_delivered': 'if not delivered',
        'camp.cond.not_read': 'if not read', 'camp.cond.not_replied': 'if no reply',
    };
    const zh = {
        'nav.campaigns': '群发活动', 'camp.new': '新建活动', 'camp.all_statuses': '全部状态',
        'camp.name': '名称', 'camp.channel': '渠道', 'camp.status': '状态',
        'camp.progress': '进度', 'camp.created': '创建时间', 'camp.empty': '暂无活动。',
        'camp.variants': '变体', 'camp.steps': '后续步骤', 'camp.no_steps': '无后续步骤。',
        'camp.variant': '变体', 'camp.weight': '权重', 'camp.step': '步骤',
        'camp.delay': '延迟', 'camp.delay_s': '{n} 秒', 'camp.condition': '条件',
        'camp.recipients': '收件人', 'camp.no_recipients': '暂无收件人。',
        'camp.address': '地址', 'camp.state': '状态', 'camp.error': '错误',
        'camp.skipped': '已跳过', 'camp.cost': '目前费用',
        'camp.rate_n': '每秒 {n} 条', 'camp.rate_none': '不限速',
        'camp.scheduled_for': '计划于 {at}', 'camp.requeued': '已重新排队 {n} 位收件人。',
        'camp.move.start': '开始', 'camp.move.pause': '暂停', 'camp.move.resume': '继续',
        'camp.move.cancel': '取消活动', 'camp.move.retry-failed': '重试失败项',
        'camp.moved.start': '活动已开始。', 'camp.moved.pause': '活动已暂停。',
        'camp.moved.resume': '活动已继续。', 'camp.moved.cancel': '活动已取消。',
        'camp.cond.always': '总是', 'camp.cond.not_delivered': '未送达时',
        'camp.cond.not_read': '未读时', 'camp.cond.not_replied': '未回复时',
    };
    const words = {
        status: { draft: ['Draft', '草稿'], scheduled: ['Scheduled', '已计划'], running: ['Running', '进行中'],
                  paused: ['Paused', '已暂停'], completed: ['Completed', '已完成'],
                  cancelled: ['Cancelled', '已取消'], failed: ['Failed', '失败'] },
        c: { audience: ['Audience', '受众'], eligible: ['Eligible', '符合条件'], pending: ['Pending', '待处理'],
             queued: ['Queued', '排队中'], sent: ['Sent', '已发送'], delivered: ['Delivered', '已送达'],
             read: ['Read', '已读'], failed: ['Failed', '失败'], undelivered: ['Undelivered', '未送达'],
             blocked: ['Blocked', '已拦截'], cancelled: ['Cancelled', '已取消'] },
        skip: { no_address: ['no address', '无地址'], opted_out: ['opted out', '已退订'],
                blacklisted: ['blacklisted', '黑名单'], already_sent_template: ['had the template', '已收到过模板'],
                missing_variables: ['missing variables', '缺少变量'],
                outside_24h_window: ['outside the 24 h window', '超出 24 小时窗口'],
                condition_not_met: ['condition not met', '条件未满足'],
                quiet_hours_deferred: ['waiting for quiet hours', '等待免打扰结束'] },
        /* recipient states and message statuses */
        rs: { pending: ['pending', '待处理'], queued: ['queued', '排队中'], skipped: ['skipped', '已跳过'],
              cancelled: ['cancelled', '已取消'], sent: ['sent', '已发送'], delivered: ['delivered', '已送达'],
              read: ['read', '已读'], failed: ['failed', '失败'], undelivered: ['undelivered', '未送达'],
              accepted: ['accepted', '已接受'], sending: ['sending', '发送中'], blocked: ['blocked', '已拦截'],
              canceled: ['canceled', '已取消'], received: ['received', '已接收'] },
    };
    for (const [group, list] of Object.entries(words)) {
        for (const [k, [e, z]] of Object.entries(list)) {
            en[`camp.${group}.${k}`] = e;
            zh[`camp.${group}.${k}`] = z;
        }
    }
    BC.i18n({ en, zh });
})();
