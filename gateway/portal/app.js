// The city portal: sign-in, the navigation each role gets, and routing by the
// URL's fragment (`#/appeals`, `#/cases/<id>`), so `/` is the only page the
// gateway serves.

import { ApiError, decodeJwt, onUnauthenticated, session } from './api.js';
import {
  ROLE_NAMES, cityName, errorBox, formatTime, h, jurisdictionLabel, departmentLabel, loadAccess, loadDirectory, may, notice,
} from './ui.js';
import * as enterprise from './enterprise.js';
import * as cases from './cases.js';
import * as oversight from './oversight.js';
import * as policies from './policies.js';

/** What the signed-in user may do: the operations the contracts let their roles call. */
export function abilities(claims) {
  const has = (...roles) => roles.some((role) => claims.roles.includes(role));
  const can = (operationId) => may(claims.roles, operationId);
  return {
    has,
    may: can,
    enterprise: has('enterprise'),
    submitAppeals: can('IntakeService_SubmitAppeal'),
    listCases: can('CaseService_ListCases') && !has('enterprise'),
    ledger: can('CaseService_ExportLedger'),
    alerts: can('ScoringService_ListAlerts'),
    rankings: can('ScoringService_ListRankings'),
    overview: can('ScoringService_GetOverview'),
  };
}

// [pattern, view, who may open it]; a view is `async (context) => Node`.
const ROUTES = [
  [/^\/appeals\/new$/, enterprise.submitAppeal, (a) => a.submitAppeals],
  [/^\/appeals$/, enterprise.appeals, () => true],
  [/^\/appeals\/([^/]+)$/, enterprise.appeal, () => true],
  [/^\/enterprise$/, enterprise.registration, (a) => a.enterprise],
  [/^\/inbox$/, policies.inbox, (a) => a.enterprise],
  [/^\/visits$/, enterprise.visits, (a) => a.enterprise || a.may('EvaluationService_RegisterServiceRecord')],
  [/^\/policies$/, policies.list, () => true],
  [/^\/policies\/([^/]+)$/, policies.policy, () => true],
  [/^\/cases$/, cases.list, (a) => a.listCases],
  [/^\/cases\/([^/]+)$/, cases.detail, (a) => a.listCases],
  [/^\/ledger$/, cases.ledger, (a) => a.ledger],
  [/^\/supervision$/, oversight.supervision, (a) => a.listCases],
  [/^\/scoring$/, oversight.scoring, (a) => a.overview || a.rankings],
  [/^\/scorecards\/([^/]+)$/, oversight.scorecard, (a) => a.rankings],
  [/^\/scorecards\/([^/]+)\/indicators\/([^/]+)$/, oversight.indicatorFacts, (a) => a.rankings],
];

/** The navigation of a user: [route, label] for what their roles may open. */
function navigation(can) {
  const items = [];
  if (can.enterprise) {
    items.push(['#/appeals/new', '提交诉求'], ['#/appeals', '我的诉求'], ['#/inbox', '政策推送'],
      ['#/visits', '窗口评价'], ['#/policies', '政策'], ['#/enterprise', '企业信息']);
    return items;
  }
  if (can.listCases) items.push(['#/cases', '案件']);
  if (can.listCases) items.push(['#/supervision', '督办']);
  if (can.ledger) items.push(['#/ledger', '台账']);
  if (can.overview || can.rankings) items.push(['#/scoring', '考核']);
  items.push(['#/appeals', '诉求']);
  if (can.may('EvaluationService_RegisterServiceRecord')) items.push(['#/visits', '窗口办件']);
  if (can.submitAppeals) items.push(['#/appeals/new', '登记诉求']);
  items.push(['#/policies', '政策']);
  return items;
}

function home(can) {
  if (can.enterprise) return '#/appeals';
  if (can.listCases) return '#/cases';
  if (can.overview) return '#/scoring';
  return '#/policies';
}

const main = () => document.getElementById('main');
let rendering = 0;
let returnTo = '';

/** Parses `#/path?query` into the path and the query's values. */
function currentRoute() {
  const fragment = window.location.hash.replace(/^#/, '') || '/';
  const [path, search] = fragment.split('?', 2);
  return { path: path || '/', query: Object.fromEntries(new URLSearchParams(search ?? '')) };
}

async function render() {
  const ticket = ++rendering;
  const claims = session.claims();
  renderHeader(claims);
  const { path, query } = currentRoute();
  if (!claims) {
    if (path !== '/signin') returnTo = window.location.hash;
    show(signIn());
    return;
  }
  if (claims.exp && claims.exp * 1000 < Date.now()) {
    session.signOut();
    returnTo = window.location.hash;
    renderHeader(null);
    show(signIn('登录已过期，请粘贴新的令牌。'));
    return;
  }
  const can = abilities(claims);
  if (path === '/' || path === '/signin') {
    window.location.replace(home(can));
    return;
  }
  markCurrent(path);
  for (const [pattern, view, allowed] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    if (!allowed(can)) {
      show(notice('您的角色不能打开此页面。', 'error'));
      return;
    }
    show(h('p', { class: 'loading', role: 'status' }, '加载中…'));
    try {
      const context = {
        claims, can, query, params: match.slice(1).map(decodeURIComponent),
        refresh: () => render(),
      };
      const node = await view(context);
      if (ticket === rendering) show(node);
    } catch (error) {
      if (ticket !== rendering) return;
      if (error instanceof ApiError && error.status === 401) return;
      show(h('div', null, errorBox(error), h('p', null, h('button', { type: 'button', onclick: () => render() }, '重试'))));
    }
    return;
  }
  show(notice('没有这个页面。', 'error'));
}

function show(node) {
  const target = main();
  target.replaceChildren(node);
  const heading = target.querySelector('h1');
  if (heading) document.title = `${heading.textContent} · ${cityName()}营商环境诉求一张网`;
}

function renderHeader(claims) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const brand = document.getElementById('brand');
  brand.textContent = `${cityName()}营商环境诉求受理和分级办理一张网`;
  if (!claims) {
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  const can = abilities(claims);
  nav.replaceChildren(h('ul', null, navigation(can).map(([href, text]) => h('li', null, h('a', { href }, text)))));
  const details = [
    claims.name ? `${claims.name}（${claims.sub}）` : claims.sub,
    claims.roles.map((r) => ROLE_NAMES[r] ?? r).join('、'),
    claims.jurisdiction ? jurisdictionLabel(claims.jurisdiction) : null,
    claims.department ? departmentLabel(claims.department) : null,
    claims.uscc ? `统一社会信用代码 ${claims.uscc}` : null,
  ].filter(Boolean);
  who.replaceChildren(
    h('span', { class: 'who', title: claims.exp ? `令牌有效期至 ${formatTime(new Date(claims.exp * 1000).toISOString())}` : '' },
      details.join(' · ')),
    h('button', { type: 'button', class: 'link', onclick: signOut }, '退出'),
  );
}

function markCurrent(path) {
  for (const anchor of document.querySelectorAll('#nav a')) {
    const target = anchor.getAttribute('href').slice(1);
    const current = path === target || (path.startsWith(`${target}/`) && path !== '/appeals/new');
    if (current) anchor.setAttribute('aria-current', 'page');
    else anchor.removeAttribute('aria-current');
  }
}

function signOut() {
  session.signOut();
  returnTo = '';
  window.location.hash = '#/signin';
  render();
}

/** The sign-in page: paste a bearer token; its claims show before it is kept. */
function signIn(message) {
  const area = h('textarea', {
    id: 'token', name: 'token', rows: 6, required: true, spellcheck: 'false', autocomplete: 'off',
    placeholder: 'eyJhbGciOi…', 'aria-describedby': 'token-help',
  });
  const preview = h('div', { class: 'token-preview', 'aria-live': 'polite' });
  const errors = h('div');
  area.addEventListener('input', () => {
    preview.replaceChildren();
    const text = area.value.trim().replace(/^Bearer\s+/i, '');
    if (!text) return;
    try {
      const claims = decodeJwt(text);
      preview.append(h('dl', { class: 'facts' },
        [['sub', claims.sub], ['roles', Array.isArray(claims.roles) ? claims.roles.map((r) => `${r}（${ROLE_NAMES[r] ?? r}）`).join('、') : claims.roles],
          ['jurisdiction', claims.jurisdiction ? jurisdictionLabel(String(claims.jurisdiction)) : null],
          ['department', claims.department], ['uscc', claims.uscc],
          ['exp', claims.exp ? formatTime(new Date(claims.exp * 1000).toISOString()) : null]]
          .filter(([, value]) => value)
          .map(([term, value]) => [h('dt', null, term), h('dd', null, String(value))])));
    } catch (error) {
      preview.append(h('p', { class: 'field-error' }, error.message));
    }
  });
  const form = h('form', { class: 'form signin' },
    h('label', { for: 'token' }, '访问令牌（Bearer JWT）'),
    area,
    h('p', { class: 'hint', id: 'token-help' },
      '令牌由本市统一身份认证签发。在开发环境中，运行 ',
      h('code', null, 'zhengqi up'), ' 的机器上执行 ',
      h('code', null, 'zhengqi token --role enterprise --jurisdiction 510821 --uscc 91350200776049653A'),
      '（或 --role coordinator、handler --department 510821-jrj、leader 等）即可得到一个。令牌只保存在本标签页的会话中。'),
    preview,
    errors,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, '登录')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    errors.replaceChildren();
    try {
      session.signIn(area.value);
    } catch (error) {
      errors.append(errorBox(error));
      return;
    }
    const target = returnTo && returnTo !== '#/signin' ? returnTo : '#/';
    returnTo = '';
    if (window.location.hash === target) render();
    else window.location.hash = target;
  });
  return h('div', { class: 'narrow' },
    h('h1', null, '登录'),
    message ? notice(message, 'error') : null,
    form);
}

onUnauthenticated(() => {
  session.signOut();
  returnTo = window.location.hash;
  renderHeader(null);
  show(signIn('登录已失效（令牌无效或已过期），请重新粘贴令牌。'));
});

window.addEventListener('hashchange', () => render());
Promise.all([loadDirectory(), loadAccess()]).then(() => render());
