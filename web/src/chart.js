// Small SVG charts, no library: a time axis, one or more line series, an optional shaded band.
// Coordinates are floats (pixels); the labels are formatted by the caller from exact values.
import { esc } from './format.js'

const W = 560
const H = 200
const PAD = { l: 72, r: 12, t: 12, b: 28 }

function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1
  return (v) => r0 + ((v - d0) / span) * (r1 - r0)
}

function ticks(lo, hi, n = 4) {
  if (hi === lo) return [lo]
  return Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n)
}

const hhmm = (t) => new Date(t * 1000).toISOString().slice(5, 16).replace('T', ' ')

/**
 * @param {object} o
 * @param {Array<{label: string, color: string, points: Array<[number, number]>, step?: boolean,
 *   dots?: boolean, pairs?: boolean}>} o.series  points are [unix time, value]; `pairs`
 *   draws each two points as one separate segment
 * @param {Array<[number, number, number]>} [o.band]  [time, low, high], drawn as a shaded area
 * @param {((v: number) => string) | null} o.yLabel  null: decimals from the tick spacing
 * @param {string} o.testid
 * @param {string} o.title
 */
export function lineChart({ series, band = [], yLabel, testid, title }) {
  const pts = series.flatMap((s) => s.points)
  if (pts.length === 0) {
    return `<div class="chart empty" data-testid="${testid}"><div class="chart-title">${esc(title)}</div><p class="muted">No history in range.</p></div>`
  }
  const xs = [...pts.map((p) => p[0]), ...band.map((b) => b[0])]
  const ys = [...pts.map((p) => p[1]), ...band.flatMap((b) => [b[1], b[2]])]
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)]
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)]
  if (x0 === x1) [x0, x1] = [x0 - 60, x1 + 60]
  const pad = (y1 - y0) * 0.08 || Math.abs(y1) * 0.01 || 1
  ;[y0, y1] = [y0 - pad, y1 + pad]
  const sx = scale(x0, x1, PAD.l, W - PAD.r)
  const sy = scale(y0, y1, H - PAD.b, PAD.t)
  const parts = []
  // Default labels: as many decimals as the tick spacing needs (at least 2).
  const step = (y1 - y0) / 4
  const places = Math.min(10, Math.max(2, Math.ceil(-Math.log10(step || 1)) + 1))
  const label = yLabel ?? ((v) => v.toFixed(places))
  for (const t of ticks(y0, y1)) {
    const y = sy(t).toFixed(1)
    parts.push(`<line class="grid" x1="${PAD.l}" x2="${W - PAD.r}" y1="${y}" y2="${y}"/>`)
    parts.push(`<text class="tick" x="${PAD.l - 6}" y="${y}" text-anchor="end" dy="3">${esc(label(t))}</text>`)
  }
  ticks(x0, x1, 3).forEach((t, i, all) => {
    const anchor = i === 0 ? 'start' : i === all.length - 1 ? 'end' : 'middle'
    parts.push(`<text class="tick" x="${sx(t).toFixed(1)}" y="${H - 8}" text-anchor="${anchor}">${hhmm(t)}</text>`)
  })
  if (band.length) {
    const top = band.map((b) => `${sx(b[0]).toFixed(1)},${sy(b[2]).toFixed(1)}`)
    const bottom = band.map((b) => `${sx(b[0]).toFixed(1)},${sy(b[1]).toFixed(1)}`).reverse()
    parts.push(`<polygon class="band" points="${[...top, ...bottom].join(' ')}"/>`)
  }
  for (const s of series) {
    if (!s.points.length) continue
    let d = ''
    s.points.forEach(([x, y], i) => {
      const X = sx(x).toFixed(1)
      const Y = sy(y).toFixed(1)
      if (i === 0 || (s.pairs && i % 2 === 0)) d += `M${X},${Y}`
      else if (s.step) d += `H${X}V${Y}`
      else d += `L${X},${Y}`
    })
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`)
    if (s.dots) {
      for (const [x, y] of s.points) {
        parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.6" fill="${s.color}"/>`)
      }
    }
  }
  const legend = series
    .map((s) => `<span class="key"><i style="background:${s.color}"></i>${esc(s.label)}</span>`)
    .join('')
  const bandKey = band.length ? '<span class="key"><i class="band-key"></i>band (target ± band)</span>' : ''
  return `<div class="chart" data-testid="${testid}"><div class="chart-title">${esc(title)}</div>
<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg>
<div class="legend">${legend}${bandKey}</div></div>`
}
