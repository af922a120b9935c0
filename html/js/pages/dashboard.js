/*
 * The dashboard: the last 24 hours at a glance, refreshed every 5 s while
 * shown. Messages per channel per hour (GET /api/stats/series, drawn with
 * uPlot), delivery rate and cost (GET /api/stats), backend health
 * (/health), queue depth and the sender's heartbeat (the only place they
 * are served is /metrics, so its text is read for those three series),
 * and the running campaigns with their progress.
 */
'use strict';

(function () {
    const h = BC.h;
    const t = BC.t;
    const HOUR = 3600;
    const CHANNELS = ['sms', 'whatsapp', 'email'];
    const COLORS = { sms: '#2f6fed', whatsapp: '#1e8449', email: '#b9770e' };

    let chart = null;

    function tile(id, label) {
        return h('div', { class: 'tile' },
                 h('div', { class: 'value', id }, '…'),
                 h('div', { class: 'label' }, t(label)));
    }

    function set(id, text, cls) {
        const el = document.getElementById(id);
        if (el) {
            el.textContent = text;
            el.className = 'value ' + (cls || '');
        }
    }

    /* 24 hourly buckets ending with the current hour; missing ones are 0 */
    function series(points, now) {
        const last = Math.floor(now / 1000 / HOUR) * HOUR;
        const xs = [];
        for (let x = last - 23 * HOUR; x <= last; x += HOUR) { xs.push(x); }
        const at = new Map(points.map((p) => [Date.parse(p.at) / 1000, p]));
        return [xs].concat(CHANNELS.map((ch) => xs.map((x) => (at.get(x) || {})[ch] || 0)));
    }

    function drawChart(box, data) {
        if (!box.isConnected) { return; }    /* an answer after the page was left */
        const total = data.slice(1).reduce((s, ys) => s + ys.reduce((a, b) => a + b, 0), 0);
        box.dataset.total = total;
        if (chart) {
            chart.setData(data);
            return;
        }
        BC.clear(box);
        chart = new window.uPlot({
            width: Math.max(box.clientWidth, 320), height: 240,
            scales: { x: { time: true } },
            series: [{}].concat(CHANNELS.map((ch) => ({
                label: t('dash.channel.' + ch), stroke: COLORS[ch], width: 2,
                points: { show: true },
            }))),
            axes: [{}, { label: t('dash.messages') }],
        }, data, box);
    }

    async function loadChart(box, now) {
        const from = new Date(now - 24 * HOUR * 1000).toISOString();
        const r = await BC.api('GET', '/api/stats/series?bucket=hour&from=' + from);
        drawChart(box, series(r.points, now));
    }

    async function loadStats(now) {
        const from = new Date(now - 24 * HOUR * 1000).toISOString();
        const s = await BC.api('GET', '/api/stats?from=' + from);
        set('dash-total', BC.fmt.num(s.total));
        set('dash-rate', s.delivery_rate === null ? '—' : BC.fmt.pct(s.delivery_rate),
            s.delivery_rate !== null && s.delivery_rate < 0.9 ? 'warn' : '');
        set('dash-cost', s.cost.length
            ? s.cost.map((c) => `${Math.abs(Number(c.amount)).toFixed(2)} ${c.unit || ''}`).join(' · ')
            : '0');
    }

    async function loadHealth() {
        let hl = {};
        try {
            hl = await (await fetch('/health', { credentials: 'same-origin' })).json();
        } catch (e) { /* shown as unknown below */ }
        const text = ['redis', 'mysql'].map((k) => `${k === 'redis' ? 'Redis' : 'MySQL'}: ${hl[k] || '?'}`);
        set('dash-health', text.join('  '), hl.status === 'ok' ? 'ok' : 'bad');
    }

    /* the Prometheus text's samples: "name{labels} value" lines */
    function metric(text, name, labels) {
        const re = new RegExp('^' + name + (labels ? '\\{' + labels + '\\}' : '') + ' (\\S+)$', 'm');
        const m = text.match(re);
        return m ? Number(m[1]) : null;
    }

    async function loadMetrics(now) {
        let text = '';
        try {
            const res = await fetch('/metrics', { credentials: 'same-origin' });
            if (res.ok) { text = await res.text(); }
        } catch (e) { /* metrics may be closed to browsers in production */ }
        if (!text) {
            set('dash-queue', t('dash.no_metrics'), 'hint');
            set('dash-sender', t('dash.no_metrics'), 'hint');
            return;
        }
        const q = ['send', 'events', 'retry'].map((n) => metric(text, 'broadcast_queue_depth', `queue="${n}"`));
        set('dash-queue', q.map((v) => (v === null ? '?' : BC.fmt.num(v))).join(' / '));
        const beat = metric(text, 'broadcast_sender_heartbeat_timestamp_seconds');
        if (!beat) {
            set('dash-sender', t('dash.sender_none'), 'bad');
        } else {
            const age = Math.max(0, Math.round(now / 1000 - beat));
            set('dash-sender', t('dash.sender_age', { s: age }), age > 30 ? 'bad' : 'ok');
        }
    }

    async function loadCampaigns(box) {
        const r = await BC.api('GET', '/api/campaigns?status=running&limit=10');
        const full = await Promise.all(r.campaigns.map((c) =>
            BC.api('GET', '/api/campaigns/' + c.id).catch(() => c)));
        BC.clear(box);
        if (!full.length) {
            box.appendChild(h('p', { class: 'hint' }, t('dash.no_campaigns')));
            return;
        }
        for (const c of full) {
            const p = c.stats ? c.stats.progress : 0;
            box.appendChild(h('div', { class: 'dash-campaign', dataset: { id: c.id } },
                h('div', { class: 'row' },
                  h('a', { href: '#/campaigns/' + c.id }, c.name),
                  h('span', { class: 'hint' }, `${t('dash.channel.' + c.channel)} · `
                    + t('dash.progress', { pct: BC.fmt.pct(p),
                                           sent: BC.fmt.num(c.stats ? c.stats.sent
                                               + c.stats.delivered + c.stats.read : 0),
                                           audience: BC.fmt.num(c.stats ? c.stats.audience : 0) }))),
                h('progress', { max: 1, value: p })));
        }
    }

    BC.page('dashboard', {
        title: 'nav.dashboard', order: 10, need: 'read',
        render(root) {
            const chartBox = h('div', { class: 'chart', id: 'dash-chart' },
                               h('p', { class: 'hint' }, t('dash.loading')));
            const camps = h('div', { id: 'dash-campaigns' }, h('p', { class: 'hint' }, t('dash.loading')));
            root.append(
                h('div', { class: 'grid dash-tiles' },
                  tile('dash-health', 'dash.health'), tile('dash-total', 'dash.sent'),
                  tile('dash-rate', 'dash.rate'), tile('dash-cost', 'dash.cost'),
                  tile('dash-queue', 'dash.queue'), tile('dash-sender', 'dash.sender')),
                h('div', { class: 'card' }, h('h2', null, t('dash.chart')), chartBox),
                h('div', { class: 'card' }, h('h2', null, t('dash.campaigns')), camps));
            chart = null;
            let first = true;
            BC.every(5000, async () => {
                const now = Date.now();
                const jobs = [loadHealth(), loadStats(now), loadChart(chartBox, now),
                              loadMetrics(now), loadCampaigns(camps)];
                const out = await Promise.allSettled(jobs);
                const bad = out.find((o) => o.status === 'rejected');
                if (bad && first) { BC.fail(bad.reason); }
                if (first) { chartBox.dataset.painted = ''; }
                first = false;
            });
        },
        leave() {
            if (chart) { chart.destroy(); chart = null; }
        },
    });

    BC.i18n({
        en: {
            'nav.dashboard': 'Dashboard', 'dash.loading': 'Loading…',
            'dash.health': 'Backends', 'dash.sent': 'Messages sent (24 h)',
            'dash.rate': 'Delivery rate (24 h)', 'dash.cost': 'Cost (24 h)',
            'dash.queue': 'Queue: send / events / retry', 'dash.sender': 'Sender',
            'dash.no_metrics': 'no /metrics', 'dash.sender_none': 'no heartbeat',
            'dash.sender_age': 'seen {s} s ago', 'dash.chart': 'Messages per hour (24 h)',
            'dash.messages': 'messages', 'dash.channel.sms': 'SMS',
            'dash.channel.whatsapp': 'WhatsApp', 'dash.channel.email': 'E-mail',
            'dash.campaigns': 'Running campaigns', 'dash.no_campaigns': 'No campaign is running.',
            'dash.progress': '{pct} · {sent} of {audience} sent',
        },
        zh: {
            'nav.dashboard': '概览', 'dash.loading': '加载中…',
            'dash.health': '后端', 'dash.sent': '已发送消息（24 小时）',
            'dash.rate': '送达率（24 小时）', 'dash.cost': '费用（24 小时）',
            'dash.queue': '队列：发送 / 事件 / 重试', 'dash.sender': '发送进程',
            'dash.no_metrics': '无 /metrics', 'dash.sender_none': '无心跳',
            'dash.sender_age': '{s} 秒前在线', 'dash.chart': '每小时消息数（24 小时）',
            'dash.messages': '消息', 'dash.channel.sms': '短信',
            'dash.channel.whatsapp': 'WhatsApp', 'dash.channel.email': '邮件',
            'dash.campaigns': '进行中的活动', 'dash.no_campaigns': '没有进行中的活动。',
            'dash.progress': '{pct} · 已发送 {sent} / {audience}',
        },
    });
})();
