// Exact formatting of on-chain integers (bigint). Money never passes through a float here:
// amounts are formatted with viem's formatUnits and parsed with parseAmount (which refuses,
// never rounds, a value more precise than the token). Floats appear only as chart coordinates.
import { formatUnits, maxUint256 } from 'viem'

/** Group the integer part of a decimal string with thin commas: "1234567.5" -> "1,234,567.5". */
export function group(text) {
  const neg = text.startsWith('-')
  const [int, frac] = (neg ? text.slice(1) : text).split('.')
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return (neg ? '-' : '') + grouped + (frac !== undefined ? '.' + frac : '')
}

/** An exact amount: `value` (bigint, token units) with `decimals`, grouped. */
export function fmt(value, decimals) {
  return group(formatUnits(value, decimals))
}

/**
 * An amount cut (toward zero) to at most `places` decimals, marked "~" when something was cut.
 * For dense tables only; the action previews always print exact amounts with `fmt`.
 */
export function fmtShort(value, decimals, places = 2) {
  const exact = formatUnits(value, decimals)
  const [int, frac = ''] = exact.split('.')
  if (frac.length <= places) return group(exact)
  const kept = frac.slice(0, places).replace(/0+$/, '')
  if (!kept && /^-?0$/.test(int)) return '~0'
  return '~' + group(kept ? `${int}.${kept}` : int)
}

/** A Chainlink-style 1e8 price as dollars: 300012345678n -> "$3,000.12345678". */
export function usd8(value) {
  return '$' + fmt(value, 8)
}

/** A 1e18 fixed-point quantity (contracts, deltas) exactly. */
export function wad(value) {
  return fmt(value, 18)
}

/** A 1e18 quantity as a float, for chart coordinates only. */
export function wadToNumber(value) {
  return Number(value) / 1e18
}

/** Token units as a float, for chart coordinates only. */
export function unitsToNumber(value, decimals) {
  return Number(formatUnits(value, decimals))
}

/** A unix timestamp (seconds, number or bigint) as "2026-12-01 15:04 UTC". */
export function utc(ts) {
  const d = new Date(Number(ts) * 1000)
  return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
}

/** "0x1234…abcd". */
export function short(address) {
  return address ? `${address.slice(0, 6)}…${address.slice(-4)}` : ''
}

/**
 * An RPC URL as the page shows it: its scheme, host and port, "/…" for the rest. A hosted node's
 * URL carries its API key in the path, the query or a user:password@: never on screen (a
 * screenshot or a shared screen would show it).
 */
export function showUrl(url) {
  try {
    const u = new URL(url)
    const rest = (u.pathname !== '/' && u.pathname !== '') || u.search || u.username || u.password
    return `${u.protocol}//${u.host}${rest ? '/…' : ''}`
  } catch {
    return 'the configured RPC URL'
  }
}

/** HTML-escape a string for interpolation into markup. */
export function esc(text) {
  return String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

/**
 * Parse a human amount ("1500.25") into token units, exactly.
 * Returns { value } or { error } (empty, not a number, zero, a non-zero digit past the token's
 * decimals, above 2**256 - 1 token units, an ambiguous comma). "0,5" is a decimal comma in much of the world and "1,500" is 1.5 there:
 * reading either comma as a thousands separator would send 10 or 1000 times the amount meant.
 * So a comma is taken only as this page writes amounts, groups of three before a '.'
 * ("2,500.123457"); any other comma is refused, never dropped.
 */
export function parseAmount(text, decimals) {
  let t = String(text).trim().replaceAll('_', '')
  if (t === '') return { error: 'Enter an amount.' }
  if (t.includes(',')) {
    if (!/^\d{1,3}(,\d{3})+\.\d+$/.test(t)) {
      return {
        error: `"${text}": write it without commas, with '.' for decimals (1500.25), or grouped as 1,500.25.`,
      }
    }
    t = t.replaceAll(',', '')
  }
  if (!/^\d+(\.\d*)?$|^\.\d+$/.test(t)) return { error: `"${text}" is not a number.` }
  const [int, digits = ''] = t.split('.')
  let frac = digits
  if (frac.length > decimals) {
    // Zeros past the token's precision change nothing ("1.0000000" USDC is 1 USDC), as for
    // `keeper vault` (keeper/commands/vault.py, parse_amount: the units must be whole); any
    // other digit there would be rounded away, so it is refused.
    if (/[^0]/.test(frac.slice(decimals))) return { error: `At most ${decimals} decimals (the token's precision).` }
    frac = frac.slice(0, decimals)
  }
  const value = BigInt((int || '0') + frac.padEnd(decimals, '0'))
  if (value === 0n) return { error: 'The amount must be more than zero.' }
  if (value > maxUint256) return { error: `"${text}" is too large: no token can hold that many units (2^256 − 1).` }
  return { value }
}
