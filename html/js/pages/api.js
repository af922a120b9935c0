/*
 * Console page "API": the API reference rendered from the OpenAPI document
 * the server publishes (GET /api/openapi.json, html/openapi.json), so the
 * page can never describe routes the server does not have. Grouped by tag,
 * filterable; an operation's parameters and schemas are built only when it
 * is opened (the document has ~190 operations). Every text from the
 * document goes in as a text node through BC.h, never as HTML.
 */
(function () {
  'use strict';

  BC.i18n({
    en: {
      'nav.api': 'API',
      'api.title': 'API reference',
      'api.intro': 'Every route of this server, from its OpenAPI document.',
      'api.download': 'OpenAPI document (JSON)',
      'api.filter': 'Filter',
      'api.filterHint': 'path, method, summary, tag or need (e.g. "campaigns post")',
      'api.shown': 'operations shown',
      'api.noMatch': 'No operation matches the filter.',
      'api.loadFailed': 'The API document could not be loaded',
      'api.loading': 'Loading the API document…',
      'api.need': 'Needs',
      'api.parameters': 'Parameters',
      'api.requestBody': 'Request body',
      'api.responses': 'Responses',
      'api.schema': 'Schema',
      'api.name': 'Name',
      'api.in': 'In',
      'api.type': 'Type',
      'api.description': 'Description',
      'api.required': 'required',
      'api.optional': 'optional',
      'api.errorCodes': 'Error codes',
      'api.noBody': 'no body',
      'api.servedBy': 'Served by nginx',
      'api.deep': '… (nested deeper)',
      'api.oneOf': 'one of',
      'api.length': 'length',
      'api.items': 'items',
      'api.pattern': 'pattern',
      'api.default': 'default',
      'api.need.none': 'no credential',
      'api.need.read': 'key scope read',
      'api.need.send': 'key scope send',
      'api.need.manage': 'key scope manage',
      'api.need.session': 'a signed-in user',
      'api.need.admin': 'an administrator'
    },
    zh: {
      'nav.api': 'API',
      'api.title': 'API 参考',
      'api.intro': '本服务器的全部接口，来自其 OpenAPI 文档。',
      'api.download': 'OpenAPI 文档（JSON）',
      'api.filter': '筛选',
      'api.filterHint': '路径、方法、摘要、标签或权限（如 "campaigns post"）',
      'api.shown': '个接口已显示',
      'api.noMatch': '没有符合筛选条件的接口。',
      'api.loadFailed': '无法加载 API 文档',
      'api.loading': '正在加载 API 文档…',
      'api.need': '所需权限',
      'api.parameters': '参数',
      'api.requestBody': '请求体',
      'api.responses': '响应',
      'api.schema': '结构',
      'api.name': '名称',
      'api.in': '位置',
      'api.type': '类型',
      'api.description': '说明',
      'api.required': '必填',
      'api.optional': '可选',
      'api.errorCodes': '错误码',
      'api.noBody': '无响应体',
      'api.servedBy': '由 nginx 直接提供',
      'api.deep': '…（更深的嵌套）',
      'api.oneOf': '取值之一',
      'api.length': '长度',
      'api.items': '项数',
      'api.pattern': '格式',
      'api.default': '默认',
      'api.need.none': '无需凭据',
      'api.need.read': '密钥权限 read',
      'api.need.send': '密钥权限 send',
      'api.need.manage': '密钥权限 manage',
      'api.need.session': '已登录用户',
      'api.need.admin': '管理员'
    }
  });

  var METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];
  var MAX_DEPTH = 6;           /* schemas nest; deeper levels are elided */
  var doc = null;              /* fetched once per console load */
  var filterTimer = null;

  /* BC.h without the holes: null, undefined and false children dropped */
  function h(tag, attrs) {
    var kids = [];
    for (var i = 2; i < arguments.length; i++) {
      var k = arguments[i];
      if (Array.isArray(k)) {
        kids = kids.concat(k.filter(function (x) { return x != null && x !== false; }));
      } else if (k != null && k !== false) {
        kids.push(k);
      }
    }
    return BC.h.apply(null, [tag, attrs || {}].concat(kids));
  }

  /* the node a local "#/components/…" reference names */
  function deref(ref) {
    var node = doc;
    ref.replace(/^#\//, '').split('/').forEach(function (seg) {
      seg = seg.replace(/~1/g, '/').replace(/~0/g, '~');
      node = node == null ? null : node[seg];
    });
    return node;
  }

  function refName(ref) { return ref.split('/').pop(); }

  function resolve(node) {
    var hops = 0;
    while (node && node.$ref && hops++ < 16) node = deref(node.$ref);
    return node || {};
  }

  function isArray(s) {
    return s.type === 'array' || (Array.isArray(s.type) && s.type.indexOf('array') >= 0);
  }

  /* "string | null", "array of Contact", "Error" … */
  function typeText(s) {
    if (s.$ref) return refName(s.$ref);
    if (s.allOf) return s.allOf.map(typeText).join(' + ');
    if (s.oneOf || s.anyOf) return (s.oneOf || s.anyOf).map(typeText).join(' | ');
    if (s.const !== undefined) return JSON.stringify(s.const);
    var t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || 'any');
    if (isArray(s) && s.items) t = t.replace('array', 'array of ' + typeText(s.items));
    if (s.format) t += ' (' + s.format + ')';
    return t;
  }

  /* limits and choices of a schema, as one short line */
  function constraints(s) {
    var parts = [];
    if (s.enum) {
      parts.push(BC.t('api.oneOf') + ': ' + s.enum.map(function (v) { return JSON.stringify(v); }).join(', '));
    }
    [['minimum', '', '≥'], ['maximum', '', '≤'], ['minLength', 'api.length', '≥'],
     ['maxLength', 'api.length', '≤'], ['minItems', 'api.items', '≥'], ['maxItems', 'api.items', '≤'],
     ['pattern', 'api.pattern', ''], ['default', 'api.default', '']].forEach(function (c) {
      var v = s[c[0]];
      if (v === undefined) return;
      parts.push([c[1] ? BC.t(c[1]) : '', c[2], c[0] === 'default' ? JSON.stringify(v) : v]
        .filter(function (x) { return x !== ''; }).join(' '));
    });
    return parts.join('; ');
  }

  /* the members of an object schema, allOf merged: [{name, schema, required}] */
  function members(s) {
    var out = [], required = {};
    (s.allOf || []).forEach(function (part) {
      members(resolve(part)).forEach(function (m) { out.push(m); });
    });
    (s.required || []).forEach(function (n) { required[n] = true; });
    Object.keys(s.properties || {}).forEach(function (n) {
      out.push({ name: n, schema: s.properties[n], required: !!required[n] });
    });
    return out;
  }

  /* the schema whose members a tree lists: an array's items, else itself */
  function inner(schema) {
    var s = resolve(schema);
    return isArray(s) && s.items ? s.items : schema;
  }

  function hasMembers(schema) {
    var t = resolve(inner(schema));
    return members(t).length > 0 || !!(t.oneOf || t.anyOf);
  }

  /* a schema as a nested list; the refs on the way down stop a cycle */
  function schemaTree(schema, depth, seen) {
    var refs = [schema && schema.$ref, inner(schema) && inner(schema).$ref].filter(Boolean);
    if (depth > MAX_DEPTH || refs.some(function (r) { return seen.indexOf(r) >= 0; })) {
      return h('p', { class: 'hint' }, BC.t('api.deep'));
    }
    var path = seen.concat(refs);
    var target = resolve(inner(schema));
    var alternatives = target.oneOf || target.anyOf;
    var list = members(target);
    if (!list.length && !alternatives) {
      var extra = target.additionalProperties;
      return extra && typeof extra === 'object'
        ? h('p', { class: 'hint' }, '{ name: ' + typeText(extra) + ' }') : null;
    }
    var items = list.map(function (m) {
      var ms = resolve(m.schema);
      var about = m.schema.description || ms.description;
      return h('li', {},
        h('code', {}, m.name), ' ',
        h('span', { class: 'api-type' }, typeText(m.schema)), ' ',
        h('span', { class: m.required ? 'api-required' : 'hint' },
          BC.t(m.required ? 'api.required' : 'api.optional')),
        about ? h('span', { class: 'hint' }, ' — ' + about) : null,
        constraints(ms) ? h('span', { class: 'hint' }, ' (' + constraints(ms) + ')') : null,
        hasMembers(m.schema) ? schemaTree(m.schema, depth + 1, path) : null);
    });
    if (alternatives) {
      items.push(h('li', {}, BC.t('api.oneOf') + ': ' + alternatives.map(typeText).join(' | ')));
    }
    return h('ul', { class: 'api-schema' }, items);
  }

  /* a schema under a <details> whose summary is its type */
  function schemaBlock(schema, label) {
    var s = resolve(schema);
    return h('details', { class: 'api-schema-block' },
      h('summary', {}, label + ': ', h('code', {}, typeText(schema))),
      s.description ? h('p', { class: 'hint' }, s.description) : null,
      schemaTree(schema, 0, []));
  }

  function parametersTable(params) {
    if (!params.length) return null;
    return h('table', { class: 'api-params' },
      h('thead', {}, h('tr', {},
        h('th', {}, BC.t('api.name')), h('th', {}, BC.t('api.in')),
        h('th', {}, BC.t('api.type')), h('th', {}, BC.t('api.description')))),
      h('tbody', {}, params.map(function (p) {
        var s = resolve(p.schema || {});
        return h('tr', {},
          h('td', {}, h('code', {}, p.name), p.required ? ' *' : ''),
          h('td', {}, p.in),
          h('td', {}, typeText(p.schema || {})),
          h('td', {}, [p.description || '', constraints(s)].filter(Boolean).join(' — ')));
      })));
  }

  function responsesList(responses) {
    return h('ul', { class: 'api-responses' }, Object.keys(responses).sort().map(function (status) {
      var r = resolve(responses[status]);
      var content = r.content || {};
      var type = Object.keys(content)[0];
      var codes = r['x-error-codes'] || [];
      return h('li', {},
        h('span', { class: 'api-status api-status-' + status.charAt(0) }, status), ' ',
        type ? h('code', {}, type + (codes.length ? ' Error' : '')) : h('span', { class: 'hint' }, BC.t('api.noBody')), ' ',
        codes.length ? null : (r.description || ''),
        codes.length ? h('div', {}, BC.t('api.errorCodes') + ': ',
          codes.map(function (c, i) { return [i ? ', ' : '', h('code', {}, c)]; })
            .reduce(function (a, b) { return a.concat(b); }, [])) : null,
        /* every error answers the one Error schema: named, not expanded */
        type && content[type].schema && !codes.length
          ? schemaBlock(content[type].schema, BC.t('api.schema')) : null);
    }));
  }

  /* the inside of an operation, built on its first opening */
  function operationBody(op, pathItem) {
    var params = (pathItem.parameters || []).concat(op.parameters || []).map(resolve);
    var body = op.requestBody ? resolve(op.requestBody) : null;
    var bodyTypes = body ? Object.keys(body.content || {}) : [];
    return h('div', { class: 'api-op-body' },
      op.description ? h('p', {}, op.description) : null,
      h('p', {}, BC.t('api.need') + ': ', h('strong', {}, BC.t('api.need.' + op['x-need'])),
        op['x-nginx-location'] ? h('span', { class: 'hint' },
          ' — ' + BC.t('api.servedBy') + ' (' + op['x-nginx-location'] + ')') : null),
      params.length ? h('h4', {}, BC.t('api.parameters')) : null,
      parametersTable(params),
      body ? h('h4', {}, BC.t('api.requestBody'), ' ', h('code', {}, bodyTypes.join(', '))) : null,
      body && bodyTypes.length ? schemaBlock(body.content[bodyTypes[0]].schema, BC.t('api.schema')) : null,
      h('h4', {}, BC.t('api.responses')),
      responsesList(op.responses || {}));
  }

  function operationView(path, method, op, pathItem) {
    var need = op['x-need'] || 'none';
    var el = h('details', { class: 'api-op', id: 'op-' + op.operationId },
      h('summary', {},
        h('span', { class: 'api-method api-method-' + method }, method.toUpperCase()), ' ',
        h('code', { class: 'api-path' }, path), ' ',
        h('span', { class: 'api-need api-need-' + need, title: BC.t('api.need.' + need) }, need), ' ',
        h('span', { class: 'api-summary' }, op.summary || '')));
    el.addEventListener('toggle', function () {
      if (el.open && !el.dataset.built) {
        el.dataset.built = '1';
        el.appendChild(operationBody(op, pathItem));
      }
    });
    el.dataset.search = [method, path, op.summary, op.operationId, need]
      .concat(op.tags || []).join(' ').toLowerCase();
    return el;
  }

  /* one section per tag, in the document's order; untagged last */
  function sections() {
    var byTag = {}, order = (doc.tags || []).map(function (t) { return t.name; });
    Object.keys(doc.paths || {}).forEach(function (path) {
      var item = doc.paths[path];
      METHODS.forEach(function (m) {
        if (!item[m]) return;
        var tag = (item[m].tags || ['—'])[0];
        if (order.indexOf(tag) < 0) order.push(tag);
        (byTag[tag] = byTag[tag] || []).push(operationView(path, m, item[m], item));
      });
    });
    return order.filter(function (t) { return byTag[t]; }).map(function (tag) {
      var info = (doc.tags || []).filter(function (t) { return t.name === tag; })[0] || {};
      return h('section', { class: 'card api-tag' },
        h('h3', {}, tag, ' ', h('span', { class: 'hint' }, '(' + byTag[tag].length + ')')),
        info.description ? h('p', { class: 'hint' }, info.description) : null,
        byTag[tag]);
    });
  }

  /* every term of the filter must occur in an operation's search text */
  function applyFilter(root, text, counter, empty) {
    var terms = text.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(root.querySelectorAll('section.api-tag'), function (sec) {
      var visible = 0;
      Array.prototype.forEach.call(sec.querySelectorAll('details.api-op'), function (op) {
        var hit = terms.every(function (t) { return op.dataset.search.indexOf(t) >= 0; });
        op.classList.toggle('hidden', !hit);
        if (hit) visible++;
      });
      sec.classList.toggle('hidden', visible === 0);
      shown += visible;
    });
    counter.textContent = shown + ' ' + BC.t('api.shown');
    empty.classList.toggle('hidden', shown > 0);
  }

  BC.page('api', {
    title: 'nav.api',
    render: async function (root, params) {
      var status = h('p', { class: 'hint' }, BC.t('api.loading'));
      root.appendChild(status);
      try {
        doc = doc || await BC.api('GET', '/api/openapi.json');
      } catch (e) {
        status.className = 'error';
        status.textContent = BC.t('api.loadFailed') + ': ' + (e.message || e.code || e.status);
        return;
      }
      root.removeChild(status);
      var filter = h('input', { type: 'search', placeholder: BC.t('api.filterHint'),
                                'aria-label': BC.t('api.filter') });
      var counter = h('span', { class: 'hint' });
      var empty = h('p', { class: 'hint hidden' }, BC.t('api.noMatch'));
      root.appendChild(h('section', { class: 'card' },
        h('h2', {}, BC.t('api.title'), ' ', h('span', { class: 'hint' },
          (doc.info && doc.info.title ? doc.info.title + ' ' : '') + 'v' + ((doc.info && doc.info.version) || '?'))),
        h('p', {}, BC.t('api.intro'), ' ',
          h('a', { href: '/api/openapi.json', download: 'openapi.json' }, BC.t('api.download'))),
        h('label', {}, BC.t('api.filter'), filter),
        counter));
      root.appendChild(empty);
      sections().forEach(function (s) { root.appendChild(s); });
      filter.addEventListener('input', function () {
        clearTimeout(filterTimer);
        filterTimer = setTimeout(function () { applyFilter(root, filter.value, counter, empty); }, 120);
      });
      if (params && params.q) filter.value = params.q;
      applyFilter(root, filter.value, counter, empty);
      /* a link to one operation (#/api?op=createCampaign) opens it */
      var target = params && params.op && root.querySelector('#op-' + CSS.escape(params.op));
      if (target) {
        target.open = true;
        target.scrollIntoView();
      }
    },
    leave: function () {
      clearTimeout(filterTimer);
      filterTimer = null;
    }
  });
})();
