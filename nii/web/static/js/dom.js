// DOM helpers. Text always goes in through textContent, never innerHTML: declaration text, reasons,
// notes and audit payloads come from stations and officers and must show as text.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = String(v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'style') Object.assign(node.style, v); // CSSOM: allowed under the CSP, attributes are not
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function fmtAge(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(s / 3600);
  return h < 48 ? `${h} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min` : `${Math.floor(h / 24)} d`;
}

export function fmtTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

const SLIDER_KEYS = new Set(['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Home', 'End', 'PageUp', 'PageDown']);

// The editable target under the keyboard focus: shortcuts are off while typing, and a focused
// slider keeps the keys that move it.
export function typing(event) {
  const t = event.target;
  if (!(t instanceof HTMLElement)) return false;
  if (t.tagName === 'INPUT' && t.type === 'range') return SLIDER_KEYS.has(event.key);
  return t.isContentEditable || (['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName)
    && !(t.tagName === 'INPUT' && ['checkbox', 'button'].includes(t.type)));
}
