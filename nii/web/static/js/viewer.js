// The scan canvas: pan and zoom (wheel, drag, keys), boxes with class and score, highlight,
// selection and drawing. The processed image is cached; a pan only redraws it with a transform.
import { DEFAULT_TOOLS, applyTools, isDefault } from './imagetools.js';

const PROHIBITED = new Set(['gun', 'bullet', 'knife']);
const MIN_SCALE = 0.02;
const MAX_SCALE = 32;

export class Viewer {
  constructor(canvas, { onSelect, onDraw, onFirstRender }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.onSelect = onSelect;
    this.onDraw = onDraw;
    this.onFirstRender = onFirstRender;
    this.image = null; // ImageBitmap of the scan
    this.display = null; // what is drawn: the bitmap or the processed canvas
    this.srcData = null; // ImageData of the scan, read once when a tool is first used
    this.materials = null; // Uint8Array [H * W] material codes from the dual-energy channels, if any
    this.tools = { ...DEFAULT_TOOLS };
    this.boxes = []; // {key, xyxy, label, kind, score}
    this.showBoxes = true;
    this.threshold = 0;
    this.highlight = new Set();
    this.selected = null;
    this.drawMode = false;
    this.scale = 1; this.tx = 0; this.ty = 0;
    this.frames = 0;
    this.pending = false;
    this.rubber = null;
    this.processTimer = null;
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(canvas);
    this.bindPointer();
  }

  setImage(bitmap) {
    this.image = bitmap;
    this.display = bitmap;
    this.srcData = null;
    this.materials = null;
    this.firstDone = false;
    this.resize();
    this.fit();
    if (!isDefault(this.tools)) this.setTools(this.tools, true);
  }

  clearImage() {
    this.image?.close?.();
    this.image = this.display = this.srcData = this.materials = null;
    this.boxes = [];
    this.selected = null;
    this.highlight = new Set();
    this.requestRender();
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const r = this.canvas.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width * dpr));
    const h = Math.max(1, Math.round(r.height * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.requestRender();
  }

  fit() {
    if (!this.image) return;
    const s = Math.min(this.canvas.width / this.image.width, this.canvas.height / this.image.height);
    this.scale = s;
    this.tx = (this.canvas.width - this.image.width * s) / 2;
    this.ty = (this.canvas.height - this.image.height * s) / 2;
    this.requestRender();
  }

  zoomAt(factor, cx = this.canvas.width / 2, cy = this.canvas.height / 2) {
    const s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    const f = s / this.scale;
    this.tx = cx - (cx - this.tx) * f;
    this.ty = cy - (cy - this.ty) * f;
    this.scale = s;
    this.requestRender();
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
    this.requestRender();
  }

  // Centre the view on image rectangle [x1, y1, x2, y2] unless it is fully visible.
  reveal([x1, y1, x2, y2]) {
    const [sx1, sy1] = this.toScreen(x1, y1);
    const [sx2, sy2] = this.toScreen(x2, y2);
    if (sx1 >= 0 && sy1 >= 0 && sx2 <= this.canvas.width && sy2 <= this.canvas.height) return;
    this.tx = this.canvas.width / 2 - ((x1 + x2) / 2) * this.scale;
    this.ty = this.canvas.height / 2 - ((y1 + y2) / 2) * this.scale;
    this.requestRender();
  }

  // Material codes of the current image; stripping uses them from now on instead of the hue.
  setMaterials(codes) {
    if (!this.image || codes.length !== this.image.width * this.image.height) return false;
    this.materials = codes;
    if (this.tools.material !== 'all') this.setTools(this.tools, true);
    return true;
  }

  toScreen(x, y) { return [x * this.scale + this.tx, y * this.scale + this.ty]; }
  toImage(sx, sy) { return [(sx - this.tx) / this.scale, (sy - this.ty) / this.scale]; }

  setTools(tools, immediate = false) {
    this.tools = { ...tools };
    clearTimeout(this.processTimer);
    if (!this.image) return;
    if (isDefault(this.tools)) {
      this.display = this.image;
      this.canvas.dataset.tools = JSON.stringify(this.tools);
      this.requestRender();
      return;
    }
    const run = () => {
      const t0 = performance.now();
      if (!this.srcData) {
        const c = document.createElement('canvas');
        c.width = this.image.width; c.height = this.image.height;
        const cx = c.getContext('2d', { willReadFrequently: true });
        cx.drawImage(this.image, 0, 0);
        this.srcData = cx.getImageData(0, 0, c.width, c.height);
      }
      const out = document.createElement('canvas');
      out.width = this.image.width; out.height = this.image.height;
      out.getContext('2d').putImageData(applyTools(this.srcData, this.tools, this.materials), 0, 0);
      this.display = out;
      this.lastProcessMs = performance.now() - t0;
      this.canvas.dataset.tools = JSON.stringify(this.tools);
      this.requestRender();
    };
    if (immediate) run(); else this.processTimer = setTimeout(run, 40);
  }

  visibleBoxes() {
    if (!this.showBoxes) return [];
    return this.boxes.filter((b) => b.kind === 'added' || b.score >= this.threshold);
  }

  requestRender() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  render() {
    const { ctx, canvas } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!this.display) return;
    ctx.imageSmoothingEnabled = this.scale < 2;
    ctx.setTransform(this.scale, 0, 0, this.scale, this.tx, this.ty);
    ctx.drawImage(this.display, 0, 0);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    const dpr = window.devicePixelRatio || 1;
    const dim = this.highlight.size > 0;
    ctx.font = `${Math.round(12 * dpr)}px system-ui, sans-serif`;
    ctx.textBaseline = 'bottom';
    for (const b of this.visibleBoxes()) {
      const [x1, y1] = this.toScreen(b.xyxy[0], b.xyxy[1]);
      const [x2, y2] = this.toScreen(b.xyxy[2], b.xyxy[3]);
      const hl = this.highlight.has(b.key);
      let colour = b.kind === 'added' ? '#37d67a' : PROHIBITED.has(b.label) ? '#ff4d4d' : '#ffa726';
      if (hl) colour = '#ffe14d';
      ctx.globalAlpha = dim && !hl ? 0.35 : 1;
      ctx.strokeStyle = colour;
      ctx.lineWidth = (hl ? 3 : 2) * dpr;
      ctx.setLineDash(b.key === this.selected ? [6 * dpr, 4 * dpr] : []);
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      const text = b.kind === 'added' ? `${b.label} (officer)` : `${b.label} ${b.score.toFixed(2)}`;
      const tw = ctx.measureText(text).width + 6 * dpr;
      const th = 16 * dpr;
      const ty = y1 - th < 0 ? y1 + th : y1;
      ctx.fillStyle = colour;
      ctx.fillRect(x1 - ctx.lineWidth / 2, ty - th, tw, th);
      ctx.fillStyle = '#000';
      ctx.fillText(text, x1 + 3 * dpr - ctx.lineWidth / 2, ty - 2 * dpr);
    }
    ctx.globalAlpha = 1;
    ctx.setLineDash([]);
    if (this.rubber) {
      const [a, b] = [this.toScreen(...this.rubber[0]), this.toScreen(...this.rubber[1])];
      ctx.strokeStyle = '#37d67a';
      ctx.lineWidth = 2 * dpr;
      ctx.setLineDash([4 * dpr, 3 * dpr]);
      ctx.strokeRect(a[0], a[1], b[0] - a[0], b[1] - a[1]);
      ctx.setLineDash([]);
    }
    this.frames++;
    if (!this.firstDone) {
      this.firstDone = true;
      this.onFirstRender?.();
    }
  }

  hit(ix, iy) {
    const tol = 4 / this.scale;
    const inside = this.visibleBoxes().filter((b) => ix >= b.xyxy[0] - tol && ix <= b.xyxy[2] + tol
      && iy >= b.xyxy[1] - tol && iy <= b.xyxy[3] + tol);
    inside.sort((a, b) => (a.xyxy[2] - a.xyxy[0]) * (a.xyxy[3] - a.xyxy[1]) - (b.xyxy[2] - b.xyxy[0]) * (b.xyxy[3] - b.xyxy[1]));
    return inside[0]?.key ?? null; // the smallest box under the pointer
  }

  bindPointer() {
    const c = this.canvas;
    const dpr = () => window.devicePixelRatio || 1;
    const local = (e) => { const r = c.getBoundingClientRect(); return [(e.clientX - r.left) * dpr(), (e.clientY - r.top) * dpr()]; };
    let drag = null;
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 || !this.image) return;
      c.focus();
      c.setPointerCapture(e.pointerId);
      const [sx, sy] = local(e);
      drag = { sx, sy, lastX: sx, lastY: sy, moved: false };
      if (this.drawMode) this.rubber = [this.toImage(sx, sy), this.toImage(sx, sy)];
    });
    c.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const [sx, sy] = local(e);
      if (Math.abs(sx - drag.sx) + Math.abs(sy - drag.sy) > 3 * dpr()) drag.moved = true;
      if (this.drawMode) this.rubber[1] = this.toImage(sx, sy);
      else this.panBy(sx - drag.lastX, sy - drag.lastY);
      drag.lastX = sx; drag.lastY = sy;
      this.requestRender();
    });
    const end = (e) => {
      if (!drag) return;
      const [sx, sy] = local(e);
      if (this.drawMode && this.rubber) {
        const [[ax, ay], [bx, by]] = this.rubber;
        this.rubber = null;
        const W = this.image.width; const H = this.image.height;
        const box = [Math.max(0, Math.min(ax, bx)), Math.max(0, Math.min(ay, by)),
          Math.min(W, Math.max(ax, bx)), Math.min(H, Math.max(ay, by))].map((v) => Math.round(v * 10) / 10);
        if (drag.moved && box[2] - box[0] >= 2 && box[3] - box[1] >= 2) this.onDraw?.(box);
      } else if (!drag.moved) {
        const [ix, iy] = this.toImage(sx, sy);
        this.onSelect?.(this.hit(ix, iy));
      }
      drag = null;
      this.requestRender();
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', () => { drag = null; this.rubber = null; this.requestRender(); });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const [sx, sy] = local(e);
      this.zoomAt(1.15 ** (-e.deltaY / 100), sx, sy);
    }, { passive: false });
  }
}
