// The ERC-7540 redemption queue: shown only for a vault that has one.
//
// The vaults deployed today are plain ERC-4626 (instant exits up to free liquidity). A vault with
// the asynchronous queue (requestRedeem / pendingRedeemRequest / claimableRedeemRequest, claimed
// through redeem/withdraw by the controller) is recognised by either
//   - ERC-165: supportsInterface(0x620ee8e4), ERC-7540's asynchronous-redeem interface id, or
//   - its ABI having requestRedeem AND a probe call pendingRedeemRequest(0, 0x0) succeeding on
//     the vault itself (so an older clone on a testnet is not mistaken for a new one).
// Request and claim actions are not in this version of the page: see docs/web.md, "Redemption
// queue".
import { zeroAddress } from 'viem'
import { esc, fmt } from './format.js'

export const ERC7540_ASYNC_REDEEM_ID = '0x620ee8e4'

const ERC165_ABI = [
  {
    type: 'function',
    name: 'supportsInterface',
    stateMutability: 'view',
    inputs: [{ name: 'interfaceId', type: 'bytes4' }],
    outputs: [{ name: '', type: 'bool' }],
  },
]

const hasFn = (abi, name) => abi.some((e) => e.type === 'function' && e.name === name)

/** Whether the vault has a redemption queue: { erc165, probe } or null. */
export async function detectQueue(client, config, address) {
  let erc165 = false
  try {
    erc165 = await client.readContract({
      address,
      abi: ERC165_ABI,
      functionName: 'supportsInterface',
      args: [ERC7540_ASYNC_REDEEM_ID],
    })
  } catch {
    erc165 = false
  }
  let probe = false
  const abi = config.abis.vault
  if (hasFn(abi, 'requestRedeem') && hasFn(abi, 'pendingRedeemRequest')) {
    try {
      await client.readContract({ address, abi, functionName: 'pendingRedeemRequest', args: [0n, zeroAddress] })
      probe = true
    } catch {
      probe = false
    }
  }
  return erc165 || probe ? { erc165, probe } : null
}

/** The panel's HTML: the account's pending and claimable shares, read through ERC-7540's views. */
export async function queuePanel(client, config, meta, account) {
  const abi = config.abis.vault
  let rows = ''
  if (account && hasFn(abi, 'pendingRedeemRequest') && hasFn(abi, 'claimableRedeemRequest')) {
    const r = (functionName) =>
      client.readContract({ address: meta.address, abi, functionName, args: [0n, account] })
    const [pending, claimable] = await Promise.all([r('pendingRedeemRequest'), r('claimableRedeemRequest')])
    rows = `<dl class="kv">
<dt>Your pending request</dt><dd data-testid="queue-pending">${esc(fmt(pending, meta.shareDecimals))} shares</dd>
<dt>Claimable now</dt><dd data-testid="queue-claimable">${esc(fmt(claimable, meta.shareDecimals))} shares</dd></dl>`
  }
  return `<h2>Redemption queue</h2>${rows}
<p class="muted">This vault queues redemptions (ERC-7540). Requesting and claiming from this page is not built yet.</p>`
}
