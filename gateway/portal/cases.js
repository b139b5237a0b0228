// Cases (案件) for officials: the list with its filters, one case with the
// actions its state allows the caller, its ledger entries, and the ledger
// (台账) download and check. The enterprise sees the same case, with its own
// actions, from its appeal.

import { download, get, post } from './api.js';
import {
  badge, chinaDayStart, departmentLabel, departmentOptions, enumOptions, facts, field, filterBar, form,
  formatTime, h, is, jurisdictionLabel, jurisdictionOptions, label, link, notice, pager, rootCode, route,
  saveBlob, section, short, table,
} from './ui.js';

const enc = encodeURIComponent;
const PAGE_SIZE = 20;
const OPEN_STATES = ['PENDING', 'ACCEPTED', 'ASSIGNED', 'IN_PROGRESS', 'AWAITING_ENTERPRISE'];

/** The city at the top of the directory; CITY and MEETING cases are handled there. */
function cityCode(claims) {
  return rootCode() || (claims.jurisdiction ? `${claims.jurisdiction.slice(0, 4)}00` : '');
}

// ---------------------------------------------------------------------------
// The list.

export async function list({ claims, query }) {
  const filters = {
    jurisdictionCode: query.jurisdictionCode, state: query.state, level: query.level,
    supervision: query.supervision, category: query.category, departmentId: query.departmentId,
    uscc: query.uscc, overdueOnly: query.overdueOnly === 'true' ? 'true' : '',
  };
  const page = await get('/v1/cases', { ...filters, pageSize: PAGE_SIZE, pageToken: query.pageToken });
  const codes = jurisdictionOptions(claims.jurisdiction).map(([code]) => code);
  const bar = filterBar('/cases', [
    field({ name: 'jurisdictionCode', label: '辖区', type: 'select', blank: '全部', options: jurisdictionOptions(claims.jurisdiction), value: filters.jurisdictionCode }),
    field({ name: 'state', label: '状态', type: 'select', blank: '全部', options: enumOptions('caseState'), value: filters.state }),
    field({ name: 'level', label: '层级', type: 'select', blank: '全部', options: enumOptions('level'), value: filters.level }),
    field({ name: 'supervision', label: '督办', type: 'select', blank: '全部', options: enumOptions('supervision'), value: filters.supervision }),
    field({ name: 'category', label: '类别', type: 'select', blank: '全部', options: enumOptions('category'), value: filters.category }),
    field({ name: 'departmentId', label: '承办部门', value: filters.departmentId, list: 'case-departments', placeholder: '如 510821-jrj' }),
    field({ name: 'uscc', label: '统一社会信用代码', value: filters.uscc, maxlength: 18 }),
    field({ name: 'overdueOnly', label: '仅超期', type: 'checkbox', value: filters.overdueOnly === 'true' }),
    h('datalist', { id: 'case-departments' }, departmentOptions(codes).map(([value, text]) => h('option', { value }, text))),
  ]);
  const rows = (page.cases ?? []).map((c) => [
    link(`#/cases/${enc(c.id)}`, c.number || c.id),
    c.title ?? '',
    c.enterprise?.name ?? '',
    badge('caseState', c.state),
    label('level', c.level),
    departmentLabel(c.departmentId),
    deadlineText(c),
    badge('supervision', c.supervision),
  ]);
  const quick = [];
  if (claims.department) quick.push(link(route('/cases', { departmentId: claims.department }), '本部门案件'));
  quick.push(link(route('/cases', { state: 'CASE_STATE_PENDING' }), '待受理'));
  quick.push(link(route('/cases', { overdueOnly: 'true' }), '超期案件'));
  return h('div', null,
    h('h1', null, '案件'),
    h('p', { class: 'quick' }, quick.flatMap((a, i) => (i ? [' · ', a] : [a]))),
    bar,
    table(['受理编号', '标题', '企业', '状态', '层级', '承办部门', '办理期限', '督办'], rows, '没有符合条件的案件'),
    pager('/cases', query, page.nextPageToken));
}

/** A case's deadline for people; 暂定 while its year's calendar is not loaded. */
export function deadlineText(c) {
  return c.deadlineProvisional ? `${formatTime(c.deadline)}（暂定）` : formatTime(c.deadline);
}

// ---------------------------------------------------------------------------
// One case.

/** The capacities the caller may act in on `c`, as routing decides them. */
export function actingAs(c, claims) {
  const roles = claims.roles;
  const capacities = new Set();
  if (roles.includes('coordinator') || roles.includes('service')) capacities.add('coordinator');
  if (roles.includes('handler') && c.departmentId && claims.department === c.departmentId) capacities.add('department');
  if (roles.includes('enterprise') && claims.uscc && claims.uscc === c.enterprise?.uscc) capacities.add('enterprise');
  return capacities;
}

const state = (c, ...names) => names.some((name) => is('caseState', c.state, name));
const LEVEL_RANK = { COUNTY: 0, CITY: 1, MEETING: 2 };

/**
 * Every transition of a case: who may give it, in which states, its fields,
 * and its HTTP binding (`POST /v1/cases/{id}:<verb>`, the case's etag in the body).
 */
const ACTIONS = [
  {
    label: '受理', who: ['coordinator'], when: (c) => state(c, 'PENDING'),
    fields: () => [field({ name: 'note', label: '受理意见', type: 'textarea', rows: 2 })],
    send: (id, body) => post(`/v1/cases/${enc(id)}:accept`, body),
  },
  {
    label: '不予受理', who: ['coordinator'], when: (c) => state(c, 'PENDING'), danger: true,
    fields: () => [field({ name: 'reason', label: '不予受理的理由（告知企业）', type: 'textarea', rows: 3, required: true })],
    send: (id, body) => post(`/v1/cases/${enc(id)}:reject`, body),
  },
  {
    label: '交办', who: ['coordinator'], when: (c) => state(c, 'ACCEPTED', 'ASSIGNED'),
    fields: (c, claims) => [
      field({ name: 'department_id', label: '承办部门', type: 'select', required: true, blank: '请选择', options: assignable(c, claims), value: c.departmentId }),
      field({ name: 'note', label: '交办意见', type: 'textarea', rows: 2 }),
    ],
    send: (id, body) => post(`/v1/cases/${enc(id)}:assign`, body),
  },
  {
    label: '签收', who: ['department'], when: (c) => state(c, 'ASSIGNED'),
    fields: () => [field({ name: 'note', label: '备注', type: 'textarea', rows: 2 })],
    send: (id, body) => post(`/v1/cases/${enc(id)}:claim`, body),
  },
  {
    label: '记录办理进展', who: ['department', 'coordinator'], when: (c) => state(c, ...OPEN_STATES, 'RESOLVED'),
    fields: () => [field({ name: 'note', label: '进展（企业可见）', type: 'textarea', rows: 3, required: true })],
    send: (id, body) => post(`/v1/cases/${enc(id)}:addProgress`, body),
  },
  {
    label: '请企业补充材料', who: ['department', 'coordinator'],
    when: (c, as) => (as.has('coordinator') ? state(c, 'PENDING', 'ACCEPTED', 'IN_PROGRESS') : state(c, 'IN_PROGRESS')),
    fields: () => [field({ name: 'question', label: '需要企业补充的内容（期间暂停计时）', type: 'textarea', rows: 3, required: true })],
    send: (id, body) => post(`/v1/cases/${enc(id)}:requestInfo`, body),
  },
  {
    label: '补充材料', who: ['enterprise'], when: (c) => state(c, 'AWAITING_ENTERPRISE'),
    fields: (c) => [
      c.infoQuestion ? h('p', { class: 'question' }, h('strong', null, '需补充：'), c.infoQuestion) : null,
      field({ name: 'answer', label: '答复', type: 'textarea', rows: 4, required: true }),
    ],
    send: (id, body) => post(`/v1/cases/${enc(id)}:provideInfo`, body),
  },
  {
    label: '办结', who: ['department'], when: (c) => state(c, 'IN_PROGRESS'),
    fields: () => [
      field({ name: 'outcome', label: '办理结果', type: 'select', required: true, blank: '请选择',
        options: enumOptions('outcome').filter(([value]) => !value.endsWith('WITHDRAWN')) }),
      field({ name: 'resolution', label: '办理情况（告知企业）', type: 'textarea', rows: 4, required: true }),
    ],
    send: (id, body) => post(`/v1/cases/${enc(id)}:resolve`, body),
  },
  {
    label: '申请延期', who: ['department'],
    when: (c) => state(c, 'ASSIGNED', 'IN_PROGRESS') && !is('extensionState', c.extension?.state, 'REQUESTED'),
    fields: () => [
      field({ name: 'working_days', label: '延长工作日', type: 'number', min: 1, max: 60, required: true }),
      field({ name: 'reason', label: '理由', type: 'textarea', rows: 2, required: true }),
    ],
    send: (id, body) => post(`/v1/cases/${enc(id)}:requestExtension`, body),
  },
  {
    label: '审批延期', who: ['coordinator'],
    when: (c) => is('extensionState', c.extension?.state, 'REQUESTED') && state(c, ...OPEN_STATES),
    fields: (c) => [
      h('p', null, `申请延长 ${c.extension.workingDays ?? 0} 个工作日：${c.extension.reason ?? ''}`),
      field({ name: 'approve', label: '决定', type: 'select', required: true, blank: '请选择', options: [['true', '批准'], ['false', '不批准']] }),
      field({ name: 'note', label: '审批意见', type: 'textarea', rows: 2 }),
    ],
    prepare: (body) => ({ ...body, approve: body.approve === 'true' }),
    send: (id, body) => post(`/v1/cases/${enc(id)}:decideExtension`, body),
  },
  {
    label: '退单', who: ['department'], when: (c) => state(c, 'ASSIGNED', 'IN_PROGRESS'), danger: true,
    fields: () => [field({ name: 'reason', label: '退单理由（非本部门职责的依据）', type: 'textarea', rows: 3, required: true })],
    send: (id, body) => post(`/v1/cases/${enc(id)}:return`, body),
  },
  {
    label: '提级办理', who: ['coordinator'], when: (c) => state(c, 'PENDING', 'ACCEPTED', 'ASSIGNED', 'IN_PROGRESS') && !is('level', c.level, 'MEETING'),
    fields: (c, claims) => {
      const rank = LEVEL_RANK[short('level', c.level)] ?? 0;
      const city = cityCode(claims);
      return [
        field({ name: 'target', label: '提级至', type: 'select', required: true, blank: '请选择',
          options: enumOptions('level').filter(([value]) => (LEVEL_RANK[short('level', value)] ?? 0) > rank) }),
        field({ name: 'meeting_type', label: '会商类型（提级至会商时）', type: 'select', blank: '—', options: enumOptions('meetingType') }),
        field({ name: 'department_id', label: '市级承办部门（提级至市级时，可空）', type: 'select', blank: '由规则或协调员确定', options: departmentOptions([city]) }),
        field({ name: 'reason', label: '提级理由', type: 'textarea', rows: 3, required: true }),
      ];
    },
    send: (id, body) => post(`/v1/cases/${enc(id)}:escalate`, body),
  },
  {
    label: '重新办理', who: ['enterprise', 'coordinator'],
    when: (c, as) => state(c, 'RESOLVED') && (as.has('coordinator') || !(c.reopenCount > 0)),
    fields: () => [field({ name: 'reason', label: '理由', type: 'textarea', rows: 3, required: true })],
    send: (id, body) => post(`/v1/cases/${enc(id)}:reopen`, body),
  },
  {
    label: '结案', who: ['coordinator'], when: (c) => state(c, 'RESOLVED'),
    fields: () => [field({ name: 'note', label: '结案意见', type: 'textarea', rows: 2 })],
    send: (id, body) => post(`/v1/cases/${enc(id)}:close`, body),
  },
];

/** Departments a coordinator may assign `c` to: of the jurisdiction handling it, and of the city. */
function assignable(c, claims) {
  const city = cityCode(claims);
  const handling = is('level', c.level, 'COUNTY') ? c.jurisdictionCode : city;
  const codes = handling === city ? [city] : [handling, city];
  return departmentOptions(codes);
}

/**
 * The actions `claims` may take on `c` now, each a form that sends the case's
 * etag and its own request id; `done(case)` runs after one succeeds.
 */
export function caseActions(c, claims, done) {
  const as = actingAs(c, claims);
  const allowed = ACTIONS.filter((action) => action.who.some((w) => as.has(w)) && action.when(c, as));
  if (allowed.length === 0) return null;
  return section('办理',
    h('div', { class: 'case-actions' }, allowed.map((action) => {
      const body = form({
        fields: action.fields(c, claims),
        submitLabel: action.label,
        requestId: true,
        className: action.danger ? 'danger' : '',
        submit: async (values) => {
          const prepared = action.prepare ? action.prepare(values) : values;
          const updated = await action.send(c.id, { ...prepared, etag: c.etag });
          done(updated);
        },
      });
      return h('details', { class: 'action' }, h('summary', null, action.label), body);
    })));
}

/** What a case is and where it stands. */
export function caseFacts(c) {
  const extension = c.extension && short('extensionState', c.extension.state)
    ? `${label('extensionState', c.extension.state)}：${c.extension.workingDays ?? 0} 个工作日，${c.extension.reason ?? ''}${c.extension.decisionNote ? `（${c.extension.decisionNote}）` : ''}`
    : null;
  return facts([
    ['受理编号', c.number],
    ['状态', badge('caseState', c.state)],
    ['层级', label('level', c.level)],
    ['辖区', jurisdictionLabel(c.jurisdictionCode)],
    ['承办部门', departmentLabel(c.departmentId)],
    ['类别', label('category', c.category)],
    ['类型', label('kind', c.kind)],
    ['渠道', label('channel', c.channel)],
    ['企业', c.enterprise ? `${c.enterprise.name ?? ''}（${c.enterprise.uscc ?? ''}）` : '—'],
    ['办理期限', `${deadlineText(c)}（${c.timeLimitWorkingDays ?? 0} 个工作日）`],
    c.deadlineProvisional
      ? ['时限说明', '暂定：期限跨入尚未载入国务院节假日安排的年份，暂按周六、周日休息计算；该年日历载入后自动重算并记入台账。']
      : null,
    ['督办', badge('supervision', c.supervision)],
    c.pauseTime ? ['暂停计时', `自 ${formatTime(c.pauseTime)}`] : null,
    c.infoQuestion ? ['待企业补充', c.infoQuestion] : null,
    c.infoAnswer ? ['企业最近答复', c.infoAnswer] : null,
    extension ? ['延期', extension] : null,
    short('outcome', c.outcome) ? ['办理结果', label('outcome', c.outcome)] : null,
    c.resolution ? ['办理情况', c.resolution] : null,
    c.rejectReason ? ['不予受理理由', c.rejectReason] : null,
    c.returnsCount ? ['退单', `${c.returnsCount} 次；最近理由：${c.returnReason ?? ''}`] : null,
    c.reopenCount ? ['重新办理', `${c.reopenCount} 次`] : null,
    c.escalationReason ? ['提级理由', c.escalationReason] : null,
    short('meetingType', c.meetingType) ? ['会商类型', label('meetingType', c.meetingType)] : null,
    c.butler ? ['项目管家', c.butler] : null,
    c.claimedBy ? ['签收人', c.claimedBy] : null,
    c.duplicateAppealIds?.length ? ['关联的重复诉求', c.duplicateAppealIds.map((id, i) => [i ? '、' : '', link(`#/appeals/${enc(id)}`, id)])] : null,
    ['立案时间', formatTime(c.createTime)],
    c.resolveTime ? ['办结时间', formatTime(c.resolveTime)] : null,
    c.closeTime ? ['结案时间', formatTime(c.closeTime)] : null,
  ]);
}

/** The case's ledger entries (台账), oldest first. */
export async function caseHistory(id) {
  const history = await get(`/v1/cases/${enc(id)}/history`);
  const rows = (history.entries ?? []).map((entry) => [
    formatTime(entry.createTime),
    label('caseAction', entry.action),
    entry.fromState === entry.toState ? label('caseState', entry.toState) : `${label('caseState', entry.fromState)} → ${label('caseState', entry.toState)}`,
    `${entry.actor ?? ''}${entry.actorRole ? `（${entry.actorRole}）` : ''}`,
    entry.note ?? '',
    h('code', { class: 'hash', title: entry.entryHash ?? '' }, (entry.entryHash ?? '').slice(0, 12)),
  ]);
  return section('办理记录（台账）', table(['时间', '事项', '状态', '经办', '说明', '哈希'], rows, '暂无记录'));
}

export async function detail({ params, claims, refresh }) {
  const [id] = params;
  const c = await get(`/v1/cases/${enc(id)}`);
  const history = await caseHistory(id);
  return h('div', null,
    h('p', { class: 'crumbs' }, link('#/cases', '案件'), ' / ', c.number || c.id),
    h('h1', null, c.title || '（无标题）'),
    section('案件', caseFacts(c),
      c.description ? h('div', { class: 'text' }, h('h3', null, '诉求内容'), h('p', null, c.description)) : null,
      c.contactName || c.contactPhone ? h('p', null, `联系人：${c.contactName ?? ''} ${c.contactPhone ?? ''}`) : null,
      c.personalDataEraseTime
        ? h('p', null, `联系人信息已于 ${formatTime(c.personalDataEraseTime)} 按保存期限删除`)
        : null,
      h('p', null, link(`#/appeals/${enc(c.appealId)}`, '查看诉求原件'))),
    caseActions(c, claims, () => refresh()),
    history);
}

// ---------------------------------------------------------------------------
// The ledger (台账): download and check.

export async function ledger({ claims }) {
  const codes = jurisdictionOptions(claims.jurisdiction);
  const verifyResult = h('div', { 'aria-live': 'polite' });
  const exportForm = form({
    submitLabel: '下载台账',
    fields: [
      field({ name: 'jurisdiction_code', label: '辖区', type: 'select', blank: '本辖区', options: codes }),
      field({ name: 'format', label: '格式', type: 'select', options: enumOptions('exportFormat'), value: 'EXPORT_FORMAT_XLSX' }),
      field({ name: 'state', label: '状态', type: 'select', blank: '全部', options: enumOptions('caseState') }),
      field({ name: 'level', label: '层级', type: 'select', blank: '全部', options: enumOptions('level') }),
      field({ name: 'department_id', label: '承办部门', list: 'ledger-departments', placeholder: '如 510821-jrj' }),
      h('datalist', { id: 'ledger-departments' }, departmentOptions(codes.map(([code]) => code)).map(([value, text]) => h('option', { value }, text))),
      field({ name: 'start_time', label: '立案日期自', type: 'date' }),
      field({ name: 'end_time', label: '立案日期至（不含）', type: 'date' }),
    ],
    submit: async (values) => {
      const query = { ...values };
      if (query.startTime) query.startTime = chinaDayStart(query.startTime);
      if (query.endTime) query.endTime = chinaDayStart(query.endTime);
      const { blob, filename } = await download('/v1/ledger:export', query);
      saveBlob(blob, filename);
    },
  });
  const verifyForm = form({
    submitLabel: '校验台账',
    fields: [field({ name: 'jurisdiction_code', label: '辖区', type: 'select', blank: '本辖区', options: codes })],
    submit: async (values) => {
      const result = await post('/v1/ledger:verify', values);
      const ledgers = table(['辖区', '已校验', '结果', '末条哈希'], (result.ledgers ?? []).map((l) => [
        jurisdictionLabel(l.jurisdictionCode),
        `${l.checkedEntries ?? 0} 条`,
        l.ok ? '完整' : `未通过：${l.problem ?? ''}`,
        l.headHash || '—',
      ]), '没有台账');
      verifyResult.replaceChildren(result.ok
        ? h('div', null,
          notice(`台账完整：共校验 ${(result.ledgers ?? []).length} 本台账 ${result.checkedEntries ?? 0} 条`, 'ok'),
          ledgers)
        : h('div', null,
          notice(`台账校验未通过：${result.problem ?? ''}`, 'error'),
          result.firstBrokenEntry ? facts([
            ['序号', result.firstBrokenEntry.sequence],
            ['案件', link(`#/cases/${enc(result.firstBrokenEntry.caseId)}`, result.firstBrokenEntry.caseId)],
            ['事项', label('caseAction', result.firstBrokenEntry.action)],
          ]) : null,
          ledgers));
    },
  });
  return h('div', null,
    h('h1', null, '台账'),
    section('导出台账', h('p', { class: 'hint' }, '一案一行，含受理、交办、办结、督办等信息。'), exportForm),
    section('校验台账', h('p', { class: 'hint' }, '重新计算哈希链，检查每一条记录是否被改动。'), verifyForm, verifyResult));
}
