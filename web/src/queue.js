// The ERC-7540 redemption queue of a vault (contracts/RedemptionQueue.sol): its state, and the
// "request redeem", "claim" and "fill queue" actions.
//
// Discovery: the vault's redemptionQueue() (address(0) when it has none; a vault built before the
// queue has no such function), and on that address ERC-165 supportsInterface(0x620ee8e4)
// (ERC-7540 asynchronous redeem) and share() == the vault. A queued request is paid at the NAV of
// the fill that takes it, so a request's preview can only state its value now.
import { getAddress, parseEventLogs, zeroAddress } from 'viem'
import { approvalLeft, logLine, setLine, transact } from './actions.js'
import { explain } from './errors.js'
import { esc, fmt, parseAmount, short } from './format.js'

export const ERC7540_ASYNC_REDEEM_ID = '0x620ee8e4'

/** The queue of the vault at `address`: { address } or null. */
export async function detectQueue(client, config, address) {
  let queue
  try {
    queue = await client.readContract({ address, abi: config.abis.vault, functionName: 'redemptionQueue' })
  } catch {
    return null // a vault without the function (built before the queue)
  }
  if (!queue || BigInt(queue) === 0n) return null
  const abi = config.abis.queue
  try {
    const [async, share] = await Promise.all([
      client.readContract({ address: queue, abi, functionName: 'supportsInterface', args: [ERC7540_ASYNC_REDEEM_ID] }),
      client.readContract({ address: queue, abi, functionName: 'share' }),
    ])
    if (!async || getAddress(share) !== getAddress(address)) return null
  } catch {
    return null
  }
  return { address: getAddress(queue) }
}

/** The queue's ABI plus the vault's errors it does not declare (a request or fill runs there). */
export function queueErrorAbi(config) {
  const q = config.abis.queue
  const names = new Set(q.filter((e) => e.type === 'error').map((e) => e.name))
  return [...q, ...config.abis.vault.filter((e) => e.type === 'error' && !names.has(e.name))]
}

/**
 * The queue at `blockNumber` (the snapshot's block): vault-wide totals, and the account's request
 * when one is connected. `reserved` is what the vault holds back from instant exits and new
 * writes for it: every share the queue holds at NAV rounded up (previewMint), as the vault
 * computes it. `unrequested` are the shares it holds beyond its requests' (sent to it without a
 * request): reserved too, until the next fill discards them.
 */
export async function readQueue(client, config, meta, account, blockNumber) {
  const q = meta.queue.address
  const qr = (functionName, args = []) =>
    client.readContract({ address: q, abi: config.abis.queue, functionName, args, blockNumber })
  const vr = (functionName, args = []) =>
    client.readContract({ address: meta.address, abi: config.abis.vault, functionName, args, blockNumber })
  const [totalPending, fillable, round, held] = await Promise.all([
    qr('totalPending'),
    qr('fillable'),
    qr('round'),
    vr('balanceOf', [q]),
  ])
  const unrequested = held > totalPending ? held - totalPending : 0n
  const [pendingValue, reserved, fillableValue] = await Promise.all([
    vr('convertToAssets', [totalPending]),
    vr('previewMint', [held]),
    vr('convertToAssets', [fillable]),
  ])
  const out = { address: q, totalPending, pendingValue, reserved, fillable, fillableValue, round, unrequested }
  if (account) {
    const [pending, claimableShares, claimableAssets, allowance] = await Promise.all([
      qr('pendingRedeemRequest', [0n, account]),
      qr('claimableRedeemRequest', [0n, account]),
      qr('maxWithdraw', [account]),
      vr('allowance', [account, q]),
    ])
    out.mine = { pending, claimableShares, claimableAssets, allowance, pendingValue: await vr('convertToAssets', [pending]) }
  }
  return out
}

// ------------------------------------------------------------------ panel

const FORMS = {
  request: { label: 'Request redeem', unit: 'shares', hint: 'Shares to queue for redemption.' },
  claim: { label: 'Claim', unit: 'assets', hint: 'Amount of the asset to claim from your filled request.' },
}

/** The panel's fixed part (forms, log), rendered once per vault; the state goes in #queue-state. */
export function queueShell(meta) {
  const forms = Object.entries(FORMS)
    .map(([key, f]) => {
      const unit = f.unit === 'assets' ? meta.assetSymbol : 'shares'
      return `<form class="action" data-queue-action="${key}" data-testid="form-${key}" novalidate>
  <label for="in-${key}">${f.label}</label>
  <div class="row">
    <input id="in-${key}" name="amount" inputmode="decimal" autocomplete="off" placeholder="0.0"
      data-testid="input-${key}" aria-describedby="pv-${key}"/>
    <span class="unit">${esc(unit)}</span>
    <button type="button" class="ghost" data-max="${key}" data-testid="max-${key}">Max</button>
    <button type="submit" data-testid="submit-${key}">${f.label}</button>
  </div>
  <div class="preview muted" id="pv-${key}" data-testid="preview-${key}">${esc(f.hint)}</div>${
    key === 'request'
      ? `
  <label class="small muted"><input type="checkbox" data-queue-anyway data-testid="queue-anyway"/>
    Queue them even when Redeem can pay them now</label>`
      : ''
  }
</form>`
    })
    .join('')
  return `<h2>Redemption queue <small class="muted">ERC-7540, <code title="${esc(meta.queue.address)}">${esc(short(meta.queue.address))}</code></small></h2>
<div class="queue-cols">
<div id="queue-state" data-testid="queue-state"></div>
<div>${forms}<div id="queue-fill"></div>
<ol class="txlog" data-testid="queue-tx-status" aria-live="polite"></ol></div>
</div>
<p class="muted small">For exits larger than the free quote. A queued share stays a vault share
until a fill takes it: it is paid at the NAV of that fill, not at its value when requested, and a
request cannot be cancelled. Fills are pro rata over every pending request; anyone may call one
when free quote can serve them (the keeper does after each settlement).</p>`
}

/**
 * The panel's state: { state } (vault-wide totals and your request) and { fill } (the fill button
 * when a fill would pay something now, with its simulated result). `gates` (the snapshot's) says
 * why a fill pays nothing while exits are closed.
 */
export function queueStateHtml(meta, q, fillPreview, gates) {
  const A = (x) => `${fmt(x, meta.assetDecimals)} ${meta.assetSymbol}`
  const S = (x) => `${fmt(x, meta.shareDecimals)} shares`
  const dd = (testid, raw, text) => `<dd data-testid="${testid}" data-raw="${raw}">${esc(text)}</dd>`
  let html = `<dl class="kv">
<dt>Pending, all requests</dt>${dd('queue-total-pending', q.totalPending, S(q.totalPending))}
<dt>Their value now (convertToAssets)</dt>${dd('queue-total-value', q.pendingValue, A(q.pendingValue))}
<dt>Fillable now</dt>${dd('queue-fillable', q.fillable, `${S(q.fillable)} (${A(q.fillableValue)} now)`)}
<dt>Round</dt>${dd('queue-round', q.round, String(q.round))}
${q.unrequested > 0n ? `<dt>Sent without a request</dt>${dd('queue-unrequested', q.unrequested, `${S(q.unrequested)}: nobody's; reserved until the next fill discards them`)}` : ''}
</dl>`
  if (q.mine) {
    const m = q.mine
    html += `<h3>Your request</h3><dl class="kv">
<dt>Pending</dt>${dd('queue-pending', m.pending, `${S(m.pending)} (${A(m.pendingValue)} now)`)}
<dt>Claimable shares</dt>${dd('queue-claimable', m.claimableShares, S(m.claimableShares))}
<dt>Claimable assets</dt>${dd('queue-claimable-assets', m.claimableAssets, A(m.claimableAssets))}
<dt>Shares approved to the queue</dt>${dd('queue-allowance', m.allowance, S(m.allowance))}
</dl>`
  }
  let fill = ''
  const pays = q.fillable > 0n && fillPreview && fillPreview.assets > 0n
  if (pays || (q.unrequested > 0n && fillPreview)) {
    const redeems = pays
      ? `A fill now redeems exactly <b>${esc(S(fillPreview.shares))}</b> of the ${esc(S(q.totalPending))} pending at the vault for <b>${esc(A(fillPreview.assets))}</b> <span class="muted">(simulated at block ${fillPreview.blockNumber})</span>, shared pro rata: every pending request shrinks by the same factor and receives the same share of the assets.`
      : `A fill now redeems nothing <span class="muted">(simulated at block ${fillPreview.blockNumber})</span>.`
    const discards = q.unrequested > 0n
      ? ` It first discards the <b>${esc(S(q.unrequested))}</b> sent to the queue without a request (to its DISCARD address), so the vault stops reserving quote for them.`
      : ''
    fill = `<div class="fill" data-testid="queue-fill">
<button type="button" data-testid="submit-fill" data-queue-fill>Fill queue</button>
<div class="preview" data-testid="preview-fill" data-shares="${fillPreview.shares}" data-assets="${fillPreview.assets}" data-unrequested="${q.unrequested}">${redeems}${discards}</div></div>`
  } else if (q.totalPending > 0n && gates && !gates.exitsOpen) {
    // Not "wait for collateral": a stale oracle closes exits with the free quote all there.
    fill = `<div class="fill muted" data-testid="queue-fill-none">A fill pays nothing now: instant exits are closed (${esc(gates.exits)}), and fills with them; the pending requests wait until this clears.</div>`
  } else if (q.totalPending > 0n) {
    const why = q.fillable > 0n ? `only ${S(q.fillable)}, worth 0 ${meta.assetSymbol},` : 'nothing'
    fill = `<div class="fill muted" data-testid="queue-fill-none">The free quote can fill ${esc(why)} now: the pending requests wait for collateral to free up (settlement, expiry, hedge sales).</div>`
  }
  return { state: html, fill }
}

/** What `fill()` would do now: { shares, assets, blockNumber } or null. Anyone may call it. */
export async function previewFill(ctx, blockNumber) {
  const { client, config, meta, account } = ctx
  try {
    const { result } = await client.simulateContract({
      address: meta.queue.address,
      abi: config.abis.queue,
      functionName: 'fill',
      account: account ?? zeroAddress,
      blockNumber,
    })
    return { shares: result[0], assets: result[1], blockNumber }
  } catch {
    return null
  }
}

/** Exactly `ceil(a * b / c)`. */
const mulDivUp = (a, b, c) => (a * b + c - 1n) / c

/**
 * The preview of a request or a claim of `text`: { html, value, preview, blockNumber } or
 * { html, error }. A request states its shares and their value now; a claim its exact assets.
 */
export async function previewQueue(ctx, key, text) {
  const { client, config, meta } = ctx
  const f = FORMS[key]
  const parsed = parseAmount(text, f.unit === 'assets' ? meta.assetDecimals : meta.shareDecimals)
  if (parsed.error) return { html: esc(parsed.error), error: true }
  const value = parsed.value
  const blockNumber = await client.getBlockNumber({ cacheTime: 0 }) // the head now (see readSnapshot)
  const A = (x) => `<b>${esc(fmt(x, meta.assetDecimals))} ${esc(meta.assetSymbol)}</b>`
  const S = (x) => `<b>${esc(fmt(x, meta.shareDecimals))} shares</b>`
  const notes = []
  let html
  let preview
  if (key === 'request') {
    try {
      preview = await client.readContract({
        address: meta.address,
        abi: config.abis.vault,
        functionName: 'convertToAssets',
        args: [value],
        blockNumber,
      })
    } catch (err) {
      return { html: explain(err, meta, 'shares', config.abis.vault).html, error: true }
    }
    html = `You queue ${S(value)}, worth ${A(preview)} now <span class="muted">(convertToAssets at block ${blockNumber})</span>. They are paid at the NAV when a fill takes them (the fill price), not at this value: until then they carry the vault's gains and losses.`
    const pos = ctx.snapshot?.position
    const mine = ctx.snapshot?.queue?.mine
    if (pos) {
      if (value > pos.shares) notes.push(`You hold only ${S(pos.shares)}.`)
      else if (mine && mine.allowance < value) {
        notes.push(`Approves exactly ${S(value)} to the queue first (allowance now ${S(mine.allowance)}).`)
      }
      if (value <= pos.maxRedeem) {
        notes.push(
          `Within your maxRedeem (${S(pos.maxRedeem)}): Redeem pays these now, without the queue. The page queues them only with "Queue them even when Redeem can pay them now" ticked: a request waits for a fill and cannot be cancelled.`,
        )
      }
    }
    if (preview === 0n) {
      notes.push(`These shares are worth ${A(0n)}: the fill would pay nothing for them, so the page will not send it.`)
    }
  } else {
    if (!ctx.account) return { html: 'Connect your wallet to see what you can claim.', error: true }
    // A read that fails is said as such by the caller (livePreview), not taken for no wallet.
    const m = (await readQueue(client, config, meta, ctx.account, blockNumber)).mine
    if (value > m.claimableAssets) {
      preview = 0n
      html = `Only ${A(m.claimableAssets)} is claimable <span class="muted">(at block ${blockNumber})</span>.`
      notes.push(`Above your claimable assets: the queue will refuse it.`)
    } else if (value === m.claimableAssets) {
      preview = m.claimableShares
      html = `You receive exactly ${A(value)} for all your ${S(m.claimableShares)} filled shares <span class="muted">(redeem, at block ${blockNumber})</span>.`
    } else {
      preview = mulDivUp(m.claimableShares, value, m.claimableAssets)
      html = `You receive exactly ${A(value)}, using up ${S(preview)} of your ${S(m.claimableShares)} filled shares <span class="muted">(withdraw, rounded up, at block ${blockNumber})</span>.`
    }
  }
  if (notes.length) html += `<div class="note" data-testid="note-${key}">${notes.join(' ')}</div>`
  return { html, value, preview, blockNumber }
}

function result(li, testid, text, data) {
  const div = document.createElement('div')
  div.className = 'result'
  div.dataset.testid = testid
  Object.entries(data).forEach(([k, v]) => (div.dataset[k] = String(v)))
  div.textContent = text
  li.append(div)
}

function queueEvents(ctx, receipt, eventName) {
  const q = ctx.meta.queue.address.toLowerCase()
  return parseEventLogs({ abi: ctx.config.abis.queue, eventName, logs: receipt.logs }).filter(
    (l) => l.address.toLowerCase() === q,
  )
}

/**
 * Run a queue action: 'request' (approval of the queue on your shares first when short), 'claim'
 * (redeem of all your filled shares when `value` is all your claimable assets, else withdraw of
 * `value`), or 'fill'. Returns true when everything was confirmed.
 *
 * A request for shares the vault can pay at once (your maxRedeem covers them all) is refused,
 * nothing sent, unless `anyway` (the form's "Queue them even when Redeem can pay them now"): a
 * depositor is not pushed into a queue that waits for a fill and cannot be cancelled when Redeem
 * pays now, and can still queue on purpose. `keeper vault request-redeem` refuses them too.
 */
export async function runQueue(ctx, key, value, { anyway = false } = {}) {
  const { config, meta, account, client } = ctx
  const qabi = config.abis.queue
  const errorAbi = queueErrorAbi(config)
  const q = meta.queue.address
  const A = (x) => `${fmt(x, meta.assetDecimals)} ${meta.assetSymbol}`
  const S = (x) => `${fmt(x, meta.shareDecimals)} shares`
  if (key === 'request') {
    const shares = await client.readContract({ address: meta.address, abi: config.abis.vault, functionName: 'balanceOf', args: [account] })
    if (shares < value) {
      setLine(logLine(ctx, ''), 'refused', `Request redeem: you hold only ${esc(S(shares))}, less than ${esc(S(value))}. Nothing was sent.`)
      return false
    }
    const worth = await client.readContract({ address: meta.address, abi: config.abis.vault, functionName: 'convertToAssets', args: [value] })
    if (worth === 0n) {
      setLine(logLine(ctx, ''), 'refused', `Request redeem: ${esc(S(value))} are worth 0 ${esc(meta.assetSymbol)} (less than one token unit); the fill would pay nothing for them. Nothing was sent.`)
      return false
    }
    if (!anyway) {
      const limit = await client.readContract({ address: meta.address, abi: config.abis.vault, functionName: 'maxRedeem', args: [account] })
      if (value <= limit) {
        setLine(
          logLine(ctx, ''),
          'refused',
          `Request redeem: the vault can pay all ${esc(S(value))} now (your maxRedeem is ${esc(S(limit))}): use Redeem, which pays them at once; a request waits for a fill and cannot be cancelled. Nothing was sent. To queue them on purpose, tick "Queue them even when Redeem can pay them now".`,
        )
        return false
      }
    }
    const allowance = await client.readContract({
      address: meta.address,
      abi: config.abis.vault,
      functionName: 'allowance',
      args: [account, q],
    })
    const approving = allowance < value
    if (approving) {
      const ok = await transact(ctx, {
        label: `Approve ${S(value)} to the queue`,
        address: meta.address,
        abi: config.abis.vault,
        functionName: 'approve',
        args: [q, value],
        unit: 'shares',
      })
      if (!ok) return false
    }
    const done = await transact(ctx, {
      label: `Request redeem ${S(value)}`,
      address: q,
      abi: qabi,
      functionName: 'requestRedeem',
      args: [value, account, account],
      unit: 'shares',
      errorAbi,
    })
    if (!done) {
      if (approving && !ctx.unknown) approvalLeft(ctx, `${S(value)} to the queue`, 'request')
      return false
    }
    const [ev] = queueEvents(ctx, done.receipt, 'RedeemRequest')
    if (ev) result(done.li, 'result-request', `You queued ${S(ev.args.shares)}.`, { shares: ev.args.shares })
    return true
  }
  if (key === 'claim') {
    const claimable = await client.readContract({ address: q, abi: qabi, functionName: 'maxWithdraw', args: [account] })
    const all = value === claimable
    const shares = all
      ? await client.readContract({ address: q, abi: qabi, functionName: 'maxRedeem', args: [account] })
      : null
    const done = await transact(ctx, {
      label: `Claim ${A(value)}`,
      address: q,
      abi: qabi,
      functionName: all ? 'redeem' : 'withdraw',
      args: [all ? shares : value, account, account],
      unit: all ? 'shares' : 'assets',
      errorAbi,
    })
    if (!done) return false
    const [ev] = queueEvents(ctx, done.receipt, 'Withdraw')
    if (ev) {
      result(done.li, 'result-claim', `You received ${A(ev.args.assets)} for ${S(ev.args.shares)} filled shares.`, {
        assets: ev.args.assets,
        shares: ev.args.shares,
      })
    }
    return true
  }
  const done = await transact(ctx, {
    label: 'Fill queue',
    address: q,
    abi: qabi,
    functionName: 'fill',
    args: [],
    unit: 'shares',
    errorAbi,
  })
  if (!done) return false
  const [ev] = queueEvents(ctx, done.receipt, 'RedemptionsFilled')
  const [gone] = queueEvents(ctx, done.receipt, 'UnrequestedSharesDiscarded')
  const discarded = gone ? gone.args.shares : 0n
  const also = discarded > 0n ? ` Discarded ${S(discarded)} sent without a request.` : ''
  if (ev) {
    result(
      done.li,
      'result-fill',
      `Filled ${S(ev.args.shares)} for ${A(ev.args.assets)}, pro rata; ${S(ev.args.pendingAfter)} still pending.${also}`,
      { shares: ev.args.shares, assets: ev.args.assets, pendingAfter: ev.args.pendingAfter, discarded },
    )
  } else if (gone) {
    result(done.li, 'result-fill', `Redeemed nothing.${also}`, { shares: 0n, assets: 0n, discarded })
  }
  return true
}
