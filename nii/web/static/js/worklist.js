// The worklist: referred and held cases, highest risk then oldest; filters; keyboard; refresh.
import { $, clear, el, fmtAge } from './dom.js';
import { ApiError, SessionExpired, api } from './api.js';
import { CLASS_NAMES } from './classes.js';

const REFRESH_MS = 5000;

export class Worklist {
  constructor({ open }) {
    this.openCase = open;
    this.items = [];
    this.selected = null; // case id
    this.seen = new Set();
    this.timer = null;
    this.tick = null;
    this.fetchedAt = 0;
    const cls = $('#f-class');
    for (const name of CLASS_NAMES) cls.append(el('option', { value: name, text: name }));
    let debounce = null;
    $('#f-station').addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(() => this.load(), 300); });
    $('#f-class').addEventListener('change', () => this.load());
    $('#f-decision').addEventListener('change', () => this.load());
    $('#refresh').addEventListener('click', () => this.load());
  }

  start() {
    this.stop();
    this.load();
    this.timer = setInterval(() => this.load(), REFRESH_MS);
    this.tick = setInterval(() => this.updateAges(), 1000);
  }

  stop() {
    clearInterval(this.timer);
    clearInterval(this.tick);
    this.timer = this.tick = null;
  }

  async load() {
    const params = { limit: 200 };
    const station = $('#f-station').value.trim();
    if (station) params.station = station;
    if ($('#f-class').value) params.class = $('#f-class').value;
    if ($('#f-decision').value) params.decision = $('#f-decision').value;
    try {
      const page = await api.queue(params);
      this.fetchedAt = performance.now();
      const first = this.seen.size === 0;
      this.items = page.items;
      this.render(first);
      for (const it of page.items) this.seen.add(it.id);
      $('#wl-status').textContent = `${page.total} waiting · updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (err instanceof SessionExpired) return;
      $('#wl-status').textContent = err instanceof ApiError ? `refresh failed: ${err.message}` : String(err);
    }
  }

  render(first) {
    const body = clear($('#wl-body'));
    $('#wl-empty').hidden = this.items.length > 0;
    if (!this.items.some((it) => it.id === this.selected)) this.selected = this.items[0]?.id ?? null;
    for (const it of this.items) {
      const risk = it.risk_score ?? 0;
      const row = el('tr', {
        class: `row${it.id === this.selected ? ' sel' : ''}${!first && !this.seen.has(it.id) ? ' new' : ''}`,
        dataset: { id: it.id },
        onclick: () => { this.select(it.id); },
        ondblclick: () => this.openCase(it.id),
      },
      el('td', {}, el('span', { class: 'risk', text: risk.toFixed(1) }),
        el('span', { class: 'riskbar', style: { width: `${Math.min(60, risk * 6)}px` } })),
      el('td', {}, el('span', { class: `badge ${it.decision}`, text: it.decision ?? it.state })),
      el('td', { text: it.station_id }),
      el('td', { text: it.station_scan_id }),
      el('td', {}, it.detected.map((c) => el('span', { class: 'badge', text: c }))),
      el('td', {}, it.reasons.slice(0, 3).map((r) => el('span', { class: 'badge', text: r.replaceAll('_', ' ') }))),
      el('td', { class: 'age', dataset: { age: it.age_s } }, fmtAge(it.age_s)));
      body.append(row);
    }
  }

  updateAges() {
    const extra = (performance.now() - this.fetchedAt) / 1000;
    for (const td of document.querySelectorAll('#wl-body td.age')) td.textContent = fmtAge(Number(td.dataset.age) + extra);
  }

  select(id) {
    this.selected = id;
    for (const tr of document.querySelectorAll('#wl-body tr')) tr.classList.toggle('sel', tr.dataset.id === id);
    document.querySelector(`#wl-body tr.sel`)?.scrollIntoView({ block: 'nearest' });
  }

  onKey(event) {
    const ids = this.items.map((it) => it.id);
    const at = ids.indexOf(this.selected);
    if (event.key === 'ArrowDown' || event.key === 'j') this.select(ids[Math.min(ids.length - 1, at + 1)] ?? null);
    else if (event.key === 'ArrowUp' || event.key === 'k') this.select(ids[Math.max(0, at - 1)] ?? null);
    else if ((event.key === 'Enter' || event.key === 'o') && this.selected) this.openCase(this.selected);
    else if (event.key === 'r') this.load();
    else if (event.key === '/') $('#f-station').focus();
    else return;
    event.preventDefault();
  }
}
