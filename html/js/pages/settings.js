/*
 * The settings page, one tab at a time (#/settings/<tab>) so a visit
 * loads only what it shows: senders per channel, API keys, users and
 * roles (admin), the signed-in user's password, the webhook event log and
 * the audit log (admin). Actions a role cannot take are hidden; the API
 * still decides, and its 403 message is shown when it refuses.
 */
'use strict';

(function () {
    const h = BC.h;
    const t = BC.t;
    const attempt = BC.attempt;
    const pagedTable = BC.pagedTable;

    const tabs = [
        { name: 'senders', need: 'read', render: senders },
        { name: 'keys', need: 'read', render: keys },
        { name: 'users', need: 'admin', render: users },
        { name: 'password', need: 'read', render: password },
        { name: 'events', need: 'read', render: events },
        { name: 'audit', need: 'admin', render: audit },
    ];

    function field(label, input) {
        return h('label', null, h('span', null, t(label)), input);
    }

    /* ---------- senders ---------- */

    function senderCard(channel, path, field_, pick) {
        const list = h('div');
        const input = h('input', { name: field_, required: true,
                                   placeholder: channel === 'email' ? 'news@example.com'
                                                                    : 'whatsapp:+14155238886' });
        const reload = async () => {
            const r = await attempt(() => BC.api('GET', path));
            if (!r) { return; }
            BC.clear(list).appendChild(BC.table([
                { label: 'settings.col.sender', value: (s) => pick(s) },
                { label: 'settings.col.actions', value: (s) => BC.can('admin')
                    ? h('button', { type: 'button', class: 'link danger', onclick: async () => {
                        if (!confirm(t('common.confirm'))) { return; }
                        const d = await attempt(() => BC.api('DELETE', path, { [field_]: pick(s) }));
                        if (d && d.status === 'protected') { BC.toast(t('settings.protected'), 'error'); }
                        reload();
                    } }, t('common.delete')) : '' },
            ], r.senders, { empty: 'common.none' }));
            list.firstChild.id = channel + '-senders';
            list.firstChild.dataset.painted = '';
        };
        const form = h('form', { class: 'row', id: channel + '-sender-form', hidden: !BC.can('admin') },
            input, h('button', { type: 'submit' }, t('settings.add_sender')));
        form.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            if (await attempt(() => BC.api('POST', path, { [field_]: input.value.trim() }))) {
                input.value = '';
                reload();
            }
        });
        reload();
        return h('div', { class: 'card' }, h('h2', null, t('settings.senders.' + channel)), form, list);
    }

    function senders(box) {
        box.append(
            h('div', { class: 'card' }, h('h2', null, t('settings.senders.sms')),
              h('p', { class: 'hint' }, t('settings.sms_from_config'))),
            senderCard('whatsapp', '/api/whatsapp/senders', 'from_address', (s) => s),
            senderCard('email', '/api/email/senders', 'from_email', (s) => s.from_email));
    }

    /* ---------- API keys ---------- */

    /*
     * any signed-in user mints keys, capped by the role (a viewer's are read
     * keys) and lists its own; an admin lists and revokes every key
     */
    function keys(box) {
        const shown = h('p', { id: 'new-key', class: 'notice hidden' });
        const list = h('div');
        const mine = (k) => BC.me && k.admin_user_id === BC.me.user.id;
        const scopes = ['read', 'send', 'manage'].filter((s) => BC.can(s));
        const columns = [
            { label: 'settings.col.name', value: (k) => k.name },
            { label: 'settings.col.owner', value: (k) => k.owner || (mine(k) ? BC.me.user.username : '') },
            { label: 'settings.col.prefix', value: (k) => k.prefix },
            { label: 'settings.col.scope', value: (k) => k.scope },
            { label: 'settings.col.created', value: (k) => BC.fmt.date(k.created_at) },
            { label: 'settings.col.last_used', value: (k) => BC.fmt.date(k.last_used_at) },
            { label: 'settings.col.revoked', value: (k) => BC.fmt.date(k.revoked_at) },
            { label: 'settings.col.actions', value: (k) => !k.revoked_at && (mine(k) || BC.can('admin'))
                ? h('button', { type: 'button', class: 'link danger', onclick: async () => {
                    if (!confirm(t('settings.revoke_confirm', { prefix: k.prefix }))) { return; }
                    await attempt(() => BC.api('POST', `/api/keys/${k.id}/revoke`));
                    load(true);
                } }, t('settings.revoke')) : '' },
        ];
        const load = pagedTable(list, columns, async () => {
            const r = await BC.api('GET', '/api/keys');
            return { rows: r.keys, next: null };
        }, 'keys-table');
        const form = h('form', { id: 'key-form', class: 'row' },
            h('input', { name: 'name', required: true, placeholder: t('settings.key_name') }),
            h('select', { name: 'scope' }, scopes.map((s) =>
                h('option', { value: s }, t('settings.scope.' + s)))),
            h('input', { name: 'expires_in_days', type: 'number', min: 1,
                         placeholder: t('settings.expires_in_days') }),
            h('button', { type: 'submit' }, t('common.create')));
        form.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            const b = { name: form.name.value, scope: form.scope.value };
            if (form.expires_in_days.value) { b.expires_in_days = parseInt(form.expires_in_days.value, 10); }
            const k = await attempt(() => BC.api('POST', '/api/keys', b));
            if (!k) { return; }
            shown.textContent = t('settings.key_once', { key: k.api_key });
            shown.classList.remove('hidden');
            form.name.value = '';
            load(true);
        });
        box.appendChild(h('div', { class: 'card' }, h('h2', null, t('settings.tab.keys')),
                          form, shown, list));
        load(true);
    }

    /* ---------- users and roles (admin) ---------- */

    function users(box) {
        const list = h('div');
        const roles = ['admin', 'operator', 'viewer'];
        const act = (label, fn, cls) => h('button', { type: 'button', class: 'link ' + (cls || ''),
            onclick: async () => { if (await attempt(fn)) { load(true); } } }, t(label));
        const columns = [
            { label: 'settings.col.username', value: (u) => u.username },
            { label: 'settings.col.role', value: (u) => {
                const sel = h('select', { class: 'user-role', dataset: { id: u.id } },
                    roles.map((r) => h('option', { value: r, selected: r === u.role }, t('role.' + r))));
                sel.addEventListener('change', async () => {
                    if (await attempt(() => BC.api('PATCH', `/api/admin/users/${u.id}`,
                                                   { role: sel.value }))) {
                        BC.toast(t('settings.saved'));
                    }
                    load(true);
                });
                return sel;
            } },
            { label: 'settings.col.state', value: (u) => u.disabled ? t('settings.disabled') : t('settings.active') },
            { label: 'settings.col.created', value: (u) => BC.fmt.date(u.created_at) },
            { label: 'settings.col.last_login', value: (u) => BC.fmt.date(u.last_login_at) },
            { label: 'settings.col.actions', value: (u) => [
                u.disabled
                    ? act('settings.enable', () => BC.api('POST', `/api/admin/users/${u.id}/enable`))
                    : act('settings.disable', () => BC.api('POST', `/api/admin/users/${u.id}/disable`)),
                ' ',
                act('common.delete', () => confirm(t('common.confirm'))
                    && BC.api('DELETE', `/api/admin/users/${u.id}`), 'danger'),
            ] },
        ];
        const load = pagedTable(list, columns, async () => {
            const r = await BC.api('GET', '/api/admin/users');
            return { rows: r.users, next: null };
        }, 'users-table');
        const form = h('form', { id: 'user-form', class: 'row' },
            h('input', { name: 'username', required: true, autocomplete: 'off',
                         placeholder: t('login.username') }),
            h('input', { name: 'password', type: 'password', required: true,
                         autocomplete: 'new-password', placeholder: t('login.password') }),
            h('select', { name: 'role' }, roles.map((r) =>
                h('option', { value: r, selected: r === 'operator' }, t('role.' + r)))),
            h('button', { type: 'submit' }, t('common.create')));
        form.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            const u = await attempt(() => BC.api('POST', '/api/admin/users', {
                username: form.username.value, password: form.password.value, role: form.role.value }));
            if (!u) { return; }
            form.reset();
            BC.toast(t('settings.user_created'));
            load(true);
        });
        box.appendChild(h('div', { class: 'card' }, h('h2', null, t('settings.tab.users')),
                          form, list));
        load(true);
    }

    /* ---------- password ---------- */

    function password(box) {
        const form = h('form', { id: 'pw-form', 'data-painted': '' },
            field('settings.current_password', h('input', { name: 'current_password', type: 'password',
                required: true, autocomplete: 'current-password' })),
            field('settings.new_password', h('input', { name: 'new_password', type: 'password',
                required: true, autocomplete: 'new-password', minlength: 8 })),
            h('button', { type: 'submit' }, t('common.save')));
        form.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            if (await attempt(() => BC.api('POST', '/api/me/password', {
                current_password: form.current_password.value,
                new_password: form.new_password.value }))) {
                form.reset();
                BC.toast(t('settings.password_changed'));
            }
        });
        box.appendChild(h('div', { class: 'card' }, h('h2', null, t('settings.tab.password')), form));
    }

    /* ---------- webhook events ---------- */

    function events(box) {
        const list = h('div');
        const provider = h('select', { id: 'events-provider' },
            h('option', { value: '' }, t('settings.all_providers')),
            ['twilio', 'sendgrid', 'meta'].map((p) => h('option', { value: p }, p)));
        const columns = [
            { label: 'settings.col.at', value: (e) => BC.fmt.date(e.created_at) },
            { label: 'settings.col.provider', value: (e) => `${e.provider} · ${e.kind}` },
            { label: 'settings.col.message', value: (e) => e.message_id },
            { label: 'settings.col.status', value: (e) => e.status
                ? h('span', { class: 'status ' + e.status }, e.status) : '' },
            { label: 'settings.col.error', value: (e) => [e.error_code, e.error_message]
                .filter(Boolean).join(' ') },
        ];
        const load = pagedTable(list, columns, async (cursor) => {
            const q = new URLSearchParams({ limit: 50 });
            if (provider.value) { q.set('provider', provider.value); }
            if (cursor) { q.set('cursor', cursor); }
            const r = await BC.api('GET', '/api/webhook-events?' + q);
            return { rows: r.events, next: r.next_cursor };
        }, 'events-table');
        provider.addEventListener('change', () => load(true));
        box.appendChild(h('div', { class: 'card' }, h('h2', null, t('settings.tab.events')),
                          h('div', { class: 'row' }, provider), list));
        load(true);
    }

    /* ---------- audit log (admin) ---------- */

    function audit(box) {
        const list = h('div');
        const actor = h('input', { id: 'audit-actor', placeholder: t('settings.col.actor') });
        const action = h('input', { id: 'audit-action', placeholder: t('settings.col.action') });
        const columns = [
            { label: 'settings.col.at', value: (e) => BC.fmt.date(e.at) },
            { label: 'settings.col.actor', value: (e) => e.actor
                ? `${e.actor.name || e.actor.id || ''} (${e.actor.kind})` : '' },
            { label: 'settings.col.action', value: (e) => e.action },
            { label: 'settings.col.target', value: (e) => e.target },
            { label: 'settings.col.status', value: (e) => e.status },
            { label: 'settings.col.ip', value: (e) => e.ip },
        ];
        const load = pagedTable(list, columns, async (cursor) => {
            const q = new URLSearchParams({ limit: 50 });
            if (actor.value.trim()) { q.set('actor', actor.value.trim()); }
            if (action.value.trim()) { q.set('action', action.value.trim()); }
            if (cursor) { q.set('cursor', cursor); }
            const r = await BC.api('GET', '/api/audit?' + q);
            return { rows: r.entries, next: r.next_cursor };
        }, 'audit-table');
        const form = h('form', { class: 'row' }, actor, action,
                       h('button', { type: 'submit' }, t('common.search')));
        form.addEventListener('submit', (ev) => { ev.preventDefault(); load(true); });
        box.appendChild(h('div', { class: 'card' }, h('h2', null, t('settings.tab.audit')), form, list));
        load(true);
    }

    BC.page('settings', {
        title: 'nav.settings', order: 80, need: 'read',
        render(root, params) {
            const allowed = tabs.filter((x) => BC.can(x.need));
            const tab = allowed.find((x) => x.name === params.path[0]) || allowed[0];
            root.appendChild(h('div', { class: 'tabs', id: 'settings-tabs' }, allowed.map((x) =>
                h('button', { type: 'button', class: x === tab ? 'active' : '', id: 'tab-' + x.name,
                              onclick: () => BC.go('#/settings/' + x.name) },
                  t('settings.tab.' + x.name)))));
            const box = h('div', { id: 'settings-' + tab.name });
            root.appendChild(box);
            tab.render(box);
        },
    });

    BC.i18n({
        en: {
            'nav.settings': 'Settings',
            'settings.tab.senders': 'Senders', 'settings.tab.keys': 'API keys',
            'settings.tab.users': 'Users', 'settings.tab.password': 'Password',
            'settings.tab.events': 'Webhook events', 'settings.tab.audit': 'Audit log',
            'settings.senders.sms': 'SMS senders', 'settings.senders.whatsapp': 'WhatsApp senders',
            'settings.senders.email': 'E-mail senders',
            'settings.sms_from_config': 'The SMS sender is set in nginx.conf (broadcast_sms_from); a send may name another number or a messaging service.',
            'settings.add_sender': 'Add sender', 'settings.protected': 'The configured sender cannot be removed here.',
            'settings.col.sender': 'Sender', 'settings.col.actions': 'Actions',
            'settings.col.name': 'Name', 'settings.col.owner': 'Owner', 'settings.col.prefix': 'Prefix', 'settings.col.scope': 'Scope',
            'settings.col.created': 'Created', 'settings.col.last_used': 'Last used',
            'settings.col.revoked': 'Revoked', 'settings.revoke': 'Revoke',
            'settings.revoke_confirm': 'Revoke key {prefix}…? Clients using it stop working.',
            'settings.key_name': 'Key name', 'settings.expires_in_days': 'Expires in days (optional)',
            'settings.scope.read': 'read', 'settings.scope.send': 'send', 'settings.scope.manage': 'manage',
            'settings.key_once': 'New key (shown once, copy it now): {key}',
            'settings.col.username': 'User', 'settings.col.role': 'Role', 'settings.col.state': 'State',
            'settings.col.last_login': 'Last sign-in', 'settings.disabled': 'disabled',
            'settings.active': 'active', 'settings.enable': 'Enable', 'settings.disable': 'Disable',
            'settings.saved': 'Saved.', 'settings.user_created': 'User created.',
            'settings.current_password': 'Current password', 'settings.new_password': 'New password',
            'settings.password_changed': 'Password changed.',
            'settings.all_providers': 'All providers', 'settings.col.at': 'Time',
            'settings.col.provider': 'Provider', 'settings.col.message': 'Message',
            'settings.col.status': 'Status', 'settings.col.error': 'Error',
            'settings.col.actor': 'Actor', 'settings.col.action': 'Action',
            'settings.col.target': 'Target', 'settings.col.ip': 'Address',
        },
        zh: {
            'nav.settings': '设置',
            'settings.tab.senders': '发送方', 'settings.tab.keys': 'API 密钥',
            'settings.tab.users': '用户', 'settings.tab.password': '密码',
            'settings.tab.events': 'Webhook 事件', 'settings.tab.audit': '审计日志',
            'settings.senders.sms': '短信发送方', 'settings.senders.whatsapp': 'WhatsApp 发送方',
            'settings.senders.email': '邮件发送方',
            'settings.sms_from_config': '短信发送号码在 nginx.conf 中配置（broadcast_sms_from）；发送时可指定其他号码或消息服务。',
            'settings.add_sender': '添加发送方', 'settings.protected': '配置的发送方不能在此删除。',
            'settings.col.sender': '发送方', 'settings.col.actions': '操作',
            'settings.col.name': '名称', 'settings.col.owner': '所有者', 'settings.col.prefix': '前缀', 'settings.col.scope': '权限',
            'settings.col.created': '创建时间', 'settings.col.last_used': '最近使用',
            'settings.col.revoked': '吊销时间', 'settings.revoke': '吊销',
            'settings.revoke_confirm': '吊销密钥 {prefix}…？使用它的客户端将无法访问。',
            'settings.key_name': '密钥名称', 'settings.expires_in_days': '有效天数（可选）',
            'settings.scope.read': '只读', 'settings.scope.send': '发送', 'settings.scope.manage': '管理',
            'settings.key_once': '新密钥（只显示一次，请立即复制）：{key}',
            'settings.col.username': '用户', 'settings.col.role': '角色', 'settings.col.state': '状态',
            'settings.col.last_login': '最近登录', 'settings.disabled': '已停用',
            'settings.active': '正常', 'settings.enable': '启用', 'settings.disable': '停用',
            'settings.saved': '已保存。', 'settings.user_created': '用户已创建。',
            'settings.current_password': '当前密码', 'settings.new_password': '新密码',
            'settings.password_changed': '密码已修改。',
            'settings.all_providers': '全部服务商', 'settings.col.at': '时间',
            'settings.col.provider': '服务商', 'settings.col.message': '消息',
            'settings.col.status': '状态', 'settings.col.error': '错误',
            'settings.col.actor': '操作者', 'settings.col.action': '动作',
            'settings.col.target': '对象', 'settings.col.ip': '地址',
        },
    });
})();
