// One case: the scan viewer, declared vs detected, box corrections, decision and audit.
import { $, $$, clear, el, fmtTime } from './dom.js';
import { ApiError, SessionExpired, api, session } from './api.js';
import { CLASS_NAMES } from './classes.js';
import { DEFAULT_TOOLS, materialCodes } from './imagetools.js';
import { Viewer } from './viewer.js';

const OUTCOMES = [ // [final outcome, label, shortcut]
  ['released', 'Release', '1'],
  ['inspected_cleared', 'Inspected, cleared', '2'],
  ['duty_assessed', 'Duty assessed', '3'],
  ['seized', 'Seize', '4'],
  ['returned', 'Return to sender', '5'],
  ['destroyed', 'Destroy', '6'],
];
const OPEN_STATES = new Set(['referred', 'held']);
const DRAFT = 'nii.draft.';

export class CaseView {
  constructor({ back }) {
    this.back = back;
    this.id = null;
    this.case = null;
    this.loadSeq = 0;
    this.armed = null;
    this.newClass = 'knife';
    this.viewer = new Viewer($('#canvas'), {
      onSelect: (key) => this.select(key),
      onDraw: (xyxy) => this.addBox(xyxy),
      onFirstRender: () => {
        const ms = performance.now() - this.openedAt;
        window.__nii.metrics.firstRenderMs = ms;
        $('#canvas').dataset.rendered = this.id;
        $('#stage-status').textContent = `${this.viewer.image.width}×${this.viewer.image.height} · first render ${ms.toFixed(0)} ms`;
      },
    });
    this.bindToolbar();
    $('#back').addEventListener('click', () => this.back());
    for (const tab of $$('.tab')) tab.addEventListener('click', () => this.tab(tab.dataset.tab));
  }

  // --- lifecycle -------------------------------------------------------------------------------

  async open(id) {
    const seq = ++this.loadSeq;
    this.openedAt = performance.now();
    this.id = id;
    this.case = null;
    this.armed = null;
    this.conflict = null;
    this.viewer.clearImage();
    delete $('#canvas').dataset.rendered;
    $('#case-title').textContent = `Case ${id}`;
    $('#case-meta').textContent = 'loading…';
    for (const pane of ['#tab-compare', '#tab-boxes', '#tab-audit', '#decision']) clear($(pane));
    try {
      const [data, blob] = await Promise.all([api.case(id), api.image(id)]);
      const bitmap = await createImageBitmap(blob);
      if (seq !== this.loadSeq) { bitmap.close(); return; }
      this.case = data;
      this.edits = this.loadDraft()?.edits ?? { added: [], removed: [], relabelled: {} };
      this.viewer.setImage(bitmap);
      this.refreshBoxes();
      this.renderHeader();
      this.renderCompare();
      this.renderBoxesTab();
      this.renderDecision();
      this.loadAudit();
      this.loadMaterials(seq);
      $('#canvas').focus();
    } catch (err) {
      if (err instanceof SessionExpired || seq !== this.loadSeq) return;
      $('#case-meta').textContent = '';
      $('#decision').append(el('p', { class: 'error', text: `cannot open case ${id}: ${err.message}` }));
    }
  }

  // The dual-energy material map, fetched after the scan: until it is in, and for cases without
  // low/high channels, material stripping goes by the false-colour hue.
  async loadMaterials(seq) {
    const dual = this.case.comparison?.material?.source === 'dual_energy';
    this.showMaterialSource(dual ? 'pending' : 'false_colour');
    if (!dual) return;
    try {
      const blob = await api.materials(this.id);
      const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
      if (seq !== this.loadSeq) { bitmap.close(); return; }
      const c = document.createElement('canvas');
      c.width = bitmap.width; c.height = bitmap.height;
      const cx = c.getContext('2d', { willReadFrequently: true });
      cx.drawImage(bitmap, 0, 0);
      bitmap.close();
      const codes = materialCodes(cx.getImageData(0, 0, c.width, c.height));
      this.showMaterialSource(this.viewer.setMaterials(codes) ? 'dual_energy' : 'false_colour');
    } catch (err) {
      if (err instanceof SessionExpired || seq !== this.loadSeq) return;
      this.showMaterialSource('false_colour');
    }
  }

  showMaterialSource(source) {
    $('#canvas').dataset.materialSource = source;
    $('#t-mat-src').textContent = { dual_energy: 'dual energy', false_colour: 'by colour', pending: '…' }[source];
    $('#t-material').title = source === 'dual_energy'
      ? 'o / n / m / a · materials from the dual-energy channels'
      : 'o / n / m / a · materials from the false-colour hue (no dual-energy channels)';
  }

  suspend() { this.loadSeq++; }

  close() {
    this.loadSeq++;
    this.id = null;
    this.viewer.clearImage();
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  }

  // --- drafts: note and corrections survive a reload or an expired session ----------------------

  draftKey(id = this.id) { return `${DRAFT}${session.user()?.name ?? '?'}.${id}`; }
  loadDraft() { return JSON.parse(sessionStorage.getItem(this.draftKey()) || 'null'); }

  saveDraft() {
    if (!this.id || !this.case) return;
    const note = $('#note')?.value ?? '';
    sessionStorage.setItem(this.draftKey(), JSON.stringify({ note, edits: this.edits }));
  }

  dropDraft() { sessionStorage.removeItem(this.draftKey()); }

  dropDrafts(user) {
    for (const k of Object.keys(sessionStorage)) {
      if (k.startsWith(DRAFT) && (user === undefined || k.startsWith(`${DRAFT}${user}.`))) sessionStorage.removeItem(k);
    }
  }

  // --- boxes -----------------------------------------------------------------------------------

  get detections() { return this.case?.detections ?? []; }
  get editable() { return OPEN_STATES.has(this.case?.state); }

  refreshBoxes() {
    const saved = this.case.annotations; // a closed case shows the corrections that were recorded
    const edits = this.editable ? this.edits
      : { added: saved?.added ?? [], removed: saved?.removed ?? [],
        relabelled: Object.fromEntries((saved?.relabelled ?? []).map((r) => [r.index, r.class_name])) };
    const boxes = this.detections.map((d, i) => ({
      key: `d${i}`, index: i, kind: 'detection', xyxy: d.xyxy, score: d.score,
      label: edits.relabelled[i] ?? d.class_name, original: d.class_name, removed: edits.removed.includes(i),
    }));
    edits.added.forEach((b, j) => boxes.push({ key: `a${j}`, index: j, kind: 'added', xyxy: b.xyxy, score: 1, label: b.class_name }));
    this.allBoxes = boxes;
    this.viewer.boxes = boxes.filter((b) => !b.removed);
    this.viewer.requestRender();
  }

  keysForClasses(classes) {
    const want = new Set(classes);
    return this.allBoxes.filter((b) => !b.removed && want.has(b.label)).map((b) => b.key);
  }

  highlight(keys, item) {
    this.viewer.highlight = new Set(keys);
    for (const n of $$('.item.hl')) n.classList.remove('hl');
    item?.classList.add('hl');
    const boxes = this.allBoxes.filter((b) => keys.includes(b.key));
    if (boxes.length) {
      this.viewer.reveal([Math.min(...boxes.map((b) => b.xyxy[0])), Math.min(...boxes.map((b) => b.xyxy[1])),
        Math.max(...boxes.map((b) => b.xyxy[2])), Math.max(...boxes.map((b) => b.xyxy[3]))]);
    }
    this.viewer.requestRender();
  }

  select(key) {
    this.viewer.selected = key;
    this.highlight(key ? [key] : [], null);
    if (key) {
      this.tab('boxes');
      for (const n of $$('#tab-boxes .item')) n.classList.toggle('hl', n.dataset.key === key);
    }
  }

  addBox(xyxy) {
    if (!this.editable) return;
    this.edits.added.push({ class_name: this.newClass, xyxy });
    this.changed();
    this.setDrawMode(false);
    this.select(`a${this.edits.added.length - 1}`);
  }

  deleteBox(key) {
    if (!this.editable || !key) return;
    const box = this.allBoxes.find((b) => b.key === key);
    if (!box) return;
    if (box.kind === 'added') this.edits.added.splice(box.index, 1);
    else if (!this.edits.removed.includes(box.index)) this.edits.removed.push(box.index);
    this.viewer.selected = null;
    this.changed();
  }

  restoreBox(index) {
    this.edits.removed = this.edits.removed.filter((i) => i !== index);
    this.changed();
  }

  relabel(key, className) {
    const box = this.allBoxes.find((b) => b.key === key);
    if (!box) return;
    if (box.kind === 'added') this.edits.added[box.index].class_name = className;
    else if (className === box.original) delete this.edits.relabelled[box.index];
    else this.edits.relabelled[box.index] = className;
    this.changed();
  }

  changed() {
    this.saveDraft();
    this.refreshBoxes();
    this.renderBoxesTab();
  }

  corrections() {
    const e = this.edits;
    const relabelled = Object.entries(e.relabelled).map(([i, c]) => ({ index: Number(i), class_name: c }));
    if (!e.added.length && !e.removed.length && !relabelled.length) return null;
    return { added: e.added, removed: [...e.removed].sort((a, b) => a - b), relabelled };
  }

  // --- toolbar and keys ------------------------------------------------------------------------

  bindToolbar() {
    const tools = () => ({
      brightness: Number($('#t-bright').value), contrast: Number($('#t-contrast').value),
      gamma: Number($('#t-gamma').value), invert: $('#t-invert').checked, edges: $('#t-edges').checked,
      material: $('#t-material').value,
    });
    for (const id of ['#t-bright', '#t-contrast', '#t-gamma', '#t-invert', '#t-edges', '#t-material']) {
      $(id).addEventListener('input', () => this.viewer.setTools(tools()));
    }
    this.readTools = tools;
    $('#t-boxes').addEventListener('change', () => { this.viewer.showBoxes = $('#t-boxes').checked; this.viewer.requestRender(); });
    $('#t-thr').addEventListener('input', () => {
      this.viewer.threshold = Number($('#t-thr').value);
      $('#t-thr-v').textContent = this.viewer.threshold.toFixed(2);
      this.viewer.requestRender();
    });
    $('#t-reset').addEventListener('click', () => this.resetTools());
    $('#t-fit').addEventListener('click', () => this.viewer.fit());
    $('#t-draw').addEventListener('click', () => this.setDrawMode(!this.viewer.drawMode));
    $('#t-full').addEventListener('click', () => this.fullscreen());
  }

  resetTools() {
    $('#t-bright').value = 0; $('#t-contrast').value = 1; $('#t-gamma').value = 1;
    $('#t-invert').checked = false; $('#t-edges').checked = false; $('#t-material').value = 'all';
    this.viewer.setTools({ ...DEFAULT_TOOLS });
  }

  toggle(id) {
    $(id).checked = !$(id).checked;
    $(id).dispatchEvent(new Event(id === '#t-boxes' ? 'change' : 'input'));
  }

  setMaterial(value) {
    $('#t-material').value = value;
    this.viewer.setTools(this.readTools());
  }

  setDrawMode(on) {
    if (on && !this.editable) return;
    this.viewer.drawMode = on;
    $('#t-draw').classList.toggle('on', on);
    $('#canvas').classList.toggle('drawing', on);
  }

  fullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else $('#stage').requestFullscreen?.().catch(() => {});
  }

  onKey(e) {
    const v = this.viewer;
    const step = 60 * (window.devicePixelRatio || 1);
    const outcome = OUTCOMES.find((o) => o[2] === e.key);
    if (e.key === 'Escape') {
      if (this.armed) this.arm(null);
      else if (v.drawMode) this.setDrawMode(false);
      else if (v.selected || v.highlight.size) this.select(null);
      else this.back();
    } else if (e.key === 'Enter' && this.armed) this.decide(this.armed);
    else if (outcome && this.editable) this.arm(outcome[0]);
    else if (e.key === 'ArrowLeft') v.panBy(step, 0);
    else if (e.key === 'ArrowRight') v.panBy(-step, 0);
    else if (e.key === 'ArrowUp') v.panBy(0, step);
    else if (e.key === 'ArrowDown') v.panBy(0, -step);
    else if (e.key === '+' || e.key === '=') v.zoomAt(1.25);
    else if (e.key === '-') v.zoomAt(0.8);
    else if (e.key === '0') v.fit();
    else if (e.key === 'b') this.toggle('#t-boxes');
    else if (e.key === 'i') this.toggle('#t-invert');
    else if (e.key === 'e') this.toggle('#t-edges');
    else if (e.key === 'o') this.setMaterial('organic');
    else if (e.key === 'n') this.setMaterial('inorganic');
    else if (e.key === 'm') this.setMaterial('metal');
    else if (e.key === 'a') this.setMaterial('all');
    else if (e.key === 't') this.resetTools();
    else if (e.key === 'f') this.fullscreen();
    else if (e.key === 'd') this.setDrawMode(!v.drawMode);
    else if ((e.key === 'Delete' || e.key === 'Backspace') && v.selected) this.deleteBox(v.selected);
    else return;
    e.preventDefault();
  }

  tab(name) {
    for (const t of $$('.tab')) t.classList.toggle('active', t.dataset.tab === name);
    for (const p of ['compare', 'boxes', 'audit']) $(`#tab-${p}`).hidden = p !== name;
  }

  // --- panels ----------------------------------------------------------------------------------

  renderHeader() {
    const c = this.case;
    $('#case-title').textContent = `${c.station_id} · ${c.station_scan_id}`;
    $('#case-meta').textContent = [
      `${c.state}`, `risk ${c.risk_score?.toFixed(1) ?? '–'}`, `model ${(c.model_sha256 ?? '').slice(0, 12)}`,
      `policy ${c.policy_version ?? '–'}`, `received ${fmtTime(c.created_at)}`,
    ].join(' · ');
  }

  renderCompare() {
    const pane = clear($('#tab-compare'));
    const c = this.case;
    const items = c.declaration?.items ?? [];
    const lines = c.comparison?.lines ?? [];
    const declaredClasses = new Set(lines.flatMap((l) => l.explains ?? []));
    const item = (keys, ...children) => {
      const node = el('div', { class: 'item' }, ...children);
      node.addEventListener('click', () => this.highlight(keys, node));
      return node;
    };
    pane.append(el('h3', { text: `Reasons (${c.reasons.length})` }));
    for (const r of c.reasons) {
      pane.append(item(this.keysForClasses([r.subject]), el('span', { class: `badge ${r.severity}`, text: r.severity }),
        el('span', { class: 'reason-text', text: r.text })));
    }
    pane.append(el('h3', { text: `Declared (${items.length} lines)` }));
    lines.forEach((l, i) => {
      const d = items[l.index ?? i] ?? {};
      pane.append(item(this.keysForClasses(l.explains ?? []),
        el('div', { class: 'desc line-desc', text: d.description ?? l.description ?? '' }),
        el('div', { class: 'kv' },
          `${d.quantity ?? '?'} × · ${d.net_weight_kg ?? '?'} kg · ${d.value ?? '?'} ${d.currency ?? c.declaration.currency ?? ''}`
          + ` · HS ${d.hs_code ?? '–'} · reads as ${(l.categories ?? []).join(', ') || '?'} `,
          el('span', { class: `badge ${l.status}`, text: l.status.replaceAll('_', ' ') }))));
    });
    pane.append(el('h3', { text: `Detected (${this.detections.length})` }));
    this.detections.forEach((d, i) => {
      const declared = declaredClasses.has(d.class_name);
      pane.append(item([`d${i}`], el('span', { class: 'desc', text: d.class_name }), ` ${d.score.toFixed(2)} `,
        el('span', { class: `badge ${declared ? 'declared' : 'undeclared'}`, text: declared ? 'declared' : 'undeclared' })));
    });
    const notSeen = lines.filter((l) => l.status === 'not_seen');
    pane.append(el('h3', { text: `Declared but not seen (${notSeen.length})` }));
    for (const l of notSeen) pane.append(el('div', { class: 'item desc', text: items[l.index]?.description ?? '' }));
    const m = c.comparison?.material;
    if (m) {
      pane.append(el('h3', { text: 'Material' }), el('div', { class: 'kv',
        text: `organic ${(m.organic * 100).toFixed(0)} % · inorganic ${(m.inorganic * 100).toFixed(0)} % · metal ${(m.metal * 100).toFixed(0)} %`
          + ` · from ${m.source}${m.estimated_mass_kg != null ? ` · about ${m.estimated_mass_kg} kg` : ''}` }));
    }
  }

  renderBoxesTab() {
    const pane = clear($('#tab-boxes'));
    if (this.editable) {
      const sel = el('select', { id: 'new-class', onchange: (e) => { this.newClass = e.target.value; } },
        CLASS_NAMES.map((n) => el('option', { value: n, text: n, selected: n === this.newClass })));
      pane.append(el('p', { class: 'kv' }, 'Draw a box (d, then drag) of class ', sel,
        '. Click a box to select it; Delete removes it.'));
    } else {
      pane.append(el('p', { class: 'kv', text: 'This case is closed: the corrections recorded are shown.' }));
    }
    for (const b of this.allBoxes) {
      const node = el('div', { class: `item${b.removed ? ' removed' : ''}`, dataset: { key: b.key } });
      node.append(el('span', { class: 'desc', text: b.kind === 'added' ? 'officer box' : `detection ${b.index}` }), ' ');
      if (this.editable && !b.removed) {
        node.append(el('select', { class: 'relabel', 'aria-label': 'class', onchange: (e) => this.relabel(b.key, e.target.value),
          onclick: (e) => e.stopPropagation() },
        CLASS_NAMES.map((n) => el('option', { value: n, text: n, selected: n === b.label }))));
      } else {
        node.append(el('span', { text: b.label }));
      }
      if (b.kind === 'detection') node.append(` ${b.score.toFixed(2)}`);
      if (b.kind === 'detection' && b.label !== b.original) node.append(el('span', { class: 'kv', text: ` (was ${b.original})` }));
      if (this.editable) {
        node.append(' ', b.removed
          ? el('button', { class: 'small restore', text: 'Restore', onclick: (e) => { e.stopPropagation(); this.restoreBox(b.index); } })
          : el('button', { class: 'small delete', text: 'Delete', onclick: (e) => { e.stopPropagation(); this.deleteBox(b.key); } }));
      }
      node.addEventListener('click', () => { if (!b.removed) { this.viewer.selected = b.key; this.highlight([b.key], node); } });
      pane.append(node);
    }
  }

  renderDecision() {
    const pane = clear($('#decision'));
    const c = this.case;
    if (this.conflict) pane.append(el('div', { class: 'conflict', id: 'conflict', text: this.conflict }));
    if (!this.editable) {
      pane.append(el('div', { class: 'closed-note', id: 'closed-note' },
        c.state === 'closed'
          ? `Closed: ${c.final_outcome} by ${c.officer} at ${fmtTime(c.decided_at)}${c.officer_note ? ` — note: ${c.officer_note}` : ''}`
          : `This case is ${c.state}; there is nothing to decide.`));
      if (this.conflict && this.lostNote) pane.append(el('p', { class: 'kv' }, 'Your note (not recorded): ', el('span', { text: this.lostNote })));
      return;
    }
    const note = el('textarea', { id: 'note', placeholder: 'Note (optional): what you saw, what you did', maxlength: 2000 });
    note.value = this.loadDraft()?.note ?? '';
    note.addEventListener('input', () => this.saveDraft());
    note.addEventListener('keydown', (e) => { if (e.key === 'Escape') { note.blur(); e.stopPropagation(); } });
    const btns = el('div', { class: 'btns' }, OUTCOMES.map(([value, label, key]) => el('button', {
      class: `decide${this.armed === value ? ' armed' : ''}`, dataset: { outcome: value }, title: `key ${key}`,
      onclick: () => this.arm(value),
    }, `${label} `, el('kbd', { text: key }))));
    pane.append(note, btns);
    if (this.armed) {
      const label = OUTCOMES.find((o) => o[0] === this.armed)[1];
      pane.append(el('div', { class: 'confirm' },
        el('button', { class: 'primary', id: 'confirm', onclick: () => this.decide(this.armed) }, `Confirm: ${label} `, el('kbd', { text: 'Enter' })),
        el('button', { class: 'small', onclick: () => this.arm(null) }, 'Cancel ', el('kbd', { text: 'Esc' })),
        this.corrections() ? el('span', { class: 'kv', text: 'box corrections are saved with it' }) : null));
    }
    pane.append(el('p', { class: 'error', id: 'decision-error' }));
  }

  arm(outcome) {
    this.armed = outcome;
    const focused = document.activeElement?.id === 'note';
    this.renderDecision();
    if (focused) $('#note').focus();
  }

  async decide(outcome) {
    if (this.deciding || !outcome) return; // Enter on the confirm button must not send twice
    const note = $('#note')?.value.trim() ?? '';
    const body = { outcome, note: note || null, boxes: this.corrections() };
    this.deciding = true;
    try {
      this.case = await api.decide(this.id, body);
      this.dropDraft();
      this.armed = null;
      this.conflict = null;
      this.setDrawMode(false);
    } catch (err) {
      if (err instanceof SessionExpired) return; // the draft is saved; signing in again brings it back
      if (err instanceof ApiError && err.status === 409) {
        this.lostNote = note;
        try { this.case = await api.case(this.id); } catch { /* keep the old view */ }
        const c = this.case;
        this.conflict = c.state === 'closed'
          ? `Not recorded: this case was decided meanwhile by ${c.officer} (${c.final_outcome}, ${fmtTime(c.decided_at)}).`
          : `Not recorded: ${err.message}`;
        this.armed = null;
      } else {
        $('#decision-error').textContent = `Not recorded: ${err.message}`;
        return;
      }
    } finally {
      this.deciding = false;
    }
    this.refreshBoxes();
    this.renderHeader();
    this.renderBoxesTab();
    this.renderDecision();
    this.loadAudit();
  }

  async loadAudit() {
    const pane = $('#tab-audit');
    const id = this.id;
    try {
      const page = await api.audit(id);
      if (id !== this.id) return;
      clear(pane);
      const table = el('table', { class: 'audit', id: 'audit-table' });
      for (const r of page.records) {
        table.append(el('tr', { dataset: { action: r.action } }, el('td', { text: fmtTime(r.at) }), el('td', { text: r.actor }),
          el('td', { text: r.action }), el('td', { text: summarise(r) })));
      }
      pane.append(table, el('p', { class: 'kv', text: `${page.records.length} records, hash-chained (last ${page.records.at(-1)?.hash.slice(0, 12) ?? '–'})` }));
    } catch (err) {
      if (err instanceof SessionExpired) return;
      clear(pane).append(el('p', { class: 'error', text: `audit unavailable: ${err.message}` }));
    }
  }
}

function summarise(r) {
  const p = r.payload ?? {};
  if (r.action === 'case.analysed') {
    return `${p.decision} · risk ${p.risk_score} · ${(p.reasons ?? []).join(', ')} · model ${String(p.model_sha256 ?? '').slice(0, 12)}`
      + ` · card ${String(p.model_card_sha256 ?? '').slice(0, 12)}`
      + ` · policy ${p.policy_version} · taxonomy ${p.taxonomy_version}`;
  }
  if (r.action === 'case.decided') {
    const a = p.annotations;
    const boxes = a ? ` · boxes: +${a.added?.length ?? 0} −${a.removed?.length ?? 0} relabelled ${a.relabelled?.length ?? 0}` : '';
    return `${p.final_outcome} (automatic ${p.automatic_decision})${boxes}${p.note ? ` · note: ${p.note}` : ''}`;
  }
  if (r.action === 'scan.received') return `scan ${String(p.scan_sha256 ?? '').slice(0, 12)} · declaration ${String(p.declaration_sha256 ?? '').slice(0, 12)}`;
  return JSON.stringify(p);
}
