/*
 * The campaign wizard (#/campaigns/new): channel and sender, audience with
 * the live count of eligible recipients (POST /api/campaigns/estimate, the
 * dispatcher's skip rules), content or template with its variables, A/B
 * variants, follow-up steps, schedule, rate and quiet hours, then a review
 * with the estimated cost and duration before POST /api/campaigns.
 */
'use strict';

(function () {
    const h = BC.h;
    const STEPS = ['basics', 'audience', 'content', 'delivery', 'review'];

    /*
     * Unit prices when the API has no recent priced message of the channel:
     * list prices of the providers (USD, per SMS segment or per message),
     * shown as an estimate.
     */
    const LIST_PRICE = { sms: 0.0079, whatsapp: 0.005, email: 0.0001 };

    function field(label, input, cls) {
        return h('label', { class: cls }, h('span', null, BC.t(label)), input);
    }

    /* the content object of the send API for a channel */
    function content(channel, text, subject) {
        if (channel === 'sms') { return { message: text }; }
        if (channel === 'whatsapp') { return { body: text }; }
        return { subject: subject || '', text };
    }

    /* a "template or own text" chooser; .value() gives its part of a variant */
    function contentEditor(w, prefix) {
        const mode = h('select', { id: prefix + '-mode' },
            h('option', { value: 'content' }, BC.t('wiz.own_text')),
            h('option', { value: 'template' }, BC.t('wiz.template')));
        const tpl = h('select', { id: prefix + '-template' });
        const subject = h('input', { id: prefix + '-subject', placeholder: BC.t('tpl.subject') });
        const text = h('textarea', { id: prefix + '-message', rows: 4 });
        const count = h('p', { class: 'hint', id: prefix + '-segments' });
        const vars = h('p', { class: 'hint', id: prefix + '-vars' });
        const box = h('div', { class: 'subcard' }, field('wiz.content', mode), tpl, subject, text, count, vars);
        function live() {
            const isTpl = mode.value === 'template';
            tpl.classList.toggle('hidden', !isTpl);
            text.classList.toggle('hidden', isTpl);
            subject.classList.toggle('hidden', isTpl || w.channel() !== 'email');
            const t = w.templates.find((x) => String(x.id) === tpl.value);
            const body = isTpl ? (t ? t.body || '' : '') : text.value;
            const s = BC.smsSegments(body);
            count.textContent = w.channel() === 'sms' && body
                ? BC.t('tpl.segments', { chars: s.characters, enc: s.encoding, n: s.segments }) : '';
            const names = isTpl ? (t ? t.variables : []) : BC.templateVariables(text.value, subject.value);
            vars.textContent = names.length ? BC.t('tpl.variables') + ': ' + names.join(', ') : '';
            w.changed();
        }
        for (const el of [mode, tpl, subject, text]) { el.addEventListener('input', live); }
        return {
            el: box, live,
            fillTemplates() {
                BC.clear(tpl).append(h('option', { value: '' }, BC.t('wiz.pick_template')),
                    ...w.templates.map((t) => h('option', { value: t.id }, t.name)));
                live();
            },
            segments() {
                const t = w.templates.find((x) => String(x.id) === tpl.value);
                return BC.smsSegments(mode.value === 'template' ? (t ? t.body || '' : '') : text.value)
                    .segments || 1;
            },
            templateId() { return mode.value === 'template' && tpl.value ? Number(tpl.value) : 0; },
            value() {
                return mode.value === 'template' ? { template_id: Number(tpl.value) || null }
                    : { content: content(w.channel(), text.value, subject.value) };
            },
        };
    }

    /* the wizard's inputs, by name */
    function inputs() {
        return {
            name: h('input', { id: 'wiz-name', required: true }),
            channel: h('select', { id: 'wiz-channel' }, ['sms', 'whatsapp', 'email'].map((c) =>
                h('option', { value: c }, BC.t('channel.' + c)))),
            from: h('select', { id: 'wiz-from' }),
            tags: h('input', { id: 'wiz-tags', placeholder: 'vip, beta' }),
            contacts: h('input', { id: 'wiz-contacts', placeholder: '7, 12' }),
            attrs: h('input', { id: 'wiz-attrs', placeholder: 'plan=pro' }),
            country: h('input', { id: 'wiz-country', placeholder: 'US', maxlength: 2 }),
            locale: h('input', { id: 'wiz-locale', placeholder: 'en' }),
            all: h('input', { id: 'wiz-all', type: 'checkbox' }),
            limit: h('input', { id: 'wiz-limit', type: 'number', min: 1 }),
            tvars: h('input', { id: 'wiz-tvars', placeholder: 'offer=10% off' }),
            never: h('input', { id: 'wiz-never', type: 'checkbox', checked: true }),
            schedule: h('input', { id: 'wiz-schedule', type: 'datetime-local' }),
            rate: h('input', { id: 'wiz-rate', type: 'number', min: 0, max: 10000, value: 50 }),
            qstart: h('input', { id: 'wiz-quiet-start', placeholder: '21:00' }),
            qend: h('input', { id: 'wiz-quiet-end', placeholder: '08:00' }),
            qzone: h('input', { id: 'wiz-quiet-zone', placeholder: 'Europe/Berlin' }),
            vname: h('input', { id: 'wiz-vname', value: 'A' }),
            vweight: h('input', { id: 'wiz-vweight', type: 'number', min: 1, value: 1 }),
        };
    }

    /* "a, b" -> ['a', 'b'] (numbers: the positive integers only) */
    function list(text, numbers) {
        const a = text.split(',').map((x) => x.trim()).filter(Boolean);
        return numbers ? a.map(Number).filter((n) => n > 0) : a;
    }

    /* the "audience" of POST /api/campaigns from the inputs */
    function audience(w) {
        const f = w.f;
        const a = {};
        const groups = [...w.root.querySelectorAll('input[name=group]:checked')].map((x) => Number(x.value));
        if (f.all.checked) { a.all = true; }
        if (groups.length) { a.group_ids = groups; }
        if (list(f.tags.value).length) { a.tags = list(f.tags.value); }
        if (list(f.contacts.value, true).length) { a.contact_ids = list(f.contacts.value, true); }
        const filter = {};
        const attrs = BC.parsePairs(f.attrs.value);
        if (Object.keys(attrs).length) { filter.attributes = attrs; }
        if (f.country.value) { filter.country = f.country.value.toUpperCase(); }
        if (f.locale.value) { filter.locale = f.locale.value; }
        if (Object.keys(filter).length) { a.filter = filter; }
        if (Number(f.limit.value) > 0) { a.limit = Number(f.limit.value); }
        return a;
    }

    /* the live count, debounced: the last answer wins, errors say what to fix */
    function estimate(w) {
        clearTimeout(w.estimateTimer);
        w.estimateTimer = setTimeout(async () => {
            const seq = ++w.estimateSeq;
            const el = w.el.eligible;
            const body = { channel: w.channel(), audience: audience(w) };
            if (w.main.templateId()) {
                body.template_id = w.main.templateId();
                body.never_repeat_template = w.f.never.checked;
            }
            el.classList.add('busy');
            try {
                const r = await BC.api('POST', '/api/campaigns/estimate', body);
                if (seq !== w.estimateSeq) { return; }
                w.estimate = r;
                el.dataset.eligible = r.eligible;
                const sk = Object.entries(r.skipped).filter(([, n]) => n)
                    .map(([k, n]) => `${BC.t('camp.skip.' + k)} ${n}`);
                BC.clear(el).append(h('b', null, BC.t('wiz.eligible', { n: BC.fmt.num(r.eligible) })),
                    ' ', h('span', { class: 'hint' }, BC.t('wiz.of_audience', { n: BC.fmt.num(r.audience) })
                        + (sk.length ? ' · ' + sk.join(' · ') : '')));
            } catch (e) {
                if (seq !== w.estimateSeq) { return; }
                w.estimate = null;
                delete el.dataset.eligible;
                el.textContent = e.code === 'audience_required' ? BC.t('wiz.pick_audience') : e.message;
            } finally {
                el.classList.remove('busy');
            }
        }, 250);
    }

    /* the channel's templates and senders */
    async function loadChannel(w) {
        const ch = w.channel();
        try {
            const [tpl, senders] = await Promise.all([
                BC.api('GET', '/api/templates?limit=500&channel=' + ch),
                ch === 'sms' ? null : BC.api('GET', `/api/${ch === 'email' ? 'email' : 'whatsapp'}/senders`),
            ]);
            w.templates = tpl.templates;
            BC.clear(w.f.from).append(h('option', { value: '' }, BC.t('wiz.default_sender')),
                ...((senders && senders.senders) || []).map((s) => {
                    const v = typeof s === 'string' ? s : s.from_email;
                    return h('option', { value: v }, v);
                }));
            w.main.fillTemplates();
            w.variants.forEach((v) => v.editor.fillTemplates());
        } catch (e) { BC.fail(e); }
    }

    function addVariant(w) {
        const editor = contentEditor(w, 'wiz-v' + (w.variants.length + 1));
        const v = {
            editor,
            name: h('input', { value: String.fromCharCode(66 + w.variants.length), class: 'vname' }),
            weight: h('input', { type: 'number', min: 1, value: 1, class: 'vweight' }),
        };
        v.el = h('div', { class: 'variant' }, h('div', { class: 'row' },
            field('wiz.variant_name', v.name), field('wiz.weight', v.weight),
            h('button', { type: 'button', class: 'link danger', onclick: () => {
                w.variants.splice(w.variants.indexOf(v), 1); v.el.remove(); } }, BC.t('common.delete'))),
            editor.el);
        w.variants.push(v);
        w.el.variants.appendChild(v.el);
        editor.fillTemplates();
    }

    function addStep(w) {
        const s = {
            channel: h('select', { class: 'step-channel' }, ['sms', 'whatsapp', 'email'].map((c) =>
                h('option', { value: c, selected: c === w.channel() }, BC.t('channel.' + c)))),
            text: h('textarea', { rows: 2, class: 'step-message' }),
            delay: h('input', { type: 'number', min: 0, value: 60, class: 'step-delay' }),
            condition: h('select', { class: 'step-condition' }, ['always', 'not_delivered', 'not_read',
                'not_replied'].map((c) => h('option', { value: c }, BC.t('camp.cond.' + c)))),
        };
        s.el = h('div', { class: 'subcard' }, h('div', { class: 'row' },
            field('camp.channel', s.channel), field('wiz.delay_min', s.delay),
            field('camp.condition', s.condition),
            h('button', { type: 'button', class: 'link danger', onclick: () => {
                w.steps.splice(w.steps.indexOf(s), 1); s.el.remove(); } }, BC.t('common.delete'))),
            field('wiz.message', s.text));
        w.steps.push(s);
        w.el.steps.appendChild(s.el);
    }

    /* the body of POST /api/campaigns */
    function payload(w) {
        const f = w.f;
        const p = { name: f.name.value, channel: w.channel(), audience: audience(w),
                    rate_per_second: Number(f.rate.value) || 0 };
        if (f.from.value) { p.from = f.from.value; }
        if (w.variants.length) {
            p.variants = [Object.assign({ name: f.vname.value, weight: Number(f.vweight.value) || 1 },
                                        w.main.value()),
                          ...w.variants.map((v) => Object.assign({ name: v.name.value,
                              weight: Number(v.weight.value) || 1 }, v.editor.value()))];
        } else {
            Object.assign(p, w.main.value());
        }
        const tv = BC.parsePairs(f.tvars.value);
        if (Object.keys(tv).length) { p.template_variables = tv; }
        if (w.main.templateId()) { p.never_repeat_template = f.never.checked; }
        if (w.steps.length) {
            p.steps = w.steps.map((s) => ({ channel: s.channel.value,
                content: content(s.channel.value, s.text.value, ''),
                delay_minutes: Number(s.delay.value) || 0, condition: s.condition.value }));
        }
        if (f.schedule.value) { p.schedule_at = new Date(f.schedule.value).toISOString(); }
        if (f.qstart.value && f.qend.value) {
            p.quiet_hours = { start: f.qstart.value, end: f.qend.value };
            if (f.qzone.value) { p.quiet_hours.timezone = f.qzone.value; }
        }
        return p;
    }

    /* the unit price: the average of the channel's recent priced messages,
       else the list price; either way an estimate */
    async function unitPrice(ch) {
        try {
            const r = await BC.api('GET', `/api/messages?channel=${ch}&direction=outbound&limit=100`);
            const prices = r.messages.map((m) => Math.abs(parseFloat(m.price))).filter((x) => x > 0);
            if (prices.length) {
                const unit = r.messages.find((m) => m.price_unit) || {};
                return { amount: prices.reduce((a, b) => a + b, 0) / prices.length,
                         unit: unit.price_unit || 'USD', source: 'recent' };
            }
        } catch (e) { /* the list price below */ }
        return { amount: LIST_PRICE[ch], unit: 'USD', source: 'list' };
    }

    function duration(n, rate) {
        if (!rate) { return BC.t('wiz.duration_fast'); }
        const s = Math.ceil(n / rate);
        return s < 60 ? BC.t('wiz.seconds', { n: s })
            : s < 3600 ? BC.t('wiz.minutes', { n: Math.ceil(s / 60) })
                : BC.t('wiz.hours', { n: (s / 3600).toFixed(1) });
    }

    async function drawReview(w) {
        const review = BC.clear(w.el.review);
        review.appendChild(h('p', { class: 'hint' }, BC.t('common.loading')));
        const p = payload(w);
        const price = await unitPrice(p.channel);
        const n = w.estimate ? w.estimate.eligible : 0;
        const parts = p.channel === 'sms' ? w.main.segments() : 1;
        const total = n * parts * price.amount;
        const rate = p.rate_per_second;
        const dl = (k, v, id) => [h('dt', null, BC.t(k)), h('dd', { id }, v)];
        BC.clear(review).append(h('dl', { class: 'review' },
            dl('camp.name', p.name),
            dl('camp.channel', BC.t('channel.' + p.channel) + (p.from ? ' · ' + p.from : '')),
            dl('wiz.eligible_h', BC.fmt.num(n), 'wiz-review-eligible'),
            dl('camp.variants', (p.variants || [{ name: 'default', weight: 1 }])
                .map((v) => `${v.name} (${v.weight})`).join(', ')),
            dl('camp.steps', String((p.steps || []).length)),
            dl('wiz.schedule', p.schedule_at ? BC.fmt.date(p.schedule_at) : BC.t('wiz.now')),
            dl('wiz.rate', rate ? BC.t('camp.rate_n', { n: rate }) : BC.t('camp.rate_none')),
            dl('wiz.quiet', p.quiet_hours ? `${p.quiet_hours.start}–${p.quiet_hours.end}` : '—'),
            dl('wiz.cost', BC.t('wiz.cost_value', { total: total.toFixed(4), unit: price.unit,
                n: BC.fmt.num(n * parts), each: price.amount.toFixed(4),
                src: BC.t('wiz.price_' + price.source) }), 'wiz-review-cost'),
            dl('wiz.duration', duration(n, rate), 'wiz-review-duration')));
        /* a start time given: the campaign is created scheduled, not started */
        w.el.start.classList.toggle('hidden', !!p.schedule_at);
        w.el.create.textContent = BC.t(p.schedule_at ? 'wiz.create_scheduled' : 'wiz.create');
    }

    async function create(w, start) {
        try {
            const c = await BC.api('POST', '/api/campaigns', payload(w));
            if (start) { await BC.api('POST', `/api/campaigns/${c.id}/start`, {}); }
            BC.toast(BC.t(start ? 'camp.moved.start' : 'wiz.created'));
            BC.go('#/campaigns/' + c.id);
        } catch (e) { BC.fail(e); }
    }

    /* the five panes, their inputs laid out */
    function panes(w) {
        const f = w.f;
        w.el.start = h('button', { type: 'button', id: 'wiz-create-start', onclick: () => create(w, true) },
                       BC.t('wiz.create_start'));
        w.el.create = h('button', { type: 'button', class: 'secondary', id: 'wiz-create',
                                    onclick: () => create(w, false) }, BC.t('wiz.create'));
        return {
            basics: h('div', null, field('camp.name', f.name),
                h('div', { class: 'row' }, field('camp.channel', f.channel), field('wiz.sender', f.from))),
            audience: h('div', null, h('h3', null, BC.t('wiz.groups')), w.el.groups,
                h('div', { class: 'row' }, field('wiz.tags', f.tags), field('wiz.contact_ids', f.contacts)),
                h('div', { class: 'row' }, field('wiz.attributes', f.attrs), field('wiz.country', f.country),
                  field('wiz.locale', f.locale), field('wiz.limit', f.limit)),
                h('label', { class: 'inline' }, f.all, BC.t('wiz.all')), w.el.eligible),
            content: h('div', null,
                h('div', { class: 'row' }, field('wiz.variant_name', f.vname), field('wiz.weight', f.vweight)),
                w.main.el, field('wiz.template_variables', f.tvars),
                h('label', { class: 'inline' }, f.never, BC.t('wiz.never')),
                h('h3', null, BC.t('wiz.ab')), w.el.variants,
                h('button', { type: 'button', class: 'secondary', id: 'wiz-add-variant',
                              onclick: () => addVariant(w) }, BC.t('wiz.add_variant'))),
            delivery: h('div', null, h('h3', null, BC.t('camp.steps')), w.el.steps,
                h('button', { type: 'button', class: 'secondary', id: 'wiz-add-step', onclick: () => addStep(w) },
                  BC.t('wiz.add_step')),
                h('div', { class: 'row' }, field('wiz.schedule', f.schedule), field('wiz.rate', f.rate)),
                h('h3', null, BC.t('wiz.quiet')),
                h('div', { class: 'row' }, field('wiz.quiet_start', f.qstart), field('wiz.quiet_end', f.qend),
                  field('wiz.quiet_zone', f.qzone))),
            review: h('div', null, w.el.review, h('div', { class: 'row' }, w.el.start, w.el.create)),
        };
    }

    /* step i of the wizard; the name is needed before anything else */
    function show(w, i) {
        if (i === 1 && !w.f.name.value.trim()) {
            w.f.name.focus();
            BC.toast(BC.t('wiz.name_first'), 'error');
            return;
        }
        w.at = Math.max(0, Math.min(STEPS.length - 1, i));
        BC.clear(w.el.stepper).append(...STEPS.map((s, k) => h('span', { class: k === w.at ? 'active' : '' },
                                                                `${k + 1}. ${BC.t('wiz.step.' + s)}`)));
        STEPS.forEach((s, k) => w.panes[s].classList.toggle('hidden', k !== w.at));
        w.el.back.disabled = w.at === 0;
        w.el.next.classList.toggle('hidden', w.at === STEPS.length - 1);
        w.root.dataset.step = STEPS[w.at];
        if (STEPS[w.at] === 'audience') { estimate(w); }
        if (STEPS[w.at] === 'review') { drawReview(w); }
    }

    async function loadGroups(w) {
        try {
            const r = await BC.api('GET', '/api/groups?limit=1000');
            BC.clear(w.el.groups).append(...(r.groups.length ? r.groups.map((g) => h('label', { class: 'inline' },
                h('input', { type: 'checkbox', name: 'group', value: g.id, onchange: () => estimate(w) }),
                `${g.name} (${BC.fmt.num(g.member_count)})`)) : [h('p', { class: 'hint' }, BC.t('wiz.no_groups'))]));
        } catch (e) { BC.fail(e); }
    }

    BC.campaignWizard = async function (root) {
        const w = { root, at: 0, templates: [], variants: [], steps: [], estimate: null, estimateSeq: 0,
                    f: inputs() };
        w.channel = () => w.f.channel.value;
        w.changed = () => estimate(w);
        w.main = contentEditor(w, 'wiz');
        w.el = {
            groups: h('div', { id: 'wiz-groups', class: 'checks' }),
            eligible: h('p', { id: 'wiz-eligible', class: 'wiz-count' }, '…'),
            variants: h('div', { id: 'wiz-variants' }),
            steps: h('div', { id: 'wiz-steps' }),
            review: h('div', { id: 'wiz-review' }),
            stepper: h('div', { class: 'steps' }),
            back: h('button', { type: 'button', class: 'secondary', id: 'wiz-back', onclick: () => show(w, w.at - 1) },
                    BC.t('wiz.back')),
            next: h('button', { type: 'button', id: 'wiz-next', onclick: () => show(w, w.at + 1) }, BC.t('wiz.next')),
        };
        w.panes = panes(w);
        w.f.channel.addEventListener('change', () => loadChannel(w));
        for (const k of ['tags', 'contacts', 'attrs', 'country', 'locale', 'all', 'limit', 'never']) {
            w.f[k].addEventListener('input', () => estimate(w));
        }
        root.appendChild(h('section', { class: 'card', id: 'wizard' }, h('h2', null, BC.t('camp.new')),
            w.el.stepper, ...STEPS.map((s) => w.panes[s]), h('div', { class: 'row wiz-nav' }, w.el.back, w.el.next)));
        show(w, 0);
        loadChannel(w);
        await loadGroups(w);
    };

    BC.i18n({
        en: {
            'wiz.step.basics': 'Channel', 'wiz.step.audience': 'Audience', 'wiz.step.content': 'Content',
            'wiz.step.delivery': 'Delivery', 'wiz.step.review': 'Review',
            'wiz.back': 'Back', 'wiz.next': 'Next', 'wiz.sender': 'Sender',
            'wiz.default_sender': 'Default sender', 'wiz.groups': 'Groups', 'wiz.no_groups': 'No groups yet.',
            'wiz.tags': 'Tags', 'wiz.contact_ids': 'Contact ids', 'wiz.attributes': 'Attributes (name=value)',
            'wiz.country': 'Country', 'wiz.locale': 'Locale', 'wiz.limit': 'At most', 'wiz.all': 'Every contact',
            'wiz.eligible': '{n} eligible recipients', 'wiz.of_audience': 'of {n} in the audience',
            'wiz.pick_audience': 'Pick groups, tags or contacts to see who would receive it.',
            'wiz.content': 'Content', 'wiz.own_text': 'Own text', 'wiz.template': 'Template',
            'wiz.pick_template': 'Choose a template…', 'wiz.template_variables': 'Template variables (name=value)',
            'wiz.never': 'Never send the template twice to the same contact', 'wiz.ab': 'A/B variants',
            'wiz.add_variant': 'Add a variant', 'wiz.variant_name': 'Variant', 'wiz.weight': 'Weight',
            'wiz.add_step': 'Add a follow-up', 'wiz.delay_min': 'Delay (minutes)', 'wiz.message': 'Message',
            'wiz.schedule': 'Start at', 'wiz.rate': 'Messages per second', 'wiz.quiet': 'Quiet hours',
            'wiz.quiet_start': 'From', 'wiz.quiet_end': 'Until', 'wiz.quiet_zone': 'Time zone',
            'wiz.eligible_h': 'Eligible recipients', 'wiz.now': 'when started', 'wiz.cost': 'Estimated cost',
            'wiz.cost_value': '≈ {total} {unit} ({n} × {each}, {src})',
            'wiz.price_recent': 'average of recent messages', 'wiz.price_list': 'list price estimate',
            'wiz.duration': 'Estimated duration', 'wiz.duration_fast': 'as fast as the providers allow',
            'wiz.seconds': 'about {n} s', 'wiz.minutes': 'about {n} min', 'wiz.hours': 'about {n} h',
            'wiz.create_start': 'Create and start', 'wiz.create': 'Create (draft or scheduled)',
            'wiz.created': 'Campaign created.', 'wiz.create_scheduled': 'Create scheduled', 'wiz.name_first': 'Give the campaign a name first.',
        },
        zh: {
            'wiz.step.basics': '渠道', 'wiz.step.audience': '受众', 'wiz.step.content': '内容',
            'wiz.step.delivery': '发送设置', 'wiz.step.review': '确认',
            'wiz.back': '上一步', 'wiz.next': '下一步', 'wiz.sender': '发送方',
            'wiz.default_sender': '默认发送方', 'wiz.groups': '分组', 'wiz.no_groups': '暂无分组。',
            'wiz.tags': '标签', 'wiz.contact_ids': '联系人 ID', 'wiz.attributes': '属性（名称=值）',
            'wiz.country': '国家', 'wiz.locale': '语言区域', 'wiz.limit': '最多', 'wiz.all': '全部联系人',
            'wiz.eligible': '{n} 位符合条件的收件人', 'wiz.of_audience': '受众共 {n} 位',
            'wiz.pick_audience': '请选择分组、标签或联系人以查看收件人数量。',
            'wiz.content': '内容', 'wiz.own_text': '自定义文本', 'wiz.template': '模板',
            'wiz.pick_template': '选择模板…', 'wiz.template_variables': '模板变量（名称=值）',
            'wiz.never': '同一联系人不重复发送此模板', 'wiz.ab': 'A/B 变体',
            'wiz.add_variant': '添加变体', 'wiz.variant_name': '变体', 'wiz.weight': '权重',
            'wiz.add_step': '添加后续步骤', 'wiz.delay_min': '延迟（分钟）', 'wiz.message': '消息',
            'wiz.schedule': '开始时间', 'wiz.rate': '每秒消息数', 'wiz.quiet': '免打扰时段',
            'wiz.quiet_start': '从', 'wiz.quiet_end': '至', 'wiz.quiet_zone': '时区',
            'wiz.eligible_h': '符合条件的收件人', 'wiz.now': '开始时', 'wiz.cost': '预计费用',
            'wiz.cost_value': '≈ {total} {unit}（{n} × {each}，{src}）',
            'wiz.price_recent': '近期消息平均价格', 'wiz.price_list': '标价估算',
            'wiz.duration': '预计耗时', 'wiz.duration_fast': '以服务商允许的最快速度',
            'wiz.seconds': '约 {n} 秒', 'wiz.minutes': '约 {n} 分钟', 'wiz.hours': '约 {n} 小时',
            'wiz.create_start': '创建并开始', 'wiz.create': '创建（草稿或计划）',
            'wiz.created': '活动已创建。', 'wiz.create_scheduled': '创建计划活动', 'wiz.name_first': '请先填写活动名称。',
        },
    });
})();
