// The page: vault list, one vault's state, history, book, rebalances and actions.
// Reads go through the public client (the configured RPC); the wallet only signs.
import './style.css'
import { actionsHtml, logLine, previewOf, runAction, setLine } from './actions.js'
import { readFailure } from './errors.js'
import { connectWallet, ensureChain, injected, knownAccount, loadConfig, makeChain, makePublicClient, makeWalletClient } from './chain.js'
import { lineChart } from './chart.js'
import { esc, fmt, fmtShort, short, showUrl, unitsToNumber, usd8, utc, wad, wadToNumber } from './format.js'
import { detectQueue, previewFill, previewQueue, queueShell, queueStateHtml, runQueue } from './queue.js'
import { listVaults, readHistory, readMeta, readRebalances, readSnapshot } from './vault.js'

const $ = (sel, root = document) => root.querySelector(sel)
const TRIGGERS = ['none', 'band', 'time']
const POLL_MS = 12_000

const state = {
  config: null,
  client: null,
  chain: null,
  wallet: null,
  account: null,
  vaults: [],
  metas: new Map(),
  selected: null,
  snapshot: null,
  lastBlock: null,
  busy: false,
}

function ctx() {
  const meta = state.metas.get(state.selected)
  return { ...state, meta, root: $('#main') }
}

// ------------------------------------------------------------------ boot

async function boot() {
  try {
    state.config = await loadConfig()
  } catch (err) {
    $('#main').innerHTML = `<p class="error">${esc(err.message)}</p>`
    return
  }
  state.chain = makeChain(state.config)
  state.client = makePublicClient(state.config, state.chain)
  state.wallet = makeWalletClient(state.chain)
  $('[data-testid="chain"]').textContent = `chain ${state.config.chainId} · ${showUrl(state.config.rpcUrl)}`
  setupWallet()
  try {
    state.vaults = await listVaults(state.client, state.config)
    const metas = await Promise.all(state.vaults.map((v) => readMeta(state.client, state.config, v)))
    metas.forEach((m) => state.metas.set(m.address, m))
  } catch (err) {
    $('#main').innerHTML = `<p class="error">Cannot read the vaults over ${esc(showUrl(state.config.rpcUrl))}: ${esc(err.shortMessage || err.message)}</p>`
    return
  }
  renderNav()
  window.addEventListener('hashchange', route)
  await route()
  setInterval(poll, POLL_MS)
}

function setupWallet() {
  const button = $('#connect')
  if (!state.wallet) {
    button.disabled = true
    button.textContent = 'No wallet found'
    button.title = 'Install an EIP-1193 wallet such as MetaMask to deposit or withdraw.'
    return
  }
  button.addEventListener('click', async () => {
    try {
      state.account = await connectWallet(state.wallet)
      if (state.account) clearAlert('wallet')
      chainAlert(await ensureChain(state.wallet, state.config.chainId))
    } catch (err) {
      alertBar(err.shortMessage || err.message, 'wallet')
    }
    showAccount()
    await refresh()
  })
  knownAccount(state.wallet)
    .then((a) => {
      if (a) {
        state.account = a
        clearAlert('wallet')
        showAccount()
        refresh()
        // A wallet that already exposes its account is checked for its chain now, as Connect does.
        return state.wallet.getChainId().then(chainAlert)
      }
    })
    .catch(() => {})
  const provider = injected()
  provider.on?.('chainChanged', (hex) => chainAlert(Number(hex)))
  provider.on?.('accountsChanged', (accounts) => {
    state.account = accounts?.[0] ?? null
    if (state.account) clearAlert('wallet')
    showAccount()
    refresh()
  })
}

function showAccount() {
  $('[data-testid="account"]').textContent = state.account ? short(state.account) : ''
  $('[data-testid="account"]').title = state.account ?? ''
  $('#connect').textContent = state.account ? 'Connected' : 'Connect wallet'
}

/**
 * The alerts at the top of the page, one bar per kind. The rule: an alert says what is wrong
 * now, so the next result of the same kind replaces it (a new error) or takes it down (a
 * success), and so does the end of the condition it reports:
 * - 'wallet': connecting to the wallet failed (refused, or the wallet erred); down as soon as
 *   the wallet gives the page an account (a later Connect or send, `accountsChanged`, or an
 *   account it already exposes at load);
 * - 'chain': the wallet is on another chain; down as soon as it reports the vaults' chain
 *   (`chainAlert`);
 * - 'no-wallet': the browser has no wallet; stays (one installed since needs a reload).
 * The transaction logs are not alerts: they keep every line, the history of what was sent or
 * refused, and a preview is replaced by the next one.
 */
function alertBar(text, kind) {
  let bar = $(`.alert[data-kind="${kind}"]`)
  if (!bar) {
    bar = document.createElement('div')
    bar.className = 'alert'
    bar.dataset.testid = 'alert'
    bar.dataset.kind = kind
    document.body.prepend(bar)
  }
  bar.textContent = text
}

function clearAlert(kind) {
  $(`.alert[data-kind="${kind}"]`)?.remove()
}

/** Show the wrong-chain alert while the wallet is on `chainId`, else take it down. */
function chainAlert(chainId) {
  if (chainId !== state.config.chainId) {
    alertBar(`Your wallet is on chain ${chainId}; these vaults are on chain ${state.config.chainId}. Switch networks to send.`, 'chain')
    return false
  }
  clearAlert('chain')
  return true
}

function renderNav() {
  $('[data-testid="vault-list"]').innerHTML = state.vaults
    .map((v) => {
      const m = state.metas.get(v)
      return `<a href="#/vault/${v}" data-vault="${v}" data-testid="vault-link"><b>${esc(m.name)}</b><small>${esc(m.symbol)} · ${short(v)}</small></a>`
    })
    .join('')
}

async function route() {
  const m = location.hash.match(/^#\/vault\/(0x[0-9a-fA-F]{40})/)
  const wanted = m ? state.vaults.find((v) => v.toLowerCase() === m[1].toLowerCase()) : state.vaults[0]
  if (!wanted) {
    // No vault is shown now: going back to the one shown before must render it again.
    state.selected = null
    state.snapshot = null
    document.querySelectorAll('[data-vault]').forEach((a) => a.classList.remove('active'))
    $('#main').innerHTML = '<p class="error">Unknown vault.</p>'
    return
  }
  document.querySelectorAll('[data-vault]').forEach((a) => a.classList.toggle('active', a.dataset.vault === wanted))
  if (wanted === state.selected) return
  state.selected = wanted
  state.snapshot = null
  renderShell()
  await refresh({ history: true })
}

// ------------------------------------------------------------------ layout

function renderShell() {
  const meta = state.metas.get(state.selected)
  $('#main').innerHTML = `
<section class="head" data-testid="vault-head">
  <h1>${esc(meta.name)} <span class="muted">${esc(meta.symbol)}</span></h1>
  <div class="addr"><code data-testid="vault-address">${esc(meta.address)}</code> · asset ${esc(meta.assetSymbol)} (${meta.assetDecimals} decimals) · shares ${meta.shareDecimals} decimals
    <button type="button" class="ghost" id="refresh" data-testid="refresh">Refresh</button></div>
  <div class="stats" id="stats"></div>
</section>
<div class="grid">
  <section class="card" id="liquidity" data-testid="liquidity"></section>
  <section class="card" id="position" data-testid="position"></section>
  <section class="card actions" id="actions" data-testid="actions">${actionsHtml(meta)}</section>
  <section class="card actions wide" id="queue" data-testid="queue-panel" hidden></section>
  <section class="card wide" id="charts" data-testid="charts"><p class="muted">Reading history…</p></section>
  <section class="card wide" id="options" data-testid="options"></section>
  <section class="card wide" id="rebalances" data-testid="rebalances"><h2>Recent rebalances</h2><p class="muted">Reading events…</p></section>
</div>`
  $('#refresh').addEventListener('click', () => refresh({ history: true }))
  wireActions()
  showQueue(meta)
}

/** The queue panel's fixed part, once the vault is known to have a queue (else it stays hidden). */
function showQueue(meta) {
  const el = $('#queue')
  el.dataset.detected = String(Boolean(meta.queue))
  el.hidden = !meta.queue
  if (!meta.queue) return
  el.innerHTML = queueShell(meta)
  wireQueue(el)
}

/**
 * Every action's send path: a wallet (connected on demand) on the right chain, one action at a
 * time, then the page re-read. `run` returns whether everything was confirmed.
 */
async function send(card, run) {
  if (state.busy) return
  if (!state.wallet) return alertBar('No wallet found: install an EIP-1193 wallet such as MetaMask.', 'no-wallet')
  // Busy before the first await: a second submit (a double click, a double Enter) arriving
  // while the wallet is asked for its account or chain must not send the action again.
  state.busy = true
  card.classList.add('busy')
  let ran = false
  try {
    if (!state.account) {
      try {
        state.account = await connectWallet(state.wallet)
        if (state.account) clearAlert('wallet')
        showAccount()
        await refresh()
      } catch (err) {
        return alertBar(err.shortMessage || err.message, 'wallet')
      }
    }
    try {
      const onChain = await ensureChain(state.wallet, state.config.chainId)
      if (!chainAlert(onChain)) {
        return alertBar(`Your wallet is on chain ${onChain}; switch it to chain ${state.config.chainId} to send.`, 'chain')
      }
      ran = true
      await run()
    } catch (err) {
      // A read on the way to the wallet failed (the RPC down or erroring): said on the card's
      // log, never left uncaught. A transaction already sent has its own line above.
      const li = logLine({ log: card.querySelector('ol.txlog') }, '')
      setLine(li, 'failed', `Stopped: the page could not read the chain (${esc(readFailure(err))}); nothing more was sent.`)
    }
  } finally {
    state.busy = false
    card.classList.remove('busy')
    if (ran) await refresh({ history: true })
  }
}

/** The preview-as-you-type of one action form; returns its `update` (also run before a send). */
function livePreview(form, compute) {
  const input = form.querySelector('input')
  const out = form.querySelector('.preview')
  let seq = 0
  let timer
  const update = async () => {
    // A read now (a submit's) takes the place of the typing delay's: left pending, that one
    // would start during this read, supersede it, and leave the submit a "loading" preview.
    clearTimeout(timer)
    const mine = ++seq
    if (!input.value.trim()) {
      out.innerHTML = ''
      delete out.dataset.state
      return
    }
    out.dataset.state = 'loading'
    let p
    try {
      p = await compute(input.value)
    } catch (err) {
      p = { html: `The page could not read the chain: ${esc(readFailure(err))}`, error: true }
    }
    if (mine !== seq) return
    out.innerHTML = p.html
    out.classList.toggle('error', Boolean(p.error))
    out.dataset.state = p.error ? 'error' : 'ready'
    out.dataset.value = p.value !== undefined ? String(p.value) : ''
    out.dataset.preview = p.preview !== undefined ? String(p.preview) : ''
    out.dataset.block = p.blockNumber !== undefined ? String(p.blockNumber) : ''
  }
  input.addEventListener('input', () => {
    clearTimeout(timer)
    timer = setTimeout(update, 200)
  })
  return { input, out, update }
}

function queueCtx() {
  return { ...ctx(), log: $('[data-testid="queue-tx-status"]') }
}

function wireQueue(card) {
  for (const form of card.querySelectorAll('form[data-queue-action]')) {
    const key = form.dataset.queueAction
    const { input, out, update } = livePreview(form, (text) => previewQueue(queueCtx(), key, text))
    form.querySelector('[data-max]').addEventListener('click', () => {
      const meta = state.metas.get(state.selected)
      const s = state.snapshot
      if (!s?.position) return
      input.value =
        key === 'request'
          ? fmt(s.position.shares, meta.shareDecimals).replaceAll(',', '')
          : fmt(s.queue?.mine?.claimableAssets ?? 0n, meta.assetDecimals).replaceAll(',', '')
      update()
    })
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      const vault = state.selected
      send(card, async () => {
        await update()
        if (out.dataset.state !== 'ready' || vault !== state.selected) return
        // Emptied only once the action is confirmed: after a refusal (the page's, the chain's, the
        // wallet's) or a receipt the page could not read, the amount typed stays to be corrected.
        const anyway = form.querySelector('[data-queue-anyway]')
        if (await runQueue(queueCtx(), key, BigInt(out.dataset.value), { anyway: Boolean(anyway?.checked) })) {
          input.value = ''
          if (anyway) anyway.checked = false // a deliberate choice, each time
        }
        await update()
      })
    })
  }
  card.addEventListener('click', (e) => {
    if (!e.target.closest('[data-queue-fill]')) return
    const vault = state.selected
    send(card, async () => {
      if (vault === state.selected) await runQueue(queueCtx(), 'fill')
    })
  })
}

function wireActions() {
  const root = $('#actions')
  for (const form of root.querySelectorAll('form.action')) {
    const key = form.dataset.action
    const { input, out, update } = livePreview(form, (text) => previewOf(ctx(), key, text))
    form.querySelector('[data-max]')?.addEventListener('click', () => {
      const pos = state.snapshot?.position
      if (!pos) return
      const meta = state.metas.get(state.selected)
      input.value = key === 'withdraw' ? fmt(pos.maxWithdraw, meta.assetDecimals).replaceAll(',', '') : fmt(pos.maxRedeem, meta.shareDecimals).replaceAll(',', '')
      update()
    })
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      // The action belongs to this vault and this card: another vault opened meanwhile neither
      // runs it nor shows its lines (they would read as that vault's).
      const vault = state.selected
      const log = root.querySelector('ol.txlog')
      send(root, async () => {
        await update()
        if (out.dataset.state !== 'ready' || vault !== state.selected) return
        // As the queue forms: emptied once confirmed (left typed, a second click sent it again);
        // after a refusal or a receipt the page could not read, the amount stays to be corrected.
        if (await runAction({ ...ctx(), log }, key, BigInt(out.dataset.value))) input.value = ''
      }).then(update)
    })
  }
}

// ------------------------------------------------------------------ data

async function refresh({ history = false } = {}) {
  if (!state.selected) return
  const vault = state.selected
  const account = state.account
  const meta = state.metas.get(vault)
  let snap
  try {
    snap = await readSnapshot(state.client, state.config, meta, account)
  } catch (err) {
    if (vault !== state.selected || account !== state.account) return
    $('#stats').innerHTML = `<p class="error">Cannot read the vault: ${esc(err.shortMessage || err.message)}</p>`
    return
  }
  // The wallet switched accounts (or the page vaults) while this read: the newer refresh shows it.
  if (vault !== state.selected || account !== state.account) return
  state.snapshot = snap
  state.lastBlock = snap.blockNumber
  renderStats(meta, snap)
  renderLiquidity(meta, snap)
  renderPosition(meta, snap)
  renderOptions(meta, snap)
  await renderQueue(meta, snap)
  if (history) await renderHistory(meta, snap)
  $('#main').dataset.block = String(snap.blockNumber)
  $('#main').dataset.ready = 'true'
}

async function poll() {
  if (state.busy || !state.selected) return
  try {
    const n = await state.client.getBlockNumber()
    if (n !== state.lastBlock) await refresh({ history: true })
  } catch {
    // The next poll tries again; the page keeps what it showed.
  }
}

function stat(label, value, testid, raw, title = '') {
  return `<div class="stat"><span>${esc(label)}</span><b data-testid="${testid}" data-raw="${esc(raw)}" title="${esc(title)}">${esc(value)}</b></div>`
}

/** Paused or active, then whether deposits and instant exits are open (the reason in the title). */
function statusStat(s) {
  const g = s.gates
  const gate = (label, open, testid, why) =>
    `<small data-testid="${testid}" data-raw="${open}" class="${open ? 'open' : 'closed'}" title="${esc(why ?? '')}">${label} ${open ? 'open' : 'closed'}</small>`
  return `<div class="stat"><span>Status</span><b data-testid="paused" data-raw="${s.paused}">${s.paused ? 'paused' : 'active'}</b>
${gate('deposits', g.depositsOpen, 'deposits-open', g.deposits)} ${gate('exits', g.exitsOpen, 'exits-open', g.exits)}</div>`
}

function renderStats(meta, s) {
  const A = (x) => `${fmt(x, meta.assetDecimals)} ${meta.assetSymbol}`
  $('#stats').innerHTML = [
    stat('NAV (totalAssets)', A(s.totalAssets), 'nav', s.totalAssets),
    stat('Share price', A(s.sharePrice), 'share-price', s.sharePrice, "convertToAssets(1 share): one share's value, rounded down to the asset's decimals"),
    stat('Shares outstanding', fmtShort(s.totalSupply, meta.shareDecimals, 2), 'supply', s.totalSupply, fmt(s.totalSupply, meta.shareDecimals)),
    stat('Oracle price', usd8(s.valuationPrice), 'price', s.valuationPrice),
    statusStat(s),
    stat('Block', `${s.blockNumber} · ${utc(s.block.timestamp)}`, 'block', s.blockNumber),
  ].join('')
}

function renderLiquidity(meta, s) {
  const A = (x) => `${fmt(x, meta.assetDecimals)} ${meta.assetSymbol}`
  const reserved = s.queue ? s.queue.reserved : 0n
  const unreserved = s.freeQuote > reserved ? s.freeQuote - reserved : 0n
  const instant = s.gates.exitsOpen ? unreserved : 0n
  const shut = unreserved - instant
  const held = s.freeQuote > reserved ? reserved : s.freeQuote
  const total = s.freeQuote + s.lockedCollateral
  const pct = (x) => (total > 0n ? Number((x * 10000n) / total) / 100 : 0)
  const queueRows = s.queue
    ? `<dt>Reserved for the redemption queue</dt><dd data-testid="reserved" data-raw="${reserved}" title="the queue's shares at NAV, rounded up (previewMint)">${esc(A(reserved))}</dd>`
    : ''
  const closed = s.gates.exits
    ? `<p class="note" data-testid="exits-closed">Instant exits are closed: ${esc(s.gates.exits)}. The vault pays none until this clears${s.queue ? '; the redemption queue still takes requests' : ''}.</p>`
    : ''
  $('#liquidity').innerHTML = `<h2>Liquidity</h2>
<div class="bar" title="free for instant exits ${pct(instant)}%,${shut ? ` free but exits closed ${pct(shut)}%,` : ''} reserved for the queue ${pct(held)}%, locked ${pct(s.lockedCollateral)}%"><i style="width:${pct(instant)}%"></i><i class="shut" style="width:${pct(shut)}%"></i><i class="reserved" style="width:${pct(held)}%"></i></div>
<dl class="kv">
<dt>Free quote (not locked, not owed)</dt><dd data-testid="free" data-raw="${s.freeQuote}">${esc(A(s.freeQuote))}</dd>
${queueRows}
<dt>Free for instant exits</dt><dd data-testid="free-instant" data-raw="${instant}" title="${s.queue ? 'free quote less the reserve' : 'free quote'}; 0 while exits are closed">${esc(A(instant))}</dd>
<dt>Locked (max payoff of open options)</dt><dd data-testid="locked" data-raw="${s.lockedCollateral}">${esc(A(s.lockedCollateral))}</dd>
<dt>Quote held</dt><dd data-raw="${s.quoteBalance}">${esc(A(s.quoteBalance))}</dd>
<dt>Hedge inventory</dt><dd data-testid="inventory" data-raw="${s.hedgeInventory}">${esc(wad(s.hedgeInventory))} ${esc(meta.underlyingSymbol)}</dd>
<dt>Options value (owed, model)</dt><dd data-raw="${s.optionsValue}">${esc(A(s.optionsValue))}</dd>
<dt>Settled, unpaid</dt><dd data-raw="${s.settledUnpaid}">${esc(A(s.settledUnpaid))}</dd>
</dl>${closed}`
}

function renderPosition(meta, s) {
  const el = $('#position')
  if (!s.position) {
    el.innerHTML = `<h2>Your position</h2><p class="muted">${state.wallet ? 'Connect your wallet to see your shares and limits.' : 'No wallet found in this browser.'}</p>`
    return
  }
  const p = s.position
  const A = (x) => `${fmt(x, meta.assetDecimals)} ${meta.assetSymbol}`
  const S = (x) => `${fmt(x, meta.shareDecimals)} shares`
  el.innerHTML = `<h2>Your position <small class="muted">${short(p.account)}</small></h2>
<dl class="kv">
<dt>Shares</dt><dd data-testid="pos-shares" data-raw="${p.shares}">${esc(S(p.shares))}</dd>
<dt>Worth (convertToAssets)</dt><dd data-testid="pos-value" data-raw="${p.value}">${esc(A(p.value))}</dd>
<dt>maxWithdraw</dt><dd data-testid="pos-max-withdraw" data-raw="${p.maxWithdraw}">${esc(A(p.maxWithdraw))}</dd>
<dt>maxRedeem</dt><dd data-testid="pos-max-redeem" data-raw="${p.maxRedeem}">${esc(S(p.maxRedeem))}</dd>
<dt>${esc(meta.assetSymbol)} in wallet</dt><dd data-testid="pos-asset" data-raw="${p.assetBalance}">${esc(A(p.assetBalance))}</dd>
<dt>Approved to the vault</dt><dd data-testid="pos-allowance" data-raw="${p.allowance}">${esc(A(p.allowance))}</dd>
</dl>`
}

function renderOptions(meta, s) {
  const rows = s.openSeries
    .map((x, i) => {
      const type = Number(x.optionType) === 0 ? 'call' : 'put'
      const d = s.greeks[i]
      return `<tr data-testid="option-row" data-id="${x.id}">
<td>#${x.id}</td><td>${type}</td><td>${esc(usd8(x.strike))}</td><td>${esc(usd8(x.cap))}</td>
<td>${esc(utc(x.expiry))}</td><td data-raw="${x.size}">${esc(wad(x.size))}</td>
<td title="${d === null ? '' : esc(wad(d))}">${d === null ? 'n/a' : esc(fmtShort(d, 18, 4))}</td></tr>`
    })
    .join('')
  $('#options').innerHTML = `<h2>Open options <small class="muted">${s.openSeries.length} series, the vault is short each</small></h2>
${
  s.openSeries.length
    ? `<table><thead><tr><th>Series</th><th>Type</th><th>Strike</th><th>Cap (max payoff)</th><th>Expiry</th><th>Size (contracts)</th><th>Delta / contract</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p class="muted">No open options.</p>'
}`
}

async function renderQueue(meta, s) {
  if (!meta.queue) {
    // A queue set after the page loaded: look again (one call), and show the panel when found.
    meta.queue = await detectQueue(state.client, state.config, meta.address).catch(() => null)
    if (!meta.queue) return
    showQueue(meta)
    await refresh()
    return
  }
  const el = $('#queue-state')
  if (!el || !s.queue) return
  const fill = s.queue.fillable > 0n || s.queue.unrequested > 0n ? await previewFill(ctx(), s.blockNumber) : null
  if (meta.address !== state.selected) return
  const html = queueStateHtml(meta, s.queue, fill, s.gates)
  $('#queue-fill').innerHTML = html.fill
  el.innerHTML = html.state
  el.dataset.block = String(s.blockNumber)
}

async function renderHistory(meta, s) {
  let h
  try {
    h = await readHistory(state.client, state.config, meta, s.blockNumber)
  } catch (err) {
    $('#charts').innerHTML = `<p class="error">Cannot read history: ${esc(err.shortMessage || err.message)}</p>`
    return
  }
  if (meta.address !== state.selected) return
  const d = meta.assetDecimals
  const nav = h.samples.map((x) => [x.time, unitsToNumber(x.totalAssets, d)])
  const price = h.samples.map((x) => [x.time, unitsToNumber(x.sharePrice, d)])
  const delta = h.samples.map((x) => [x.time, wadToNumber(x.netDelta)])
  const band = h.samples.map((x) => {
    const t = wadToNumber(x.thresholds.targetDelta)
    const b = wadToNumber(x.thresholds.band)
    return [x.time, t - b, t + b]
  })
  const times = new Map(h.samples.map((x) => [x.blockNumber, x.time]))
  const hedges = h.logs
    .filter((l) => l.eventName === 'Rebalanced' && times.has(l.blockNumber))
    .flatMap((l) => [
      [times.get(l.blockNumber), wadToNumber(l.args.deltaBefore)],
      [times.get(l.blockNumber), wadToNumber(l.args.deltaAfter)],
    ])
  const money = (v) => (Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(3)}M` : Math.abs(v) >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : v.toFixed(2))
  const th = s.thresholds
  $('#charts').innerHTML = `<h2>History <small class="muted">blocks ${h.from}–${h.latest}, ${h.samples.length} samples, ${h.logs.length} events</small></h2>
<div class="charts">
${lineChart({ title: `NAV (${meta.assetSymbol})`, testid: 'chart-nav', yLabel: money, series: [{ label: 'totalAssets', color: '#2563eb', points: nav }] })}
${lineChart({ title: `Share price (${meta.assetSymbol} per share)`, testid: 'chart-price', yLabel: null, series: [{ label: 'convertToAssets(1 share)', color: '#0f766e', points: price }] })}
${lineChart({
  title: `Net delta vs band (now ${fmtShort(s.netDelta, 18, 3)}; target ${fmtShort(th.targetDelta, 18, 3)} ± ${fmtShort(th.band, 18, 3)})`,
  testid: 'chart-delta',
  yLabel: null,
  band,
  series: [
    { label: 'net delta (sampled)', color: '#b45309', points: delta },
    { label: 'rebalance: before → after', color: '#7c3aed', points: hedges, dots: true, pairs: true },
  ],
})}
</div>`
  $('#charts').dataset.samples = String(h.samples.length)
  $('#main').dataset.historyReady = 'true'
  let rebalances
  try {
    rebalances = await readRebalances(state.client, state.config, h.logs)
  } catch (err) {
    $('#rebalances').innerHTML = `<h2>Recent rebalances</h2><p class="error">${esc(err.shortMessage || err.message)}</p>`
    return
  }
  renderRebalances(meta, rebalances, h)
}

function renderRebalances(meta, list, h) {
  const eth = (x) => `${fmtShort(x, 18, 9)} ETH`
  const rows = list
    .map(
      (r) => `<tr data-testid="rebalance-row" data-tx="${r.hash}">
<td>${r.blockNumber}<br><small class="muted">${esc(utc(r.time))}</small></td>
<td>${TRIGGERS[Number(r.trigger)] ?? r.trigger}</td>
<td title="${esc(wad(r.deltaBefore))} → ${esc(wad(r.deltaAfter))}">${esc(fmtShort(r.deltaBefore, 18, 3))} → ${esc(fmtShort(r.deltaAfter, 18, 3))}</td>
<td>${esc(usd8(r.price))}</td>
<td data-testid="rebalance-gas" data-raw="${r.gasUsed}">${r.gasUsed.toLocaleString('en-US')}${r.batchSize > 1 ? `<br><small class="muted">batch of ${r.batchSize} vaults</small>` : ''}</td>
<td data-raw="${r.l2Fee}" title="${esc(wad(r.l2Fee))} ETH">${esc(eth(r.l2Fee))}</td>
<td data-testid="rebalance-l1" data-raw="${r.l1Fee ?? ''}">${r.l1Fee === null ? '<span class="muted" title="the receipt has no l1Fee (not an OP-stack chain, e.g. anvil)">n/a</span>' : `<span title="${esc(wad(r.l1Fee))} ETH">${esc(eth(r.l1Fee))}</span>`}</td>
<td><code title="${esc(r.hash)}">${esc(short(r.hash))}</code></td></tr>`,
    )
    .join('')
  $('#rebalances').innerHTML = `<h2>Recent rebalances <small class="muted">${list.length} shown, from Rebalanced events in blocks ${h.from}–${h.latest}; gas and fees are the whole transaction's</small></h2>
${
  list.length
    ? `<table><thead><tr><th>Block</th><th>Trigger</th><th>Net delta</th><th>Price</th><th>Gas used</th><th>L2 fee</th><th>L1 fee</th><th>Tx</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p class="muted">No rebalance in range.</p>'
}`
  $('#main').dataset.rebalancesReady = 'true'
}

boot()
