// Everything the page shows about a vault, read over the public client: one snapshot of the
// vault now, its history over the last `historyBlocks` blocks (state sampled at past blocks,
// plus its events), and its recent rebalances with each transaction's gas and L1 fee.
import { getAddress, parseAbi, toEventSelector, zeroAddress } from 'viem'
import { utc } from './format.js'
import { getLogsInSpans } from './logs.js'
import { detectQueue, readQueue } from './queue.js'

//: Chainlink's AggregatorV3Interface, the part the vault's oracle checks read.
const FEED_ABI = parseAbi(['function latestRoundData() view returns (uint80, int256, uint256, uint256, uint80)'])

const MAX_SAMPLES = 48
const MAX_EVENT_POINTS = 96
export const REBALANCES_SHOWN = 12

/** Vaults: the addresses file's list, then the factory's registry, without duplicates. */
export async function listVaults(client, config) {
  const out = (config.vaults || []).map((v) => getAddress(v))
  if (config.factory) {
    try {
      const abi = config.abis.factory
      const count = await client.readContract({ address: config.factory, abi, functionName: 'vaultCount' })
      if (count > 0n) {
        const page = await client.readContract({
          address: config.factory,
          abi,
          functionName: 'vaults',
          args: [0n, count],
        })
        for (const v of page) if (!out.includes(getAddress(v))) out.push(getAddress(v))
      }
    } catch (err) {
      console.warn('factory registry unreadable', err)
    }
  }
  return out
}

/** Names, decimals and the asset token: read once per vault. */
export async function readMeta(client, config, address) {
  const abi = config.abis.vault
  const r = (functionName, args) => client.readContract({ address, abi, functionName, args })
  const [name, symbol, shareDecimals, asset, underlying] = await Promise.all([
    r('name'),
    r('symbol'),
    r('decimals'),
    r('asset'),
    r('underlying'),
  ])
  const erc20 = config.abis.erc20
  const [assetSymbol, assetDecimals, underlyingSymbol] = await Promise.all([
    client.readContract({ address: asset, abi: erc20, functionName: 'symbol' }),
    client.readContract({ address: asset, abi: erc20, functionName: 'decimals' }),
    client.readContract({ address: underlying, abi: erc20, functionName: 'symbol' }).catch(() => 'underlying'),
  ])
  const queue = await detectQueue(client, config, address)
  return {
    address,
    name,
    symbol,
    shareDecimals: Number(shareDecimals),
    asset,
    assetSymbol,
    assetDecimals: Number(assetDecimals),
    underlying,
    underlyingSymbol,
    // The share price is convertToAssets(oneShare): one whole share's value in the asset, with
    // the asset's decimals, as `keeper vault info` shows it. The shares' 6 extra decimals are the
    // vault's virtual-share offset, not precision of the price: no exit pays below one asset unit.
    oneShare: 10n ** BigInt(shareDecimals),
    queue,
  }
}

/**
 * The vault now (one block), its redemption queue when it has one, and the account's position
 * when one is connected.
 */
export async function readSnapshot(client, config, meta, account) {
  const abi = config.abis.vault
  const address = meta.address
  // The head now, not viem's cached one (kept for the polling interval): a Refresh clicked, or
  // the refresh after a mined transaction, must show the newest block, not the one before it.
  const blockNumber = await client.getBlockNumber({ cacheTime: 0 })
  const r = (functionName, args = []) =>
    client.readContract({ address, abi, functionName, args, blockNumber })
  const names = [
    'totalAssets',
    'totalSupply',
    'freeQuote',
    'lockedCollateral',
    'quoteBalance',
    'hedgeInventory',
    'optionsValue',
    'settledUnpaid',
    'valuationPrice',
    'netDelta',
    'thresholds',
    'openSeries',
    'paused',
    'lastRebalance',
  ]
  const values = await Promise.all([
    ...names.map((n) => r(n)),
    r('convertToAssets', [meta.oneShare]),
    client.getBlock({ blockNumber }),
    r('maxDeposit', [zeroAddress]),
    // The feeds at this block: an admin may have replaced the oracle since the page loaded.
    r('oracle').then((feed) => latestRound(client, feed, blockNumber)),
    r('sequencerFeed').then((feed) => latestRound(client, feed, blockNumber)),
  ])
  const s = Object.fromEntries(names.map((n, i) => [n, values[i]]))
  const [sharePrice, block, maxDeposit, oracleRound, sequencerRound] = values.slice(names.length)
  Object.assign(s, { sharePrice, block, blockNumber, maxDeposit })
  s.gates = gates(s, oracleRound, sequencerRound)
  s.greeks = await Promise.all(
    s.openSeries.map((x) =>
      r('seriesGreeks', [x.id]).then(
        (g) => g[0],
        () => null,
      ),
    ),
  )
  s.queue = meta.queue ? await readQueue(client, config, meta, account, blockNumber) : null
  if (account) {
    const erc20 = config.abis.erc20
    const [shares, maxWithdraw, maxRedeem, assetBalance, allowance] = await Promise.all([
      r('balanceOf', [account]),
      r('maxWithdraw', [account]),
      r('maxRedeem', [account]),
      client.readContract({ address: meta.asset, abi: erc20, functionName: 'balanceOf', args: [account], blockNumber }),
      client.readContract({
        address: meta.asset,
        abi: erc20,
        functionName: 'allowance',
        args: [account, address],
        blockNumber,
      }),
    ])
    s.position = {
      account,
      shares,
      value: await r('convertToAssets', [shares]),
      maxWithdraw,
      maxRedeem,
      assetBalance,
      allowance,
    }
  }
  return s
}

/**
 * A feed's latest round at `blockNumber`; null for no feed (the zero address). A feed whose call
 * reverts or returns nothing is unusable, as the vault's own checks treat it ({ ok: false }); any
 * other error (the RPC failing) is thrown, so the refresh fails instead of blaming the feed.
 */
async function latestRound(client, feed, blockNumber) {
  if (feed === zeroAddress) return null
  try {
    const [, answer, startedAt, updatedAt] = await client.readContract({
      address: feed,
      abi: FEED_ABI,
      functionName: 'latestRoundData',
      blockNumber,
    })
    return { ok: true, answer, startedAt, updatedAt }
  } catch (err) {
    const unusable = (e) =>
      e?.name === 'ContractFunctionRevertedError' || e?.name === 'ContractFunctionZeroDataError' || e?.name === 'AbiDecodingZeroDataError'
    if (unusable(err) || err?.walk?.(unusable)) return { ok: false }
    throw err
  }
}

/**
 * Whether the vault takes deposits and pays instant exits at this block, and why not.
 *
 * The vault closes both while its NAV cannot be trusted (a price-dependent book and an oracle
 * that is stale, not positive or behind a down sequencer: RebalanceRules.oracleStatus) and while
 * an expired series waits for settlement (it is valued at its maximum payoff until then);
 * pausing closes deposits only. Its own `maxDeposit` answers for deposits. While it is not
 * paused that answer also settles exits (the same checks less the pause); while it is paused
 * the page reads the feeds and the expiries as the vault does.
 */
export function gates(s, oracleRound, sequencerRound) {
  const now = s.block.timestamp
  const t = s.thresholds
  const why = []
  const expired = s.openSeries.filter((x) => x.expiry <= now && x.size > 0n)
  if (expired.length) {
    const ids = expired.map((x) => `#${x.id}`).join(', ')
    const first = expired.reduce((a, x) => (x.expiry < a ? x.expiry : a), expired[0].expiry)
    why.push(
      expired.length > 1
        ? `series ${ids} expired (the first at ${utc(first)}) and await settlement`
        : `series ${ids} expired at ${utc(first)} and awaits settlement`,
    )
  }
  if (s.hedgeInventory !== 0n || s.openSeries.length) {
    const problem = oracleProblem(oracleRound, sequencerRound, now, t)
    if (problem) why.push(problem)
  }
  let exitsOpen = why.length === 0
  const depositsOpen = s.maxDeposit > 0n
  if (!s.paused && exitsOpen !== depositsOpen) {
    // The vault's answer wins over the page's reading of it.
    exitsOpen = depositsOpen
    why.length = 0
    if (!exitsOpen) why.push('the vault reports them closed (maxDeposit is 0 while it is not paused)')
  }
  const exits = exitsOpen ? null : why.join('; ')
  const deposits = depositsOpen ? null : [s.paused ? 'the vault is paused' : null, exits].filter(Boolean).join('; ')
  return { depositsOpen, exitsOpen, deposits, exits }
}

function oracleProblem(oracle, sequencer, now, t) {
  if (sequencer) {
    if (!sequencer.ok || sequencer.answer !== 0n || sequencer.startedAt === 0n) return 'the L2 sequencer is down'
    if (now <= sequencer.startedAt + BigInt(t.sequencerGracePeriod)) {
      return `the L2 sequencer came back at ${utc(sequencer.startedAt)}: grace period until ${utc(sequencer.startedAt + BigInt(t.sequencerGracePeriod))}`
    }
  }
  if (!oracle?.ok) return 'the price oracle does not answer'
  if (oracle.answer <= 0n) return `the price oracle's answer is ${oracle.answer}, not positive`
  // RebalanceRules.MAX_ANSWER: a larger answer would overflow the vault's pricing.
  if (oracle.answer > 2n ** 127n - 1n) return `the price oracle's answer is ${oracle.answer}, above 2^127 - 1`
  if (oracle.updatedAt > now) {
    // The vault counts a round dated after the block as stale: a broken feed, not a fresh one.
    return `the price oracle's last update is dated ${utc(oracle.updatedAt)}, after the block: the feed is broken`
  }
  if (now > oracle.updatedAt + BigInt(t.oracleHeartbeat)) {
    return `the price oracle is stale: last update ${utc(oracle.updatedAt)}, heartbeat ${t.oracleHeartbeat} s`
  }
  return null
}

//: The vault events the history is read from (their ABI comes from the built contracts).
const HISTORY_EVENTS = ['Rebalanced', 'Deposit', 'Withdraw', 'OptionWritten', 'SeriesSettled']

function events(abi) {
  return abi.filter((e) => e.type === 'event' && HISTORY_EVENTS.includes(e.name))
}

function spread(from, to, n) {
  const out = new Set()
  if (to <= from) return [to]
  const span = to - from
  for (let i = 0; i < n; i++) out.add(from + (span * BigInt(i)) / BigInt(n - 1))
  return [...out]
}

/**
 * History over the last `config.historyBlocks` blocks: the vault's events, and NAV, supply,
 * share price, net delta and band sampled at up to MAX_SAMPLES evenly spaced blocks plus the
 * blocks where something happened. A sample before the vault existed, or that the node cannot
 * serve (no archive state), is left out. The events are read in spans the node answers
 * (`getLogsInSpans`, web/src/logs.js).
 */
export async function readHistory(client, config, meta, latest) {
  const abi = config.abis.vault
  const address = meta.address
  const from = latest > BigInt(config.historyBlocks) ? latest - BigInt(config.historyBlocks) : 0n
  // In spans the node answers: a hosted node refuses a range over its block or result limit.
  const logs = await getLogsInSpans(client, { address, events: events(abi) }, from, latest)
  const first = logs.length ? logs[0].blockNumber : from
  const eventBlocks = [...new Set(logs.map((l) => l.blockNumber))]
  const picked = eventBlocks.length > MAX_EVENT_POINTS ? eventBlocks.slice(-MAX_EVENT_POINTS) : eventBlocks
  const blocks = [...new Set([...spread(first, latest, MAX_SAMPLES), ...picked])].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  )
  const samples = await Promise.all(
    blocks.map(async (blockNumber) => {
      const r = (functionName, args = []) => client.readContract({ address, abi, functionName, args, blockNumber })
      try {
        const [totalAssets, totalSupply, sharePrice, netDelta, thresholds, block] = await Promise.all([
          r('totalAssets'),
          r('totalSupply'),
          r('convertToAssets', [meta.oneShare]),
          r('netDelta'),
          r('thresholds'),
          client.getBlock({ blockNumber }),
        ])
        return { blockNumber, time: Number(block.timestamp), totalAssets, totalSupply, sharePrice, netDelta, thresholds }
      } catch {
        return null
      }
    }),
  )
  return { from, latest, logs, samples: samples.filter(Boolean) }
}

/** The most recent rebalances, each with its transaction's gas, L2 fee and L1 fee. */
export async function readRebalances(client, config, logs) {
  const topic = toEventSelector(events(config.abis.vault).find((e) => e.name === 'Rebalanced'))
  const rebalances = logs.filter((l) => l.eventName === 'Rebalanced').slice(-REBALANCES_SHOWN).reverse()
  return Promise.all(
    rebalances.map(async (log) => {
      const [receipt, block] = await Promise.all([
        client.getTransactionReceipt({ hash: log.transactionHash }),
        client.getBlock({ blockNumber: log.blockNumber }),
      ])
      const l1 = receipt.l1Fee
      const l1Fee = l1 === undefined || l1 === null ? null : BigInt(l1)
      const gasPrice = receipt.effectiveGasPrice ?? 0n
      return {
        ...log.args,
        blockNumber: log.blockNumber,
        time: Number(block.timestamp),
        hash: log.transactionHash,
        gasUsed: receipt.gasUsed,
        l2Fee: receipt.gasUsed * gasPrice,
        l1Fee,
        batchSize: receipt.logs.filter((x) => x.topics[0] === topic).length,
        status: receipt.status,
      }
    }),
  )
}
