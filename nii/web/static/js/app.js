// The page: sign-in with account name and password, hash routes (#/ worklist, #/case/<id> viewer),
// idle expiry.
import { $, typing } from './dom.js';
import { api, session, setExpiredHandler } from './api.js';
import { Worklist } from './worklist.js';
import { CaseView } from './caseview.js';

// Without input for this long the page signs out, although the worklist's refreshes keep the
// service's session alive: the service's own idle timeout, which the sign-in answer states.
const DEFAULT_IDLE_MS = 15 * 60 * 1000;

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
  const previous = session.user();
  if (previous && !$('#login-name').value) $('#login-name').value = previous.name;
  $(previous ? '#login-password' : '#login-name').focus();
}

// End the service's session too (best effort), keeping the user so their drafts come back.
function endSession() {
  const token = session.token();
  session.expire();
  if (token) api.signOut(token).catch(() => {});
}

function route() {
  if (!session.token()) { showLogin(''); return; }
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
  const name = $('#login-name').value.trim();
  const password = $('#login-password').value;
  $('#login-error').textContent = '';
  $('#login-submit').disabled = true;
  try {
    const s = await api.signIn(name, password);
    if (!s.permissions.includes('queue:read')) {
      api.signOut(s.token).catch(() => {});
      $('#login-error').textContent = `${s.name} is a ${s.role}: this page is for officers and supervisors`;
      return;
    }
    const previous = session.user();
    if (previous && previous.name !== s.name) caseView.dropDrafts(previous.name);
    session.set(s.token, { name: s.name, role: s.role, permissions: s.permissions,
      idleMs: s.idle_timeout_s * 1000 });
    $('#login-password').value = '';
    state.lastInput = Date.now();
    banner('');
    route();
  } catch (err) {
    $('#login-error').textContent = err.message; // the service's words: wrong name or password, or wait
  } finally {
    $('#login-submit').disabled = false;
  }
}

setExpiredHandler((why) => showLogin(`Signed out: ${why}. Anything you typed is kept.`));

$('#login-form').addEventListener('submit', login);
$('#logout').addEventListener('click', () => {
  endSession();
  session.clear();
  caseView.dropDrafts();
  $('#login-name').value = '';
  location.hash = '#/';
  showLogin('');
});
window.addEventListener('hashchange', route);
for (const type of ['keydown', 'pointerdown', 'wheel']) {
  window.addEventListener(type, () => { state.lastInput = Date.now(); }, { passive: true, capture: true });
}
setInterval(() => {
  const idleMs = session.user()?.idleMs ?? DEFAULT_IDLE_MS;
  if (session.token() && Date.now() - state.lastInput > idleMs) {
    endSession();
    showLogin(`Signed out after ${Math.round(idleMs / 60000)} minutes without activity. Anything you typed is kept.`);
  }
}, 10_000);

window.addEventListener('keydown', (event) => {
  if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  if (!$('#worklist').hidden) worklist.onKey(event);
  else if (!$('#viewer').hidden) caseView.onKey(event);
});

route();
