// The page: sign-in, hash routes (#/ worklist, #/case/<id> viewer), idle expiry.
import { $, typing } from './dom.js';
import { ApiError, api, session, setExpiredHandler } from './api.js';
import { Worklist } from './worklist.js';
import { CaseView } from './caseview.js';

const IDLE_LIMIT_MS = 15 * 60 * 1000; // the session ends after this long without input

const state = { view: null, lastInput: Date.now() };
const worklist = new Worklist({ open: (id) => { location.hash = `#/case/${encodeURIComponent(id)}`; } });
const caseView = new CaseView({ back: () => { location.hash = '#/'; } });
window.__nii = { metrics: {}, caseView, worklist };

export function banner(text, kind = 'error') {
  const b = $('#banner');
  b.textContent = text || '';
  b.className = `banner ${kind}`;
  b.hidden = !text;
}

function show(section) {
  for (const id of ['login', 'worklist', 'viewer']) $(`#${id}`).hidden = id !== section;
}

function showLogin(message) {
  worklist.stop();
  caseView.suspend();
  $('#who').textContent = '';
  $('#logout').hidden = true;
  $('#login-error').textContent = message || '';
  show('login');
  $('#login-key').focus();
}

function route() {
  if (!session.key()) { showLogin(''); return; }
  const user = session.user();
  $('#who').textContent = user ? `${user.name} (${user.role})` : '';
  $('#logout').hidden = false;
  const m = location.hash.match(/^#\/case\/([A-Za-z0-9_]+)$/);
  if (m) {
    worklist.stop();
    show('viewer');
    state.view = 'viewer';
    caseView.open(m[1]);
  } else {
    caseView.close();
    show('worklist');
    state.view = 'worklist';
    worklist.start();
  }
}

async function login(event) {
  event.preventDefault();
  const key = $('#login-key').value.trim();
  $('#login-error').textContent = '';
  try {
    const me = await api.me(key);
    if (!me.permissions.includes('queue:read')) {
      $('#login-error').textContent = `${me.name} is a ${me.role}: this page is for officers and supervisors`;
      return;
    }
    const previous = session.user();
    if (previous && previous.name !== me.name) caseView.dropDrafts(previous.name);
    session.set(key, { name: me.name, role: me.role, permissions: me.permissions });
    $('#login-key').value = '';
    state.lastInput = Date.now();
    banner('');
    route();
  } catch (err) {
    $('#login-error').textContent = err instanceof ApiError && err.status === 401
      ? 'unknown, revoked or malformed key; ask an administrator for a new one'
      : err.message;
  }
}

setExpiredHandler((why) => showLogin(`Signed out: ${why}. Anything you typed is kept.`));

$('#login-form').addEventListener('submit', login);
$('#logout').addEventListener('click', () => { session.clear(); caseView.dropDrafts(); location.hash = '#/'; showLogin(''); });
window.addEventListener('hashchange', route);
for (const type of ['keydown', 'pointerdown', 'wheel']) {
  window.addEventListener(type, () => { state.lastInput = Date.now(); }, { passive: true, capture: true });
}
setInterval(() => {
  if (session.key() && Date.now() - state.lastInput > IDLE_LIMIT_MS) {
    session.expire();
    showLogin('Signed out after 15 minutes without activity. Anything you typed is kept.');
  }
}, 10_000);

window.addEventListener('keydown', (event) => {
  if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  if (!$('#worklist').hidden) worklist.onKey(event);
  else if (!$('#viewer').hidden) caseView.onKey(event);
});

route();
