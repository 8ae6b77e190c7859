// The worklist: referred and held cases, highest risk then oldest; filters; pages of the /v1/queue
// API; keyboard; refresh.
import { $, clear, el, fmtAge } from './dom.js';
import { ApiError, SessionExpired, api } from './api.js';
import { CLASS_NAMES } from './classes.js';

const REFRESH_MS = 5000;
const PAGE_SIZE = 50; // cases a page (the API allows up to 200)

export class Worklist {
  constructor({ open }) {
    this.openCase = open;
    this.items = [];
    this.selected = null; // case id
    this.seen = new Set();
    this.timer = null;
    this.tick = null;
    this.fetchedAt = 0;
    this.pageSize = PAGE_SIZE;
    this.offset = 0;
    this.total = 0;
    this.loadSeq = 0;
    const cls = $('#f-class');
    for (const name of CLASS_NAMES) cls.append(el('option', { value: name, text: name }));
    let debounce = null;
    const refilter = () => { this.offset = 0; this.load(); };
    $('#f-station').addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(refilter, 300); });
    $('#f-class').addEventListener('change', refilter);
    $('#f-decision').addEventListener('change', refilter);
    $('#refresh').addEventListener('click', () => this.load());
    $('#wl-prev').addEventListener('click', () => this.page(-1));
    $('#wl-next').addEventListener('click', () => this.page(1));
  }

  page(step) {
    const offset = this.offset + step * this.pageSize;
    if (offset < 0 || offset >= this.total) return;
    this.offset = offset;
    this.load();
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
    const seq = ++this.loadSeq; // a slow answer for an earlier page or filter is dropped
    const params = { limit: this.pageSize, offset: this.offset };
    const station = $('#f-station').value.trim();
    if (station) params.station = station;
    if ($('#f-class').value) params.class = $('#f-class').value;
    if ($('#f-decision').value) params.decision = $('#f-decision').value;
    try {
      const page = await api.queue(params);
      if (seq !== this.loadSeq) return;
      this.total = page.total;
      if (page.items.length === 0 && this.offset > 0) {
        // cases were decided meanwhile and this page ran empty: show the last page there is
        this.offset = Math.max(0, Math.floor((page.total - 1) / this.pageSize) * this.pageSize);
        this.load();
        return;
      }
      this.fetchedAt = performance.now();
      const first = this.seen.size === 0;
      this.items = page.items;
      this.render(first);
      for (const it of page.items) this.seen.add(it.id);
      this.renderPager();
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

  renderPager() {
    const from = this.items.length ? this.offset + 1 : 0;
    $('.pager').hidden = this.total <= this.pageSize && this.offset === 0; // one page: nothing to page
    $('#wl-range').textContent = `${from}–${this.offset + this.items.length} of ${this.total}`;
    $('#wl-prev').disabled = this.offset === 0;
    $('#wl-next').disabled = this.offset + this.pageSize >= this.total;
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
    else if (event.key === 'PageDown' || event.key === ']') this.page(1);
    else if (event.key === 'PageUp' || event.key === '[') this.page(-1);
    else if (event.key === 'r') this.load();
    else if (event.key === '/') $('#f-station').focus();
    else return;
    event.preventDefault();
  }
}
