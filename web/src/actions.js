// Deposit (with its approval), withdraw and redeem: an exact preview as you type, then each
// transaction simulated first (a revert is decoded and shown, nothing is sent), sent through the
// wallet, shown pending, then confirmed with the amounts the vault's own event reports.
import { encodeFunctionData, parseEventLogs } from 'viem'
import { decoded, explain } from './errors.js'
import { esc, fmt, parseAmount, short } from './format.js'

/**
 * `approve` as mainnet USDT declares it: no `bool` output. Simulated with the ERC-20 ABI's
 * `bool`, a token that returns nothing was refused ("returned no data") before the wallet was
 * asked; with no output, a token that returns `true` passes the same way.
 */
export const APPROVE_ABI = [
  {
    type: 'function',
    name: 'approve',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'spender', type: 'address' },
      { name: 'amount', type: 'uint256' },
    ],
    outputs: [],
  },
]

/** The three actions: what the input is in, which preview and call, and the event it emits. */
export const ACTIONS = {
  deposit: {
    label: 'Deposit',
    unit: 'assets',
    preview: 'previewDeposit',
    hint: 'Amount of the asset to put in.',
  },
  withdraw: {
    label: 'Withdraw',
    unit: 'assets',
    preview: 'previewWithdraw',
    hint: 'Amount of the asset to take out.',
  },
  redeem: {
    label: 'Redeem',
    unit: 'shares',
    preview: 'previewRedeem',
    hint: 'Shares to burn.',
  },
}

export function actionsHtml(meta) {
  const forms = Object.entries(ACTIONS)
    .map(([key, a]) => {
      const unit = a.unit === 'assets' ? meta.assetSymbol : 'shares'
      return `<form class="action" data-action="${key}" data-testid="form-${key}" novalidate>
  <label for="in-${key}">${a.label}</label>
  <div class="row">
    <input id="in-${key}" name="amount" inputmode="decimal" autocomplete="off" placeholder="0.0"
      data-testid="input-${key}" aria-describedby="pv-${key}"/>
    <span class="unit">${esc(unit)}</span>
    ${key === 'deposit' ? '' : `<button type="button" class="ghost" data-max="${key}" data-testid="max-${key}">Max</button>`}
    <button type="submit" data-testid="submit-${key}">${a.label}</button>
  </div>
  <div class="preview muted" id="pv-${key}" data-testid="preview-${key}">${esc(a.hint)}</div>
</form>`
    })
    .join('')
  return `<h2>Actions</h2>${forms}<ol class="txlog" data-testid="tx-status" aria-live="polite"></ol>`
}

/**
 * The preview of `amount` for action `key` at the latest block.
 * Returns { html, value, preview, blockNumber } or { html } for an input error.
 */
export async function previewOf(ctx, key, text) {
  const { client, config, meta } = ctx
  const a = ACTIONS[key]
  const decimals = a.unit === 'assets' ? meta.assetDecimals : meta.shareDecimals
  const parsed = parseAmount(text, decimals)
  if (parsed.error) return { html: esc(parsed.error), error: true }
  const value = parsed.value
  const blockNumber = await client.getBlockNumber({ cacheTime: 0 }) // the head now (see readSnapshot)
  const abi = config.abis.vault
  let out
  try {
    out = await client.readContract({
      address: meta.address,
      abi,
      functionName: a.preview,
      args: [value],
      blockNumber,
    })
  } catch (err) {
    return { html: explain(err, meta, a.unit, abi).html, error: true }
  }
  const A = (x) => `<b>${esc(fmt(x, meta.assetDecimals))} ${esc(meta.assetSymbol)}</b>`
  const S = (x) => `<b>${esc(fmt(x, meta.shareDecimals))} shares</b>`
  let html
  if (key === 'deposit') html = `You pay ${A(value)} and receive ${S(out)}`
  else if (key === 'withdraw') html = `You receive ${A(value)} and burn ${S(out)}`
  else html = `You burn ${S(value)} and receive ${A(out)}`
  html += ` <span class="muted">(${a.preview} at block ${blockNumber}; the mined amount differs if the NAV moves first)</span>`
  const pos = ctx.snapshot?.position
  const notes = []
  const gates = ctx.snapshot?.gates
  if (gates && key === 'deposit' && !gates.depositsOpen) notes.push(`Deposits are closed now (${esc(gates.deposits)}): the vault will refuse it.`)
  if (gates && key !== 'deposit' && !gates.exitsOpen) notes.push(`Instant exits are closed now (${esc(gates.exits)}): the vault will refuse it.`)
  if (pos) {
    if (key === 'deposit') {
      if (value > pos.assetBalance) notes.push(`You hold only ${A(pos.assetBalance)}.`)
      else if (pos.allowance > 0n && pos.allowance < value) notes.push(`Sets the allowance to 0, then approves exactly ${A(value)} first (allowance now ${A(pos.allowance)}; some tokens, USDT among them, change only an allowance of 0).`)
      else if (pos.allowance < value) notes.push(`Approves exactly ${A(value)} first (allowance now ${A(pos.allowance)}).`)
    } else if (gates?.exitsOpen === false) {
      // The closure, said above, is why the limits are 0.
    } else if (key === 'withdraw' && value > pos.maxWithdraw) {
      notes.push(`Above your maxWithdraw (${A(pos.maxWithdraw)} now): the vault will refuse it.`)
    } else if (key === 'redeem' && value > pos.maxRedeem) {
      notes.push(`Above your maxRedeem (${S(pos.maxRedeem)} now): the vault will refuse it.`)
    }
  }
  if (key === 'redeem' && out === 0n) {
    notes.push(`These shares are worth ${A(0n)}: the vault would burn them for nothing, so the page will not send it.`)
  }
  if (notes.length) html += `<div class="note" data-testid="note-${key}">${notes.join(' ')}</div>`
  return { html, value, preview: out, blockNumber }
}

/** A new line at the top of the transaction log (`ctx.log`, else the Actions card's). */
export function logLine(ctx, text) {
  const ol = ctx.log ?? ctx.root.querySelector('[data-testid="tx-status"]')
  const li = document.createElement('li')
  li.innerHTML = text
  ol.prepend(li)
  return li
}

export function setLine(li, state, html) {
  li.className = state
  li.dataset.state = state
  li.innerHTML = html
}

/**
 * One transaction: simulate (a revert is decoded and nothing is sent), send through the wallet,
 * then wait for the receipt. Returns { receipt, li }, or null when it was refused or failed (the
 * line says why). `errorAbi` decodes reverts (default: the vault's ABI). A transaction sent whose
 * receipt could not be read also returns null, and sets `ctx.unknown` to its hash: it may be mined.
 */
export async function transact(ctx, { label, address, abi, functionName, args, unit, errorAbi }) {
  const { client, wallet, account, chain, meta } = ctx
  const errors = errorAbi ?? ctx.config.abis.vault
  const li = logLine(ctx, '')
  setLine(li, 'checking', `${esc(label)}: checking…`)
  let request
  try {
    ;({ request } = await client.simulateContract({ address, abi, functionName, args, account }))
  } catch (err) {
    const why = explain(err, meta, unit, errors)
    setLine(li, 'refused', `${esc(label)}: ${why.html}`)
    li.dataset.testid = 'refused'
    return null
  }
  // The nonce the wallet will most likely give it (the account's next, pending included, as the
  // page's node sees it), read before asking: see `replacement` below. Not needed to send, so a
  // failed read only loses that. Only a guess: the wallet's own answer, once it has sent, wins.
  let nonce = await client.getTransactionCount({ address: account, blockTag: 'pending' }).catch(() => null)
  setLine(li, 'signing', `${esc(label)}: confirm in your wallet…`)
  let hash
  try {
    hash = await wallet.writeContract({ ...request, account, chain })
  } catch (err) {
    const why = explain(err, meta, unit, errors)
    setLine(li, why.kind === 'rejected' ? 'rejected' : 'failed', `${esc(label)}: ${why.html}`)
    return null
  }
  const code = (h) => `<code title="${esc(h)}">${esc(short(h))}</code>`
  setLine(li, 'pending', `${esc(label)}: pending ${code(hash)}`)
  // The nonce it really has, from the wallet that sent it (its own node knows it). The page's
  // node may not show the account's other pending transactions (the wallet's node or a private
  // mempool took them), so its guess can be one too low: another transaction mined in that nonce
  // was then taken for this one's replacement, and a mined action was called "not done".
  const told = await wallet
    .request({ method: 'eth_getTransactionByHash', params: [hash] })
    .catch(() => null)
  const guessed = told?.nonce == null
  if (!guessed) nonce = Number(BigInt(told.nonce))
  // The wallet may replace the transaction in its nonce: viem then resolves with the
  // replacement's receipt, and `onReplaced` says why. Only a repriced replacement (the same call
  // at a higher fee, a wallet's "speed up") is this action. viem finds a replacement by the
  // original's sender and nonce, read from the original by its hash; when the page's node never
  // returns it (the wallet's own node or a private mempool took it, or the wallet replaced it
  // before the page looked), `replacement` gives them instead (the nonce read above), and the
  // call, which tells a speed-up from another transaction. Without it such a speed-up waited out
  // viem's 3 minutes and ended as "could not confirm" although it was mined.
  const replacement =
    nonce === null
      ? undefined
      : { from: account, nonce, to: request.address, input: encodeFunctionData({ abi, functionName, args }), value: 0n }
  let replaced = null
  let receipt
  try {
    receipt = await client.waitForTransactionReceipt({ hash, replacement, onReplaced: (r) => (replaced = r) })
  } catch (err) {
    // Not "not done": it may be mined. The caller must not say otherwise (see approvalLeft).
    ctx.unknown = hash
    setLine(
      li,
      'unknown',
      `${esc(label)}: sent as ${code(hash)}, but the page could not confirm it (${esc(err.shortMessage || err.message)}). It may still be mined: check it in your wallet or an explorer before you send it again.`,
    )
    return null
  }
  if (replaced && replaced.reason !== 'repriced' && guessed) {
    // Another transaction took the nonce the page guessed, and the wallet did not say this one's:
    // it may be this action's cancel, or another transaction ahead of it. Never "not done".
    ctx.unknown = hash
    setLine(
      li,
      'unknown',
      `${esc(label)}: sent as ${code(hash)}; another transaction (${code(receipt.transactionHash)}) took the nonce the page expected for it, and your wallet did not say which nonce it has. It may still be mined: check it in your wallet or an explorer before you send it again.`,
    )
    return null
  }
  if (replaced && replaced.reason !== 'repriced') {
    const what = replaced.reason === 'cancelled' ? 'cancelled in your wallet' : 'replaced in your wallet by another transaction'
    setLine(
      li,
      replaced.reason === 'cancelled' ? 'cancelled' : 'replaced',
      `${esc(label)}: ${what} (${code(receipt.transactionHash)}, block ${receipt.blockNumber}); this action was not done.`,
    )
    return null
  }
  const mined = receipt.transactionHash
  const sped = replaced ? ` sped up in your wallet as ${code(mined)}` : ''
  if (receipt.status !== 'success') {
    // Re-simulated after its own block first: what made it revert was most often set by a
    // transaction ahead of it in that block (the page simulated it at the head just before), which
    // its parent block does not have. Then at the parent block (a change later in its block).
    let why = null
    for (const blockNumber of [receipt.blockNumber, receipt.blockNumber - 1n]) {
      try {
        await client.simulateContract({ address, abi, functionName, args, account, blockNumber })
      } catch (err) {
        const e = explain(err, meta, unit, errors)
        if (e.kind === 'revert') {
          why = e.html
          break
        }
        why ??= e.html
      }
    }
    why ??= 'the vault gave no reason'
    setLine(li, 'reverted', `${esc(label)}:${sped} reverted in block ${receipt.blockNumber}: ${why}`)
    return null
  }
  setLine(
    li,
    'confirmed',
    `${esc(label)}:${sped} confirmed in block ${receipt.blockNumber} <span class="muted">(gas ${receipt.gasUsed.toLocaleString('en-US')}, ${code(mined)})</span>`,
  )
  li.dataset.block = String(receipt.blockNumber)
  return { receipt, li }
}

/**
 * An approval the page sent whose action was then not done: it stays in place, and the log says
 * so (`what`: "1 USDC to the vault"), rather than leave it to be found later.
 */
export function approvalLeft(ctx, what, action) {
  const li = logLine(ctx, '')
  li.className = 'note'
  li.dataset.testid = 'approval-left'
  li.textContent = `Your approval of ${what} stays: the ${action} was not done. It is used by your next ${action}; to withdraw it, approve 0 in your wallet.`
}

/** Run action `key` for `value` (token units); returns true when everything was confirmed. */
export async function runAction(ctx, key, value) {
  const { config, meta, account } = ctx
  const vaultAbi = config.abis.vault
  const A = (x) => `${fmt(x, meta.assetDecimals)} ${meta.assetSymbol}`
  const S = (x) => `${fmt(x, meta.shareDecimals)} shares`
  let approved = false
  if (key === 'deposit') {
    // The balance now, not the last snapshot's: spent since, the deposit would fail after the
    // approval, which would then be gas for nothing.
    const assetBalance = await ctx.client.readContract({
      address: meta.asset,
      abi: config.abis.erc20,
      functionName: 'balanceOf',
      args: [account],
    })
    if (assetBalance < value) {
      const li = logLine(ctx, '')
      setLine(li, 'refused', `Deposit: you hold only ${esc(A(assetBalance))}, less than ${esc(A(value))}. Nothing was sent.`)
      return false
    }
    // The vault's limit before any approval: an approval for a deposit the vault refuses (it
    // is paused, its oracle is stale, an expired series awaits settlement) is gas for nothing.
    const maxDeposit = await ctx.client.readContract({
      address: meta.address,
      abi: vaultAbi,
      functionName: 'maxDeposit',
      args: [account],
    })
    if (value > maxDeposit) {
      const why = decoded('ERC4626ExceededMaxDeposit', [account, value, maxDeposit], meta, 'assets').html
      const gate = ctx.snapshot?.gates?.deposits
      const li = logLine(ctx, '')
      setLine(li, 'refused', `Deposit ${esc(A(value))}: ${why}${gate ? ` Deposits are closed: ${esc(gate)}.` : ''} Nothing was sent.`)
      return false
    }
    const allowance = await ctx.client.readContract({
      address: meta.asset,
      abi: config.abis.erc20,
      functionName: 'allowance',
      args: [account, meta.address],
    })
    if (allowance > 0n && allowance < value) {
      // To 0 first: some tokens (mainnet USDT) revert on an approve that changes an allowance
      // that is not 0, and a deposit left short by an earlier one could then never be made.
      const reset = await transact(ctx, {
        label: `Approve 0 (the allowance of ${A(allowance)} is short)`,
        address: meta.asset,
        abi: APPROVE_ABI,
        functionName: 'approve',
        args: [meta.address, 0n],
        unit: 'assets',
      })
      if (!reset) return false
    }
    if (allowance < value) {
      const ok = await transact(ctx, {
        label: `Approve ${A(value)}`,
        address: meta.asset,
        abi: APPROVE_ABI,
        functionName: 'approve',
        args: [meta.address, value],
        unit: 'assets',
      })
      if (!ok) return false
      approved = true
    }
  }
  if (key === 'redeem') {
    const worth = await ctx.client.readContract({
      address: meta.address,
      abi: vaultAbi,
      functionName: 'previewRedeem',
      args: [value],
    })
    if (worth === 0n) {
      const li = logLine(ctx, '')
      setLine(li, 'refused', `Redeem: ${esc(S(value))} are worth 0 ${esc(meta.assetSymbol)} (less than one token unit); the vault would burn them for nothing. Nothing was sent.`)
      return false
    }
  }
  const fn = { deposit: 'deposit', withdraw: 'withdraw', redeem: 'redeem' }[key]
  const args = key === 'deposit' ? [value, account] : [value, account, account]
  const what = key === 'redeem' ? S(value) : A(value)
  const done = await transact(ctx, {
    label: `${ACTIONS[key].label} ${what}`,
    address: meta.address,
    abi: vaultAbi,
    functionName: fn,
    args,
    unit: ACTIONS[key].unit,
  })
  if (!done) {
    if (approved && !ctx.unknown) approvalLeft(ctx, `${A(value)} to the vault`, 'deposit')
    return false
  }
  const eventName = key === 'deposit' ? 'Deposit' : 'Withdraw'
  const [ev] = parseEventLogs({ abi: vaultAbi, eventName, logs: done.receipt.logs }).filter(
    (l) => l.address.toLowerCase() === meta.address.toLowerCase(),
  )
  if (ev) {
    const verb = key === 'deposit' ? `paid ${A(ev.args.assets)}, minted ${S(ev.args.shares)}` : `burned ${S(ev.args.shares)}, received ${A(ev.args.assets)}`
    const span = document.createElement('div')
    span.className = 'result'
    span.dataset.testid = `result-${key}`
    span.dataset.assets = String(ev.args.assets)
    span.dataset.shares = String(ev.args.shares)
    span.textContent = `You ${verb}.`
    done.li.append(span)
  }
  return true
}
