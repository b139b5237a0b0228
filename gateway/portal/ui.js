// Building the page: elements from data (always as text, never as markup),
// the Chinese names of the API's enum values, dates and forms whose errors
// show next to their fields.

import { ApiError, newRequestId } from './api.js';

/**
 * An element: `h('a', { href: '#/cases', class: 'x', onclick: fn }, 'text', child)`.
 * Strings become text nodes, so data is never read as markup; null, undefined
 * and false children are skipped, arrays are flattened.
 */
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2), value);
    } else if (key === 'value' && 'value' in element) {
      element.value = String(value);
    } else if (value === true) {
      element.setAttribute(key, '');
    } else {
      element.setAttribute(key, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.append(child);
    else element.append(document.createTextNode(String(child)));
  }
}

// ---------------------------------------------------------------------------
// Enum values: the gateway writes them with their type prefix
// (`CASE_STATE_PENDING`); requests send them the same way.

const ENUMS = {
  channel: ['CHANNEL_', {
    HOTLINE_12345: '12345热线', MAYOR_DIRECT_LINE: '市长直通车', ONLINE_PORTAL: '网上平台',
    INDUSTRY_DEPARTMENT: '行业部门', CHAMBER_OF_COMMERCE: '商会', SUPERVISOR: '营商环境监督员',
    THIRD_PARTY: '第三方评估', COUNTY_SYSTEM: '县区系统',
  }],
  kind: ['APPEAL_KIND_', {
    ENQUIRY: '咨询（3个工作日）', HELP_REQUEST: '求助（7个工作日）', SUGGESTION: '建议（7个工作日）',
    COMPLAINT: '投诉（15个工作日）', REPORT: '举报（15个工作日）',
  }],
  category: ['CATEGORY_', {
    FINANCING: '融资', EMPLOYMENT: '用工', MARKET: '市场', TRANSPORT: '交通',
    PUBLIC_HEALTH: '公共卫生', LAND_AND_PLANNING: '用地与规划', APPROVAL: '审批',
    LAW_ENFORCEMENT: '执法', POLICY_FULFILLMENT: '政策兑现', TALENT: '人才',
    TAX_AND_FEES: '税费', OTHER: '其他',
  }],
  appealStatus: ['APPEAL_STATUS_', { RECEIVED: '已登记', DUPLICATE: '重复诉求（已关联）', WITHDRAWN: '已撤回' }],
  caseState: ['CASE_STATE_', {
    PENDING: '待受理', ACCEPTED: '已受理', REJECTED: '不予受理', ASSIGNED: '已交办',
    IN_PROGRESS: '办理中', AWAITING_ENTERPRISE: '待企业补充', RESOLVED: '已办结', CLOSED: '已结案',
  }],
  level: ['LEVEL_', { COUNTY: '县级', CITY: '市级', MEETING: '会商' }],
  supervision: ['SUPERVISION_', { NONE: '正常', YELLOW: '黄灯预警', RED: '红灯督办' }],
  outcome: ['OUTCOME_', { SOLVED: '已解决', EXPLAINED: '已解释说明', UNSOLVABLE: '暂无法解决', WITHDRAWN: '撤回' }],
  meetingType: ['MEETING_TYPE_', {
    KEY_PROJECT: '重点项目', INDUSTRIAL: '工业', PRIVATE_ENTERPRISE: '民营企业',
    RETURNING_ENTREPRENEUR: '返乡创业', FOREIGN_TRADE: '外贸', SERVICE_INDUSTRY: '服务业',
  }],
  extensionState: ['EXTENSION_STATE_', { REQUESTED: '待审批', APPROVED: '已批准', DENIED: '未批准' }],
  caseAction: ['CASE_ACTION_', {
    OPEN: '立案', ACCEPT: '受理', REJECT: '不予受理', ASSIGN: '交办', CLAIM: '签收',
    ADD_PROGRESS: '办理进展', RESOLVE: '办结', REOPEN: '重新办理', CLOSE: '结案', ESCALATE: '提级办理',
    REQUEST_EXTENSION: '申请延期', DECIDE_EXTENSION: '延期审批', REQUEST_INFO: '请企业补充材料',
    PROVIDE_INFO: '企业补充材料', RETURN: '退单', ADD_TO_AGENDA: '列入会商议程',
    RECORD_DECISION: '会商决定', LINK_DUPLICATE: '关联重复诉求', WITHDRAW: '企业撤回', SUPERVISE: '督办',
  }],
  policyState: ['POLICY_STATE_', {
    DRAFT: '草案', CONSULTATION: '征求意见', PUBLISHED: '已发布', REPEALED: '已废止', SUPERSEDED: '已修订',
  }],
  policyKind: ['POLICY_KIND_', { POLICY: '涉企政策', CONDUCT_LIST: '亲清清单' }],
  disposition: ['DISPOSITION_', { ADOPTED: '采纳', PARTLY_ADOPTED: '部分采纳', NOT_ADOPTED: '不予采纳' }],
  rating: ['RATING_', {
    VERY_SATISFIED: '非常满意', SATISFIED: '满意', BASIC_SATISFIED: '基本满意',
    DISSATISFIED: '不满意', VERY_DISSATISFIED: '非常不满意',
  }],
  reviewState: ['REVIEW_STATE_', { INVITED: '待评价', SUBMITTED: '已评价' }],
  unitKind: ['UNIT_KIND_', { DEPARTMENT: '部门', JURISDICTION: '县区' }],
  board: ['BOARD_', { NONE: '—', RED: '红榜', BLACK: '黑榜' }],
  alertKind: ['ALERT_KIND_', { BAD_REVIEW_NOTICE: '差评通报', INACTION_NOTICE: '不作为通报', LEADER_INTERVIEW: '约谈' }],
  exportFormat: ['EXPORT_FORMAT_', { XLSX: 'Excel（xlsx）', CSV: 'CSV' }],
  direction: ['DIRECTION_', { HIGHER_IS_BETTER: '越高越好', LOWER_IS_BETTER: '越低越好' }],
  size: ['ENTERPRISE_SIZE_', { MICRO: '微型', SMALL: '小型', MEDIUM: '中型', LARGE: '大型' }],
  ownership: ['OWNERSHIP_', { PRIVATE: '民营', STATE: '国有', FOREIGN: '外资', OTHER: '其他' }],
  tag: ['ENTERPRISE_TAG_', {
    KEY_PROJECT: '重点项目', INDUSTRIAL: '工业', PRIVATE: '民营', RETURNING_ENTREPRENEUR: '返乡创业',
    FOREIGN_TRADE: '外贸', SERVICE_INDUSTRY: '服务业',
  }],
};

/** The full enum value names of `type`, e.g. `CASE_STATE_PENDING`, in display order. */
export function enumValues(type) {
  const [prefix, names] = ENUMS[type];
  return Object.keys(names).map((name) => prefix + name);
}

/** The short name of an enum value, with or without its prefix: `PENDING`. */
export function short(type, value) {
  const [prefix] = ENUMS[type];
  const text = String(value ?? '');
  return text.startsWith(prefix) ? text.slice(prefix.length) : text;
}

/** The Chinese name of an enum value; `—` when unset. */
export function label(type, value) {
  if (value === undefined || value === null || value === '' || String(value).endsWith('_UNSPECIFIED')) {
    return '—';
  }
  const [, names] = ENUMS[type];
  return names[short(type, value)] ?? String(value);
}

/** Whether `value` is the enum value `name` (`is('caseState', c.state, 'PENDING')`). */
export function is(type, value, name) {
  return short(type, value) === name;
}

export const ROLE_NAMES = {
  enterprise: '企业',
  handler: '部门经办人',
  coordinator: '营商办协调员',
  leader: '领导',
  supervisor: '营商环境监督员',
  evaluator: '第三方评估机构',
  admin: '系统管理员',
  service: '系统对接',
};

// ---------------------------------------------------------------------------
// Reference data: jurisdictions and departments by name.

let directory = { root: '', jurisdictions: [], departments: [] };

/** Loads `/portal/directory.json` once; the portal works with codes alone if it fails. */
export async function loadDirectory() {
  try {
    const response = await fetch('/portal/directory.json', { cache: 'no-cache' });
    if (response.ok) directory = await response.json();
  } catch {
    // Names are a convenience; codes still work.
  }
  return directory;
}

// Who may call each operation, as the contracts declare it (`x-zhengqi-access`
// of /openapi.json, operationId → rule): the portal offers what a user's roles
// may do from the same declaration the gateway and the services enforce.
let access = new Map();

export async function loadAccess() {
  try {
    const response = await fetch('/openapi.json', { cache: 'no-cache' });
    if (!response.ok) return;
    const document = await response.json();
    for (const item of Object.values(document.paths ?? {})) {
      for (const operation of Object.values(item ?? {})) {
        if (operation && operation.operationId && operation['x-zhengqi-access']) {
          access.set(operation.operationId.replace(/_\d+$/, ''), operation['x-zhengqi-access']);
        }
      }
    }
  } catch {
    access = new Map();
  }
}

/** Whether a user with `roles` may call the operation `operationId` (e.g. `CaseService_ListCases`). */
export function may(roles, operationId) {
  const rule = access.get(operationId);
  if (!rule) return false;
  if (rule.anyAuthenticated) return true;
  return Array.isArray(rule.roles) && rule.roles.some((role) => roles.includes(role));
}

/** The code of the city at the top of the directory, e.g. `510800`. */
export function rootCode() {
  return directory.root || '';
}

export function cityName() {
  return jurisdictionName(directory.root) || '';
}

export function jurisdictionName(code) {
  const found = directory.jurisdictions.find((j) => j.code === code);
  return found ? found.name : '';
}

/** `旺苍县（510821）`, or the code alone when unknown; `—` when empty. */
export function jurisdictionLabel(code) {
  if (!code) return '—';
  const name = jurisdictionName(code);
  return name ? `${name}（${code}）` : code;
}

/** The jurisdictions `code` covers: itself and every one below it. */
export function jurisdictionsWithin(code) {
  const all = directory.jurisdictions;
  if (!code || !all.some((j) => j.code === code)) return all;
  const covered = new Set([code]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const j of all) {
      if (j.parent && covered.has(j.parent) && !covered.has(j.code)) {
        covered.add(j.code);
        grew = true;
      }
    }
  }
  return all.filter((j) => covered.has(j.code));
}

/** `旺苍县地方金融监督管理局（510821-jrj）`, or the id alone when unknown. */
export function departmentLabel(id) {
  if (!id) return '—';
  const dash = id.indexOf('-');
  const department = directory.departments.find((d) => d.key === id.slice(dash + 1));
  if (dash < 0 || !department) return id;
  return `${jurisdictionName(id.slice(0, dash))}${department.name}（${id}）`;
}

/** Department ids of `jurisdictions` (codes) with their names, for a picker. */
export function departmentOptions(jurisdictions) {
  const options = [];
  for (const code of jurisdictions) {
    for (const department of directory.departments) {
      options.push([`${code}-${department.key}`, `${jurisdictionName(code)}${department.name}`]);
    }
  }
  return options;
}

// ---------------------------------------------------------------------------
// Values as people read them.

const dateTime = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', hour12: false,
});

/** A proto3 JSON timestamp in China time; `—` when unset. */
export function formatTime(value) {
  if (!value) return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : dateTime.format(date);
}

/** A 0–1 share as a percentage. */
export function percent(value) {
  const number = Number(value ?? 0);
  return `${(number * 100).toFixed(1)}%`;
}

/** An amount in fen (分; int64 comes as a string) as yuan. */
export function yuan(fen) {
  const number = Number(fen ?? 0) / 100;
  return `${number.toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} 元`;
}

export function number(value, digits = 2) {
  return Number(value ?? 0).toFixed(digits);
}

/** The current period in China time: `2026`, `2026-Q4` or `2026-11`. */
export function currentPeriod(kind = 'year') {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit' })
    .formatToParts(new Date());
  const year = parts.find((p) => p.type === 'year').value;
  const month = parts.find((p) => p.type === 'month').value;
  if (kind === 'month') return `${year}-${month}`;
  if (kind === 'quarter') return `${year}-Q${Math.ceil(Number(month) / 3)}`;
  return year;
}

/** The start of a `yyyy-mm-dd` day in China time, as an RFC 3339 UTC timestamp. */
export function chinaDayStart(date) {
  return new Date(`${date}T00:00:00+08:00`).toISOString();
}

// ---------------------------------------------------------------------------
// Page pieces.

export function badge(type, value) {
  const name = short(type, value) || 'UNSPECIFIED';
  return h('span', { class: `badge ${type}-${name.toLowerCase().replace(/_/g, '-')}` }, label(type, value));
}

/** A definition list of `[term, value]` pairs; values may be nodes. */
export function facts(pairs) {
  return h('dl', { class: 'facts' },
    pairs.filter(Boolean).map(([term, value]) => [h('dt', null, term), h('dd', null, value ?? '—')]));
}

/** A table with a header row; `rows` are arrays of cells (text or nodes). */
export function table(headers, rows, empty = '没有记录') {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', null,
      h('thead', null, h('tr', null, headers.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', null, rows.map((cells) => h('tr', null, cells.map((cell) => h('td', null, cell)))))));
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', null, title), ...children);
}

export function notice(text, kind = 'info') {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** What went wrong, in words, with every field violation and any Retry-After. */
export function errorBox(error) {
  const box = h('div', { class: 'notice error', role: 'alert' });
  if (error instanceof ApiError) {
    // With field violations, the list below says it field by field.
    box.append(h('p', null, h('strong', null, errorTitle(error)), ' ',
      error.violations.length > 0 ? '' : error.message));
    if (error.status === 429) {
      box.append(h('p', null, error.retryAfter
        ? `请求过于频繁，请在 ${error.retryAfter} 秒后重试。`
        : '请求过于频繁，请稍后重试。'));
    }
    if (error.status === 409) {
      box.append(h('p', null, '数据已被他人更新或已存在；请重新载入后再操作。'));
    }
    if (error.violations.length > 0) {
      box.append(h('ul', { class: 'violations' },
        error.violations.map((v) => h('li', null, h('code', null, v.field || '（请求）'), '：', v.description))));
    }
  } else {
    box.append(h('p', null, h('strong', null, '出错了：'), ' ', String(error && error.message ? error.message : error)));
  }
  return box;
}

function errorTitle(error) {
  switch (error.status) {
    case 0: return '无法连接：';
    case 400: return '请求有误：';
    case 401: return '未登录或登录已失效：';
    case 403: return '无权操作：';
    case 404: return '未找到：';
    case 409: return '冲突：';
    case 413: return '内容过大：';
    case 429: return '请求过多：';
    case 503: return '服务暂不可用：';
    default: return `错误（HTTP ${error.status}）：`;
  }
}

/** A link to a route of the portal: `link('#/cases/' + id, text)`. */
export function link(href, text) {
  return h('a', { href }, text);
}

/** `#/path?key=value…` with the empty values left out. */
export function route(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '' && value !== false) params.set(key, String(value));
  }
  const text = params.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

/** A filter bar that puts its values in the URL's fragment, so a page can be shared and reloaded. */
export function filterBar(path, fields) {
  const bar = h('form', { class: 'filters', role: 'search' }, fields,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, '筛选'),
      h('a', { href: `#${path}`, class: 'button' }, '清除')));
  bar.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = {};
    for (const element of bar.elements) {
      if (!element.name) continue;
      if (element.type === 'checkbox') values[element.name] = element.checked ? 'true' : '';
      else values[element.name] = element.value.trim();
    }
    window.location.hash = route(path, { ...values, pageToken: '' });
  });
  return bar;
}

/** "下一页" and "第一页" links of a list whose filters are in `query`. */
export function pager(path, query, nextPageToken) {
  const links = [];
  if (query.pageToken) links.push(link(route(path, { ...query, pageToken: '' }), '« 第一页'));
  if (nextPageToken) links.push(link(route(path, { ...query, pageToken: nextPageToken }), '下一页 »'));
  return links.length ? h('nav', { class: 'pager', 'aria-label': '分页' }, links) : null;
}

// ---------------------------------------------------------------------------
// Forms.

/**
 * A field: `field({ name: 'contact_phone', label: '联系电话', ... })`. `name`
 * is the request field's proto name (dotted for nested fields), so a field
 * violation the gateway names lands next to it.
 */
export function field(spec) {
  const id = `f-${spec.name.replace(/[^a-z0-9_]/gi, '-')}-${Math.random().toString(36).slice(2, 8)}`;
  let control;
  const common = {
    id, name: spec.name, required: spec.required, disabled: spec.disabled, readonly: spec.readonly,
    'aria-describedby': `${id}-error`,
  };
  if (spec.type === 'select') {
    const chosen = (value) => (Array.isArray(spec.value) ? spec.value.includes(value) : String(spec.value ?? '') === String(value));
    control = h('select', { ...common, multiple: spec.multiple, size: spec.multiple ? Math.min(spec.options.length, 6) : undefined },
      spec.blank !== undefined ? h('option', { value: '' }, spec.blank) : null,
      spec.options.map(([value, text]) => h('option', { value, selected: chosen(value) }, text)));
  } else if (spec.type === 'textarea') {
    control = h('textarea', { ...common, rows: spec.rows ?? 4, maxlength: spec.maxlength, placeholder: spec.placeholder });
    control.value = spec.value ?? '';
  } else if (spec.type === 'checkbox') {
    control = h('input', { ...common, type: 'checkbox', checked: Boolean(spec.value) });
  } else {
    control = h('input', {
      ...common, type: spec.type ?? 'text', value: spec.value ?? '', maxlength: spec.maxlength,
      min: spec.min, max: spec.max, placeholder: spec.placeholder, pattern: spec.pattern, list: spec.list,
      autocomplete: spec.autocomplete ?? 'off',
    });
  }
  const wrapper = h('div', { class: `field${spec.type === 'checkbox' ? ' check' : ''}${spec.wide ? ' wide' : ''}` });
  if (spec.type === 'checkbox') {
    wrapper.append(control, h('label', { for: id }, spec.label));
  } else {
    wrapper.append(h('label', { for: id }, spec.label, spec.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null), control);
  }
  if (spec.hint) wrapper.append(h('small', { class: 'hint' }, spec.hint));
  wrapper.append(h('small', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' }));
  return wrapper;
}

/** `contactPhone` → `contact_phone`, `enterprise.uscc` stays. */
function snake(name) {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `contact_phone` → `contactPhone`. */
function camel(name) {
  return name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

/** The form's values as a proto3 JSON object (lowerCamelCase, dotted names nested). */
export function formValues(form) {
  const body = {};
  for (const element of form.elements) {
    if (!element.name || element.disabled || element.dataset.skip) continue;
    let value;
    if (element.type === 'checkbox') value = element.checked;
    else if (element.tagName === 'SELECT' && element.multiple) value = Array.from(element.selectedOptions, (o) => o.value);
    else value = element.value.trim();
    if (value === '' || (Array.isArray(value) && value.length === 0)) continue;
    if (element.type === 'number') value = Number(value);
    const path = element.name.split('.').map(camel);
    let target = body;
    for (const key of path.slice(0, -1)) {
      target[key] = target[key] ?? {};
      target = target[key];
    }
    target[path[path.length - 1]] = value;
  }
  return body;
}

/**
 * A form that sends itself once at a time: `submit(values, form)` runs with
 * the button disabled, and its error is shown above the form with every field
 * violation also next to its field. `requestId: true` gives the form an
 * idempotency key that it keeps until a submission succeeds, so a double
 * click or a retry after an error or a lost answer never makes a second item.
 */
export function form({ fields, submitLabel, submit, requestId = false, className, confirm: confirmText }) {
  let key = requestId ? newRequestId() : null;
  const errors = h('div', { class: 'form-errors' });
  const button = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const element = h('form', { class: `form ${className ?? ''}`, novalidate: true }, errors, h('div', { class: 'fields' }, fields), h('div', { class: 'actions' }, button));
  let busy = false;
  element.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    if (confirmText && !window.confirm(confirmText)) return;
    clearErrors(element, errors);
    if (!element.checkValidity()) {
      for (const control of element.elements) {
        if (control.willValidate && !control.validity.valid) showFieldError(control, control.validationMessage);
      }
      errors.append(notice('请检查标出的字段。', 'error'));
      return;
    }
    busy = true;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      const values = formValues(element);
      if (key) values.requestId = key;
      await submit(values, element);
      // Done: a later submission of the same form is a new request.
      if (key) key = newRequestId();
    } catch (error) {
      errors.append(errorBox(error));
      if (error instanceof ApiError) {
        for (const violation of error.violations) {
          const control = findControl(element, violation.field);
          if (control) showFieldError(control, violation.description);
        }
      }
      errors.scrollIntoView?.({ block: 'nearest' });
    } finally {
      busy = false;
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  });
  return element;
}

function clearErrors(form, errors) {
  errors.replaceChildren();
  for (const small of form.querySelectorAll('.field-error')) small.textContent = '';
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
}

/** The control a violation names: `enterprise.uscc`, `contactPhone` or `request.title`. */
function findControl(form, name) {
  const wanted = snake(name);
  for (const control of form.elements) {
    if (!control.name) continue;
    if (control.name === wanted || wanted.endsWith(`.${control.name}`)) return control;
  }
  return null;
}

function showFieldError(control, text) {
  control.setAttribute('aria-invalid', 'true');
  const small = control.closest('.field')?.querySelector('.field-error');
  if (small) small.textContent = text;
}

/** Options `[value, text]` of an enum type, for `field({ type: 'select' })`. */
export function enumOptions(type) {
  return enumValues(type).map((value) => [value, label(type, value)]);
}

/** Options of the jurisdictions within `code`, named. */
export function jurisdictionOptions(code) {
  return jurisdictionsWithin(code).map((j) => [j.code, `${j.name}（${j.code}）`]);
}

/** A `<datalist>` of department ids within the jurisdictions `codes`. */
export function departmentList(id, codes) {
  return h('datalist', { id }, departmentOptions(codes).map(([value, text]) => h('option', { value }, text)));
}

/** Saves `blob` as `filename` through an object URL (the download carried the token). */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const anchor = h('a', { href: url, download: filename, class: 'hidden' });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
